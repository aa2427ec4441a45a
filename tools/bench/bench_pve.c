/*
 * bench-pve — CPU cost of the PVE client's pure parts:
 * upid_parse, the LXC list parser on a 2,000-guest list, the config
 * parser on the fixtures, and the form encoder.  The network side (8
 * configs in flight vs 1) is measured by bench-collect and the pve.client
 * suite.
 *
 *   bench-pve [-n ITERATIONS]
 *
 * Prints figures, not a verdict (not a test).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/json.h"
#include "pve/pve.h"
#include "pve/upid.h"

static double
now_s(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
report(const char *what, long n, double secs)
{
	printf("%-40s %10ld in %7.3f s  %12.0f /s  %8.2f us each\n", what, n,
	    secs, (double)n / secs, secs * 1e6 / (double)n);
}

static json_t *
big_list(int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		(void) json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:s,"
		    " s:f, s:i, s:I, s:I, s:I, s:I, s:s, s:s, s:i}",
		    "vmid", 100 + i, "name", "ct", "status",
		    i % 4 ? "running" : "stopped", "type", "lxc", "cpu", 0.01,
		    "cpus", 2, "maxmem", (json_int_t)2147483648LL, "mem",
		    (json_int_t)187740160, "maxdisk", (json_int_t)8350298112LL,
		    "netin", (json_int_t)9420134, "pressurecpusome", "0.00",
		    "tags", "prod;web", "uptime", 86400));
	return a;
}

static json_t *
fixture(const char *name)
{
	const char *shared = getenv("FELHOM_FIXTURE_DIR");
	char path[4096];
	json_t *root = NULL, *d;

	if (shared == NULL)
		shared = FELHOM_FIXTURE_DIR_DEFAULT;
	(void) snprintf(path, sizeof(path), "%s/pve/api/%s", shared,
	    name);
	if (jsonx_parse_file(path, 1 << 20, 0, &root, NULL) != 0)
		return NULL;
	d = json_incref(json_object_get(root, "data"));
	json_decref(root);
	return d;
}

int
main(int argc, char **argv)
{
	static const char *const upids[] = {
		"UPID:pve-01:0001E240:0A12BC40:68BF3A41:vzstart:101:"
		    "agent@pve!reconciler:",
		"UPID:example-node:000934AF:FFFFFFFFF:68BF3A41:vzdump::"
		    "root@pam:",
		"UPID:pve:0001E240:0A12BC40:68BF3A41:vzstart:101:root@pam",
	};
	struct pve_param params[] = {
		{ "description", "managed by agent\nowner: team-a & co; x=y" },
		{ "net0", "name=eth0,bridge=vmbr0,firewall=1,ip=dhcp" },
		{ "tags", "prod;web" },
		{ "memory", "2048" },
	};
	struct pve_lxc_config cfg;
	struct pve_guests g;
	struct upid u;
	json_t *list, *c1, *c2;
	long n = 200000, i;
	char *form;
	double t;
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n' || (n = strtol(optarg, NULL, 10)) < 1) {
			fprintf(stderr, "usage: bench-pve [-n ITERATIONS]\n");
			return 64;
		}
	}
	t = now_s();
	for (i = 0; i < n; i++)
		(void) upid_parse_str(upids[i % 3], &u, NULL);
	report("upid_parse (2 valid : 1 invalid)", n, now_s() - t);

	list = big_list(2000);
	t = now_s();
	for (i = 0; i < 50; i++) {
		if (pve_parse_guests(list, &g, NULL) != 0)
			return 70;
		pve_guests_reset(&g);
	}
	report("pve_parse_guests, 2000 guests", 50, now_s() - t);

	c1 = fixture("lxc-config.pve9.constructed.json");
	c2 = fixture("lxc-config.raw-lxc-keys-bindmount.json");
	if (c1 == NULL || c2 == NULL) {
		fprintf(stderr, "bench-pve: fixtures not found (set "
		    "FELHOM_FIXTURE_DIR)\n");
		return 66;
	}
	t = now_s();
	for (i = 0; i < n / 4; i++) {
		if (pve_parse_lxc_config(i % 2 ? c1 : c2, &cfg, NULL) != 0)
			return 70;
		pve_lxc_config_reset(&cfg);
	}
	report("pve_parse_lxc_config (fixtures)", n / 4, now_s() - t);

	t = now_s();
	for (i = 0; i < n; i++) {
		if (pve_form_encode(params, 4, &form, NULL) != 0)
			return 70;
		free(form);
	}
	report("pve_form_encode (4 params)", n, now_s() - t);
	json_decref(list);
	json_decref(c1);
	json_decref(c2);
	return 0;
}
