/*
 * fuzz_priv — libFuzzer target for felhom-privhelper's requests (R-08;
 * src/priv/helper.h): the bytes as they arrive on the helper's socket,
 * through the helper's own frame decoder (wire_reader_space/put, what
 * wire_read feeds) and helper_prepare — JSON, the fixed request table,
 * every field through priv/policy, the programs' argv — which starts
 * nothing: helper_run, the half that spawns, is never called.
 *
 * The helper's configuration is fixed: bind roots /usr and /tmp, vmids
 * 100 to 999999999, a sysfs root that does not exist (so a USB id never
 * resolves and the target reads no device), tools at their real paths.
 *
 * Invariants: a refusal names its cause and is never "out of memory"
 * or an internal error; an accepted request runs one of the configured
 * tools with at most HELPER_ARGV_MAX-sized argv, pct on a vmid inside
 * the configured range, and never hands a positional argument that
 * starts with '-' (it would read as an option).
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "fuzz.h"
#include "priv/helper.h"
#include "priv/wire.h"

#define VMID_MIN	100
#define VMID_MAX	999999999

/* Set up once: the target's fixed helper configuration. */
static struct helper_config *
config(void)
{
	static struct helper_config hc;
	static int ready;

	if (ready)
		return &hc;
	memset(&hc, 0, sizeof(hc));
	if (policy_init(&hc.policy, "/usr,/tmp", VMID_MIN, VMID_MAX,
	    "/nonexistent/felhom-fuzz-sysfs", NULL) != 0 ||
	    (hc.pct = strdup("/usr/sbin/pct")) == NULL ||
	    (hc.pvesm = strdup("/usr/sbin/pvesm")) == NULL ||
	    (hc.smartctl = strdup("/usr/sbin/smartctl")) == NULL ||
	    (hc.sensors = strdup("/usr/bin/sensors")) == NULL)
		abort();
	hc.timeout_ms = 1000;
	ready = 1;
	return &hc;
}

/* The frame in data: 0 and its body (caller frees), or the decoder's code. */
static int
decode(const uint8_t *data, size_t size, char **body, size_t *len,
    struct err *err)
{
	struct wire_reader r;
	unsigned char *buf;
	size_t want, off = 0;
	int done = 0, rc;

	wire_reader_init(&r, WIRE_REQUEST_MAX);
	while (!done) {
		wire_reader_space(&r, &buf, &want);
		if (want > size - off)
			want = size - off;
		if (want == 0) {
			wire_reader_reset(&r);
			return err_set(err, ERR_TRUNCATED, "frame ends early");
		}
		memcpy(buf, data + off, want);
		off += want;
		if ((rc = wire_reader_put(&r, want, &done, err)) != 0) {
			wire_reader_reset(&r);
			return rc;
		}
	}
	*body = wire_reader_take(&r, len);
	return 0;
}

static int
is_tool(const struct helper_config *hc, const char *a)
{
	return strcmp(a, hc->pct) == 0 || strcmp(a, hc->pvesm) == 0 ||
	    strcmp(a, hc->smartctl) == 0 || strcmp(a, hc->sensors) == 0;
}

/* The invariants of an accepted request's argv. */
static void
check_argv(const struct helper_config *hc, const char *const *v, size_t n,
    int type)
{
	char *end;
	long long vmid;
	size_t i;

	FUZZ_ASSERT(n >= 1 && v[n] == NULL && is_tool(hc, v[0]));
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(v[i] != NULL && v[i][0] != '\0');
	if (strcmp(v[0], hc->pct) == 0) {
		FUZZ_ASSERT(n >= 3);
		FUZZ_ASSERT(strcmp(v[1], "create") == 0 ||
		    strcmp(v[1], "restore") == 0 || strcmp(v[1], "set") == 0);
		vmid = strtoll(v[2], &end, 10);
		FUZZ_ASSERT(*end == '\0' && vmid >= VMID_MIN &&
		    vmid <= VMID_MAX);
		/* create/restore VMID ARCHIVE: never an option. */
		if (strcmp(v[1], "set") != 0)
			FUZZ_ASSERT(n >= 4 && v[3][0] != '-');
	} else if (type == WIRE_REQ_SMART) {
		FUZZ_ASSERT(n == 4 && strncmp(v[3], "/dev/", 5) == 0);
	} else if (strcmp(v[0], hc->pvesm) == 0) {
		FUZZ_ASSERT(n == 3 && v[2][0] != '-');
	}
}

int
fuzz_priv_request(const uint8_t *data, size_t size)
{
	const struct helper_config *hc = config();
	struct helper_summary sum;
	struct helper_plan *plan = NULL;
	const char *const *v;
	struct err err;
	char *body = NULL;
	size_t len = 0, n;
	int rc, type;

	err_init(&err);
	memset(&sum, 0, sizeof(sum));
	if ((rc = decode(data, size, &body, &len, &err)) == 0)
		rc = helper_prepare(hc, body, len, &plan, &sum, &err);
	free(body);
	if (rc != 0) {
		FUZZ_ASSERT(plan == NULL);
		FUZZ_ASSERT(rc != ERR_NOMEM && rc != ERR_INTERNAL);
		FUZZ_ASSERT(err.code == rc && err.msg[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(plan != NULL && sum.what[0] != '\0');
	type = helper_plan_type(plan);
	FUZZ_ASSERT(type >= 0 && type < WIRE_REQ__COUNT);
	FUZZ_ASSERT(strcmp(sum.type, wire_req_name((enum wire_req)type)) == 0);
	v = helper_plan_argv(plan, 0, &n);
	check_argv(hc, v, n, type);
	v = helper_plan_argv(plan, 1, &n);
	FUZZ_ASSERT((n > 0) == (type == WIRE_REQ_RESTORE));
	if (n > 0)
		check_argv(hc, v, n, type);
	helper_plan_free(plan);
	return 0;
}
