/*
 * fuzz_hub — libFuzzer targets for what the hub sends (R-16, R-20 ..
 * R-22; hub-contract.md): the control envelope of POST /report, the
 * desired state (GET /desired, or desired_file in standalone mode) and
 * the signed-ops list (GET /signed-ops).
 *
 * The input is the answer body.  It goes through the strict JSON loader
 * with the client's own cap and flags (hub.c hub_json: HUB_BODY_CAP,
 * duplicate keys refused), then through the contract parser.  The
 * signed-ops target goes on as the intake does: each well-formed entry's
 * blob to the op-blob parser and its signature to the SSHSIG parser.
 *
 * Invariants: a refusal says why, never ERR_NOMEM; an accepted entry has
 * its blob decoded from canonical base64 (re-encoding gives the text
 * received, so no two texts carry one blob) or is marked bad, never
 * both.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "authz/opblob.h"
#include "authz/sshsig.h"
#include "base/err.h"
#include "base/json.h"
#include "fuzz.h"
#include "hub/hub.h"

/* The host the desired fixture is for (tests/fixtures/hub). */
#define FUZZ_HOST_ID	"pve-01"

#define REFUSED(rc, err) \
	FUZZ_ASSERT((rc) == 0 || ((err).code == (rc) && (rc) != ERR_NOMEM))

/* The body as hub_json() loads it; NULL when the loader refuses it. */
static json_t *
load(const uint8_t *data, size_t size)
{
	struct err err;
	json_t *doc = NULL;
	int rc;

	err_init(&err);
	rc = jsonx_parse((const char *)data, size, HUB_BODY_CAP,
	    JSONX_DUPLICATES, "fuzz", &doc, &err);
	REFUSED(rc, err);
	return rc == 0 ? doc : NULL;
}

int
fuzz_hub_envelope(const uint8_t *data, size_t size)
{
	struct hub_envelope env;
	struct err err;
	json_t *doc;
	int rc;

	if ((doc = load(data, size)) == NULL)
		return 0;
	err_init(&err);
	memset(&env, 0, sizeof(env));
	rc = hub_envelope_parse(doc, &env, &err);
	REFUSED(rc, err);
	if (rc == 0)
		FUZZ_ASSERT((!env.has_desired_generation ||
		    env.desired_generation >= 0) && (!env.has_audit_ack_seq ||
		    env.audit_ack_seq >= 0));
	else
		FUZZ_ASSERT(err.reason == HUB_E_PROTOCOL);
	json_decref(doc);
	return 0;
}

int
fuzz_hub_desired(const uint8_t *data, size_t size)
{
	struct err err;
	json_t *doc;
	int64_t gen = -1;
	int rc;

	if ((doc = load(data, size)) == NULL)
		return 0;
	err_init(&err);
	rc = hub_desired_check(doc, FUZZ_HOST_ID, 0, &gen, &err);
	REFUSED(rc, err);
	if (rc == 0)
		FUZZ_ASSERT(gen >= 0);
	else
		FUZZ_ASSERT(err.reason == HUB_E_PROTOCOL);
	json_decref(doc);
	return 0;
}

/* The intake's first steps on one accepted entry. */
static void
signed_op(const struct hub_signed_op *e)
{
	struct opblob *b = NULL;
	struct sshsig *sig = NULL;
	struct err err;
	char *b64;
	int n, rc;

	FUZZ_ASSERT(e->blob_b64 != NULL);
	if (e->bad != NULL) {
		FUZZ_ASSERT(e->blob == NULL && e->blob_len == 0);
		return;
	}
	FUZZ_ASSERT(e->blob != NULL && e->blob_len > 0);
	/* Canonical: the one text that encodes these bytes. */
	FUZZ_ASSERT(e->blob_len <= INT32_MAX / 2);
	b64 = malloc(e->blob_len / 3 * 4 + 5);
	FUZZ_ASSERT(b64 != NULL);
	n = EVP_EncodeBlock((unsigned char *)b64, e->blob,
	    (int)e->blob_len);
	FUZZ_ASSERT(n >= 0 && strcmp(b64, e->blob_b64) == 0);
	free(b64);

	err_init(&err);
	rc = opblob_parse(e->blob, e->blob_len, &b, &err);
	REFUSED(rc, err);
	opblob_free(b);
	if (e->signature != NULL) {
		err_init(&err);
		rc = sshsig_parse(e->signature, strlen(e->signature), &sig,
		    &err);
		REFUSED(rc, err);
		sshsig_free(sig);
	}
}

int
fuzz_hub_signed_ops(const uint8_t *data, size_t size)
{
	struct hub_signed_ops ops = { NULL, 0 };
	struct err err;
	json_t *doc;
	size_t i;
	int rc;

	if ((doc = load(data, size)) == NULL)
		return 0;
	err_init(&err);
	rc = hub_signed_ops_parse(doc, &ops, &err);
	REFUSED(rc, err);
	if (rc == 0) {
		FUZZ_ASSERT(ops.n == json_array_size(json_object_get(doc,
		    "ops")));
		for (i = 0; i < ops.n; i++)
			signed_op(&ops.ops[i]);
	}
	hub_signed_ops_reset(&ops);
	json_decref(doc);
	return 0;
}
