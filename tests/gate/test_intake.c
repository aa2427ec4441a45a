/*
 * test_intake — signatures reaching the gate, with real ssh-keygen keys
 * (R-11, R-15, R-27 … R-30): signed jobs, unsigned jobs, approvals of
 * pending ops through the inbox and through gate_approve; each
 * rejection with its code, audited, the nonce table unchanged; replays,
 * also across a restart; role scope; binding; hub provenance claims;
 * rotations that take effect for the next verification; `blocked`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <sqlite3.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz_tu.h"
#include "base/config.h"
#include "base/log.h"
#include "engine/gate.h"
#include "engine/intake.h"
#include "engine/sm.h"
#include "etu.h"
#include "fake_exec.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/inbox.h"
#include "store/journal.h"
#include "store/nonces.h"
#include "store/ops.h"
#include "store/provenance.h"
#include "store/signers_db.h"
#include "testutil.h"

#define NOW	1795854600		/* 2026-11-28T08:30:00Z */
#define HOST	"pve-01"
#define NS	"felhom-op-v1"

static char *dir;
static struct db *db;
static struct fake fk;
static struct gate *gate;
static char *line_alice, *line_rec, *line_eve, *line_new;

static void
gate_open_skew(int64_t skew)
{
	struct gate_config gc;
	struct err err;

	gate_free(gate);
	gate = NULL;
	memset(&gc, 0, sizeof(gc));
	gc.host_id = HOST;
	gc.clock_skew_s = skew;
	gc.max_window_s = 86400;
	gc.sign_request_ttl_s = 3600;
	err_init(&err);
	ck_assert_msg(gate_new(db, &gc, &fk.clock, &fk.exec, &gate, &err) == 0,
	    "gate_new: %s", err_msg(&err));
}

static void
gate_open(void)
{
	gate_open_skew(120);
}

static void
seed(void)
{
	struct signers *set = signers_new();
	struct signers_entry *e = NULL;
	char line[4200];
	int seeded = 0;

	(void) snprintf(line, sizeof(line), "alice@ops namespaces=\"" NS
	    "\" %s", line_alice);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "test", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, NULL), 0);
	ck_assert_int_eq(signers_add(set, e, NULL), 0);
	(void) snprintf(line, sizeof(line), "rec@ops %s", line_rec);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "test", 1,
	    SIGNERS_ROLE_RECOVERY, 0, &e, NULL), 0);
	ck_assert_int_eq(signers_add(set, e, NULL), 0);
	ck_assert_int_eq(signers_seed_db(db, set, "file:ops", "file:rec", NOW,
	    &seeded, NULL), 0);
	ck_assert_int_eq(seeded, 1);
	signers_free(set);
}

static void
setup_common(int with_signers)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_eq(atu_keygen(dir, "alice", "ed25519", 0, &line_alice),
	    0);
	ck_assert_int_eq(atu_keygen(dir, "rec", "ed25519", 0, &line_rec), 0);
	ck_assert_int_eq(atu_keygen(dir, "eve", "ed25519", 0, &line_eve), 0);
	ck_assert_int_eq(atu_keygen(dir, "new", "ecdsa", 256, &line_new), 0);
	db = etu_db_open(dir);
	fake_init(&fk, NOW);
	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "running", NULL));
	ck_assert_ptr_nonnull(fake_guest_add(&fk, 103, "running", NULL));
	if (with_signers)
		seed();
	gate_open();
}

static void
setup(void)
{
	setup_common(1);
}

static void
setup_no_signers(void)
{
	setup_common(0);
}

static void
teardown(void)
{
	gate_free(gate);
	gate = NULL;
	db_close(db);
	db = NULL;
	fake_reset(&fk);
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	free(line_alice);
	free(line_rec);
	free(line_eve);
	free(line_new);
	line_alice = line_rec = line_eve = line_new = NULL;
}

/* A restart: the database and the gate are opened again. */
static void
restart(void)
{
	gate_free(gate);
	gate = NULL;
	db_close(db);
	db = etu_db_open(dir);
	gate_open();
}

/* ---- blobs, signatures, inbox ----------------------------------------- */

static char *
blob_make(const char *op, const char *host, int64_t guest,
    const char *params, int64_t nb, int64_t na)
{
	struct opblob_spec spec;
	struct err err;
	json_t *p = json_loads(params, 0, NULL);
	char *out = NULL;
	size_t len;

	ck_assert_ptr_nonnull(p);
	memset(&spec, 0, sizeof(spec));
	spec.op = opblob_kind_from_name(op);
	spec.host_id = host;
	spec.has_guest = guest > 0;
	spec.guest_id = guest;
	spec.params = p;
	spec.not_before = nb;
	spec.not_after = na;
	err_init(&err);
	ck_assert_msg(opblob_make(&spec, &out, &len, &err) == 0, "opblob_make:"
	    " %s", err_msg(&err));
	json_decref(p);
	return out;
}

/* A blob that is valid now for 1 h. */
static char *
blob_now(const char *op, int64_t guest, const char *params)
{
	return blob_make(op, HOST, guest, params, NOW - 60, NOW + 3600);
}

static char *
sign(const char *key, const char *blob)
{
	char *sig = atu_sign(dir, key, NS, NULL, blob, strlen(blob));

	ck_assert_ptr_nonnull(sig);
	return sig;
}

static int64_t
inbox_put(const char *op_ref, const void *blob, size_t len, const char *sig)
{
	struct inbox_entry e;
	int64_t id = 0;

	memset(&e, 0, sizeof(e));
	e.received_at = NOW;
	e.op_ref = op_ref;
	e.blob = blob;
	e.blob_len = len;
	e.signature = sig;
	ck_assert_int_eq(inbox_add(db, &e, &id, NULL), 0);
	return id;
}

static struct intake_stats
run(void)
{
	struct intake_stats st;
	struct err err;

	err_init(&err);
	ck_assert_msg(intake_run(gate, 0, &st, &err) == 0, "intake_run: %s",
	    err_msg(&err));
	return st;
}

static int64_t
nonces(void)
{
	int64_t n = -1;

	ck_assert_int_eq(nonces_count(db, &n, NULL), 0);
	return n;
}

static int64_t
count_ops(const char *state)
{
	int64_t n = -1;

	ck_assert_int_eq(ops_count(db, state, &n, NULL), 0);
	return n;
}

static int64_t
inbox_in(const char *state)
{
	int64_t n = -1;

	ck_assert_int_eq(inbox_count(db, state, &n, NULL), 0);
	return n;
}

/* 1 when an audit row has this event and code. */
static int
audited(const char *event, const char *code)
{
	json_t *arr = NULL, *o;
	size_t i;
	int found = 0;

	ck_assert_int_eq(audit_since(db, 0, 100000, &arr, NULL), 0);
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "event")),
		    event) == 0 && strcmp(json_string_value(json_object_get(o,
		    "code")), code) == 0)
			found = 1;
	json_decref(arr);
	return found;
}

/* The newest op (highest id), or NULL. */
static struct ops_row *
last_op(void)
{
	struct ops_row *op = NULL;
	int64_t n = count_ops(NULL);

	if (n == 0)
		return NULL;
	ck_assert_int_eq(ops_get(db, n, &op, NULL), 0);
	return op;
}

/* An unsigned destructive job made pending; returns its uid (heap). */
static char *
pending_destroy(int64_t vmid)
{
	char *b = blob_now("destroy", vmid, "{\"purge\":true}");
	struct ops_row *op;
	char *uid;

	inbox_put(NULL, b, strlen(b), NULL);
	ck_assert_uint_eq(run().pending, 1);
	op = last_op();
	ck_assert_str_eq(op->state, "pending_signature");
	uid = strdup(op->uid);
	ops_row_free(op);
	free(b);
	return uid;
}

/* The pending op's own sign request (heap, NUL-terminated). */
static char *
sign_request(const char *uid)
{
	struct ops_row *op = NULL;
	uint8_t *blob = NULL;
	size_t len;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	ck_assert_int_eq(ops_get_blob(db, op->id, &blob, &len, NULL), 0);
	ops_row_free(op);
	return (char *)blob;
}

static const char *
op_state(const char *uid)
{
	static char state[OPS_STATE_MAX];
	struct ops_row *op = NULL;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	(void) snprintf(state, sizeof(state), "%s", op->state);
	ops_row_free(op);
	return state;
}

/* ---- signed jobs ------------------------------------------------------ */

START_TEST(intake_signed_destroy_is_authorized_with_its_nonce)
{
	char *b = blob_now("destroy", 103, "{\"purge\":true}");
	char *s = sign("alice", b);
	struct intake_stats st;
	struct opblob *pb = NULL;
	struct ops_row *op;
	int64_t id;

	inbox_put(NULL, b, strlen(b), s);
	st = run();
	ck_assert_uint_eq(st.entries, 1);
	ck_assert_uint_eq(st.authorized, 1);
	ck_assert_int_eq(nonces(), 1);
	op = last_op();
	ck_assert_str_eq(op->state, "authorized");
	ck_assert_int_eq(op->source, OPS_SOURCE_SIGNED);
	ck_assert_int_eq(op->class, OPS_CLASS_DESTRUCTIVE);
	ck_assert_int_eq(op->vmid, 103);
	/* The idempotency key is the nonce (signed-ops.md). */
	ck_assert_int_eq(opblob_parse(b, strlen(b), &pb, NULL), 0);
	ck_assert_str_eq(op->idem_key, pb->nonce);
	ck_assert_int_eq(ops_find_key(db, pb->nonce, &id, NULL), 0);
	ck_assert_int_eq(id, op->id);
	ck_assert(audited("gate", "destructive"));
	ck_assert(audited("gate", "accepted"));
	ck_assert_int_eq(inbox_in(INBOX_TAKEN), 1);
	opblob_free(pb);
	ops_row_free(op);
	free(b);
	free(s);
}
END_TEST

START_TEST(intake_replay_is_rejected_also_across_a_restart)
{
	char *b = blob_now("destroy", 103, "{\"purge\":true}");
	char *s = sign("alice", b);
	struct intake_stats st;

	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().authorized, 1);
	inbox_put(NULL, b, strlen(b), s);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert(audited("verify", "replay"));
	restart();
	inbox_put(NULL, b, strlen(b), s);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_int_eq(nonces(), 1);
	ck_assert_int_eq(count_ops(NULL), 1);
	ck_assert_int_eq(inbox_in(INBOX_REJECTED), 2);
	free(b);
	free(s);
}
END_TEST

START_TEST(intake_prunes_a_nonce_only_after_its_expiry)
{
	char *b = blob_make("destroy", HOST, 103, "{\"purge\":true}",
	    NOW - 60, NOW + 600);
	char *s = sign("alice", b);

	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().authorized, 1);
	ck_assert_int_eq(nonces(), 1);
	/*
	 * R-15 (issue 10, hole 4): kept past this process's own skew of
	 * 120 s, up to not_after + the largest skew any configuration may
	 * hold, so a process with a larger skew (felhom-admin approve, or
	 * this one after a change) still sees a replay ...
	 */
	fk.now = NOW + 600 + 121;
	run();
	ck_assert_int_eq(nonces(), 1);
	gate_open_skew(CONFIG_CLOCK_SKEW_MAX_S);
	fk.now = NOW + 600 + CONFIG_CLOCK_SKEW_MAX_S;
	run();
	ck_assert_int_eq(nonces(), 1);
	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().rejected, 1);
	ck_assert(audited("verify", "replay"));
	/* ... and pruned after it, when no process accepts the blob. */
	fk.now = NOW + 600 + CONFIG_CLOCK_SKEW_MAX_S + 1;
	run();
	ck_assert_int_eq(nonces(), 0);
	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().rejected, 1);
	ck_assert(audited("verify", "expired"));
	ck_assert_int_eq(count_ops(NULL), 1);
	free(b);
	free(s);
}
END_TEST

START_TEST(intake_signed_benign_job_consumes_its_nonce)
{
	char *b = blob_now("start", 101, "{}");
	char *s = sign("alice", b);
	struct ops_row *op;

	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().authorized, 1);
	op = last_op();
	ck_assert_str_eq(op->state, "authorized");
	ck_assert_int_eq(op->class, OPS_CLASS_BENIGN);
	ck_assert_int_eq(nonces(), 1);
	ck_assert(audited("gate", "accepted"));
	ops_row_free(op);
	free(b);
	free(s);
}
END_TEST

/* Signed jobs each rejected with its code, nothing left behind. */
struct rcase {
	const char	*key;		/* signer */
	const char	*op;
	const char	*host;
	int64_t		 guest;
	const char	*params;
	int64_t		 nb;
	int64_t		 na;
	const char	*code;
};

static const struct rcase rcases[] = {
	{ "eve", "destroy", HOST, 103, "{\"purge\":true}", NOW - 60, NOW + 600,
	    "unknown_signer" },
	{ "alice", "destroy", HOST, 103, "{\"purge\":true}", NOW - 7200,
	    NOW - 3600, "expired" },
	{ "alice", "destroy", HOST, 103, "{\"purge\":true}", NOW + 3600,
	    NOW + 7200, "not_yet_valid" },
	{ "alice", "destroy", "pve-02", 103, "{\"purge\":true}", NOW - 60,
	    NOW + 600, "wrong_host" },
	{ "alice", "rotate_signers", HOST, 103, "{\"kind\":\"planned\","
	    "\"operational\":[]}", NOW - 60, NOW + 600, "wrong_guest" },
	{ "rec", "destroy", HOST, 103, "{\"purge\":true}", NOW - 60, NOW + 600,
	    "role_denied" },
	{ "alice", "rotate_signers", HOST, 0, "{\"kind\":\"recovery\","
	    "\"operational\":[]}", NOW - 60, NOW + 600, "role_denied" },
	{ "alice", "destroy", HOST, 103, "{\"purge\":true}", NOW - 60,
	    NOW + 86400 * 2, "window_too_long" },
};

START_TEST(intake_signed_job_rejections)
{
	const struct rcase *c = &rcases[_i];
	char *b = blob_make(c->op, c->host, c->guest, c->params, c->nb, c->na);
	char *s = sign(c->key, b);
	struct intake_stats st;

	inbox_put(NULL, b, strlen(b), s);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_msg(audited("verify", c->code), "case %d: no audit row "
	    "with code %s", _i, c->code);
	/* a rejection leaves no trace in the nonce store. */
	ck_assert_int_eq(nonces(), 0);
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_int_eq(inbox_in(INBOX_REJECTED), 1);
	free(b);
	free(s);
}
END_TEST

START_TEST(intake_each_entry_is_independent)
{
	char *good = blob_now("destroy", 103, "{\"purge\":true}");
	char *gs = sign("alice", good);
	char *bad = blob_now("destroy", 101, "{\"purge\":true}");
	char *bs = sign("eve", bad);
	struct intake_stats st;

	inbox_put(NULL, "not json", 8, NULL);
	inbox_put(NULL, bad, strlen(bad), bs);
	inbox_put(NULL, good, strlen(good), gs);
	inbox_put(NULL, bad, strlen(bad), "garbage");
	st = run();
	ck_assert_uint_eq(st.entries, 4);
	ck_assert_uint_eq(st.rejected, 3);
	ck_assert_uint_eq(st.authorized, 1);
	ck_assert(audited("verify", "bad_blob"));
	ck_assert(audited("verify", "unknown_signer"));
	ck_assert(audited("verify", "bad_armor"));
	ck_assert_int_eq(nonces(), 1);
	ck_assert_int_eq(inbox_in(INBOX_NEW), 0);
	free(good);
	free(gs);
	free(bad);
	free(bs);
}
END_TEST

/*
 * issue 15: the signed jobs the hub delivered together are decided in
 * one transaction, one commit — each with its own verdict: a replay
 * inside the same delivery is still refused (its nonce is seen in the
 * transaction), a bad signature still rejected and audited, and the
 * ones accepted are authorized, not run, before the commit.
 */
START_TEST(intake_signed_jobs_delivered_together_commit_once)
{
	char *d = blob_now("destroy", 103, "{\"purge\":true}");
	char *ds = sign("alice", d);
	char *e = blob_now("destroy", 101, "{\"purge\":true}");
	char *es = sign("eve", e);
	char *b = blob_now("start", 101, "{}");
	char *bs = sign("alice", b);
	struct intake_stats st;
	int commits = 0;

	inbox_put(NULL, d, strlen(d), ds);
	inbox_put(NULL, e, strlen(e), es);
	inbox_put(NULL, d, strlen(d), ds);	/* served twice: a replay */
	inbox_put(NULL, b, strlen(b), bs);
	(void) sqlite3_wal_hook(db_handle(db), tu_count_commits, &commits);
	st = run();
	(void) sqlite3_wal_autocheckpoint(db_handle(db), 1000);
	ck_assert_int_eq(commits, 1);
	ck_assert_uint_eq(st.entries, 4);
	ck_assert_uint_eq(st.authorized, 2);
	ck_assert_uint_eq(st.rejected, 2);
	ck_assert(audited("verify", "replay"));
	ck_assert(audited("verify", "unknown_signer"));
	ck_assert_int_eq(nonces(), 2);
	ck_assert_int_eq(count_ops("authorized"), 2);
	ck_assert_int_eq(count_ops(NULL), 2);
	ck_assert_int_eq(inbox_in(INBOX_TAKEN), 2);
	ck_assert_int_eq(inbox_in(INBOX_REJECTED), 2);
	ck_assert_int_eq(fk.submits, 0);	/* nothing ran */
	free(d);
	free(ds);
	free(e);
	free(es);
	free(b);
	free(bs);
}
END_TEST

START_TEST(intake_waits_while_blocked)
{
	char *b = blob_now("start", 101, "{}");
	struct intake_stats st;

	inbox_put(NULL, b, strlen(b), NULL);
	ck_assert_int_eq(intake_run(gate, 1, &st, NULL), 0);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_int_eq(inbox_in(INBOX_NEW), 1);
	ck_assert_int_eq(count_ops(NULL), 0);
	ck_assert_uint_eq(run().authorized, 1);
	free(b);
}
END_TEST

/* ---- unsigned jobs ---------------------------------------------------- */

START_TEST(intake_unsigned_destructive_job_waits_with_its_own_blob)
{
	char *b = blob_now("destroy", 103, "{\"purge\":true}");
	struct ops_row *op;
	char *req;

	inbox_put(NULL, b, strlen(b), NULL);
	ck_assert_uint_eq(run().pending, 1);
	op = last_op();
	ck_assert_str_eq(op->state, "pending_signature");
	ck_assert_int_eq(op->source, OPS_SOURCE_REQUEST);
	ck_assert_int_eq(op->blob_not_after, NOW + 3600);
	/* The sign request is the hub's blob, byte for byte. */
	req = sign_request(op->uid);
	ck_assert_str_eq(req, b);
	ck_assert(audited("gate", "unsigned_destructive"));
	ck_assert_int_eq(nonces(), 0);
	/* Delivered twice: one op. */
	inbox_put(NULL, b, strlen(b), NULL);
	ck_assert_uint_eq(run().rejected, 1);
	ck_assert_int_eq(count_ops(NULL), 1);
	free(req);
	ops_row_free(op);
	free(b);
}
END_TEST

START_TEST(intake_unsigned_benign_job_runs)
{
	char *b = blob_now("snapshot", 101, "{\"name\":\"nightly\"}");
	struct ops_row *op;

	inbox_put(NULL, b, strlen(b), NULL);
	ck_assert_uint_eq(run().authorized, 1);
	op = last_op();
	ck_assert_str_eq(op->state, "authorized");
	ck_assert_int_eq(op->class, OPS_CLASS_BENIGN);
	ck_assert_int_eq(nonces(), 0);
	ops_row_free(op);
	free(b);
}
END_TEST

START_TEST(intake_unsigned_job_is_validated_like_any_other)
{
	char *other = blob_make("start", "pve-02", 101, "{}", NOW - 60,
	    NOW + 600);
	char *old = blob_make("start", HOST, 101, "{}", NOW - 7200,
	    NOW - 3600);
	char *noguest = blob_make("destroy", HOST, 0, "{\"purge\":true}",
	    NOW - 60, NOW + 600);

	inbox_put(NULL, other, strlen(other), NULL);
	inbox_put(NULL, old, strlen(old), NULL);
	inbox_put(NULL, noguest, strlen(noguest), NULL);
	ck_assert_uint_eq(run().rejected, 3);
	ck_assert(audited("verify", "wrong_host"));
	ck_assert(audited("verify", "expired"));
	ck_assert(audited("verify", "wrong_guest"));
	ck_assert_int_eq(count_ops(NULL), 0);
	free(other);
	free(old);
	free(noguest);
}
END_TEST

START_TEST(intake_hub_provenance_claims_are_ignored)
{
	/* A params claim is refused by the strict parser ... */
	const char *claim = "{\"schema\":\"felhom.op/v1\",\"op\":\"destroy\","
	    "\"host_id\":\"pve-01\",\"guest_id\":103,\"params\":"
	    "{\"purge\":true,\"scratch\":true},\"nonce\":"
	    "\"0123456789abcdef0123456789abcdef\","
	    "\"not_before\":\"2026-11-28T08:00:00Z\",\"not_after\":"
	    "\"2026-11-28T09:00:00Z\"}";
	/* ... and a top-level one too. */
	const char *top = "{\"schema\":\"felhom.op/v1\",\"op\":\"destroy\","
	    "\"host_id\":\"pve-01\",\"guest_id\":103,\"params\":"
	    "{\"purge\":true},\"provenance\":\"agent\",\"nonce\":"
	    "\"0123456789abcdef0123456789abcdee\",\"not_before\":"
	    "\"2026-11-28T08:00:00Z\",\"not_after\":\"2026-11-28T09:00:00Z\"}";
	char *plain = blob_now("destroy", 103, "{\"purge\":true}");
	char *ours = blob_now("destroy", 9000, "{\"purge\":true}");
	struct ops_row *op;

	inbox_put(NULL, claim, strlen(claim), NULL);
	inbox_put(NULL, top, strlen(top), NULL);
	ck_assert_uint_eq(run().rejected, 2);
	ck_assert(audited("verify", "bad_blob"));
	/* Still gated: the same destroy without the claim waits. */
	inbox_put(NULL, plain, strlen(plain), NULL);
	ck_assert_uint_eq(run().pending, 1);
	/* Only the agent's own table makes a destroy benign. */
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(provenance_record(db, PROVENANCE_GUEST, 9000, NULL,
	    0, NOW, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	inbox_put(NULL, ours, strlen(ours), NULL);
	ck_assert_uint_eq(run().authorized, 1);
	op = last_op();
	ck_assert_int_eq(op->vmid, 9000);
	ck_assert_str_eq(op->state, "authorized");
	ops_row_free(op);
	free(plain);
	free(ours);
}
END_TEST

/* ---- approvals -------------------------------------------------------- */

START_TEST(intake_approval_through_the_hub_authorizes_once)
{
	char *uid = pending_destroy(103);
	char *req = sign_request(uid);
	char *s = sign("alice", req);
	struct intake_stats st;

	inbox_put(uid, req, strlen(req), s);
	st = run();
	ck_assert_uint_eq(st.authorized, 1);
	ck_assert_str_eq(op_state(uid), "authorized");
	ck_assert_int_eq(nonces(), 1);
	ck_assert(audited("gate", "accepted"));
	ck_assert_int_eq(inbox_in(INBOX_TAKEN), 2);
	/* The same approval again: a replay, the op unchanged. */
	inbox_put(uid, req, strlen(req), s);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert(audited("verify", "replay"));
	ck_assert_int_eq(nonces(), 1);
	free(uid);
	free(req);
	free(s);
}
END_TEST

/* Approvals that do not bind, or are not allowed, are rejected. */
struct acase {
	const char	*key;
	const char	*op;		/* NULL: the op's own sign request */
	int64_t		 guest;
	const char	*params;
	const char	*code;
};

static const struct acase acases[] = {
	{ "alice", "destroy", 103, "{\"purge\":false}", "binding_mismatch" },
	{ "alice", "stop", 103, "{\"mode\":\"stop\"}", "binding_mismatch" },
	{ "alice", "destroy", 101, "{\"purge\":true}", "wrong_guest" },
	{ "rec", NULL, 0, NULL, "role_denied" },
	{ "eve", NULL, 0, NULL, "unknown_signer" },
};

START_TEST(intake_approval_rejections_keep_the_op_pending)
{
	const struct acase *c = &acases[_i];
	char *uid = pending_destroy(103);
	char *b = c->op != NULL ? blob_now(c->op, c->guest, c->params) :
	    sign_request(uid);
	char *s = sign(c->key, b);
	json_t *rows = NULL, *last;

	inbox_put(uid, b, strlen(b), s);
	ck_assert_uint_eq(run().rejected, 1);
	ck_assert_str_eq(op_state(uid), "pending_signature");
	ck_assert_int_eq(nonces(), 0);
	ck_assert_msg(audited("gate", c->code), "case %d: no gate audit with "
	    "%s", _i, c->code);
	/* Recorded against the op: signature_rejected in its journal. */
	ck_assert_int_eq(journal_list(db, 1, &rows, NULL), 0);
	last = json_array_get(rows, json_array_size(rows) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(last, "event")),
	    "signature_rejected");
	json_decref(rows);
	free(uid);
	free(b);
	free(s);
}
END_TEST

START_TEST(intake_approval_of_nothing_is_rejected)
{
	char *uid = pending_destroy(103);
	char *req = sign_request(uid);
	char *s = sign("alice", req);

	inbox_put("op-0000000000000000", req, strlen(req), s);
	inbox_put(uid, req, strlen(req), NULL);
	ck_assert_uint_eq(run().rejected, 2);
	ck_assert(audited("verify", "unknown_op"));
	ck_assert(audited("gate", "bad_armor"));
	ck_assert_str_eq(op_state(uid), "pending_signature");
	ck_assert_int_eq(nonces(), 0);
	free(uid);
	free(req);
	free(s);
}
END_TEST

START_TEST(gate_approve_directly_as_admin)
{
	char *uid = pending_destroy(103);
	char *req = sign_request(uid);
	char *s = sign("alice", req);
	struct gate_result r;
	struct err err;

	gate_result_init(&r);
	err_init(&err);
	ck_assert_int_eq(gate_approve(gate, uid, req, strlen(req), s,
	    strlen(s), "admin", NULL, NULL, &r, &err), 0);
	ck_assert_str_eq(r.code, "accepted");
	ck_assert_int_eq(r.to, SM_AUTHORIZED);
	ck_assert_str_eq(op_state(uid), "authorized");
	/* Once more after a restart: replay. */
	restart();
	gate_result_init(&r);
	err_init(&err);
	ck_assert_int_eq(gate_approve(gate, uid, req, strlen(req), s,
	    strlen(s), "admin", NULL, NULL, &r, &err), ERR_REJECTED);
	ck_assert_str_eq(r.code, "replay");
	ck_assert_int_eq(err.reason, AUTHZ_REPLAY);
	ck_assert_ptr_nonnull(strstr(err_msg(&err), "replay"));
	ck_assert_int_eq(nonces(), 1);
	free(uid);
	free(req);
	free(s);
}
END_TEST

START_TEST(gate_approve_of_an_op_that_left_pending)
{
	char *uid = pending_destroy(103);
	char *req = sign_request(uid);
	char *s = sign("alice", req);
	struct gate_result r;
	struct ops_row *op = NULL;
	struct sm_args a;

	ck_assert_int_eq(ops_get_uid(db, uid, &op, NULL), 0);
	memset(&a, 0, sizeof(a));
	a.now = NOW;
	etu_step(db, op->id, SM_PENDING_SIGNATURE, SM_EV_CANCEL, &a);
	gate_result_init(&r);
	ck_assert_int_eq(gate_approve(gate, uid, req, strlen(req), s,
	    strlen(s), "admin", NULL, NULL, &r, NULL), ERR_REJECTED);
	ck_assert_str_eq(r.code, "not_pending");
	ck_assert_int_eq(nonces(), 0);
	ops_row_free(op);
	free(uid);
	free(req);
	free(s);
}
END_TEST

/* ---- no signers, rotations -------------------------------------------- */

START_TEST(intake_without_signers_destructive_waits)
{
	char *d = blob_now("destroy", 103, "{\"purge\":true}");
	char *ds = sign("alice", d);
	char *ok = blob_now("start", 101, "{}");
	struct intake_stats st;

	inbox_put(NULL, d, strlen(d), ds);
	inbox_put(NULL, d, strlen(d), NULL);
	inbox_put(NULL, ok, strlen(ok), NULL);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_uint_eq(st.pending, 1);
	ck_assert_uint_eq(st.authorized, 1);
	ck_assert(audited("verify", "unknown_signer"));
	ck_assert_int_eq(nonces(), 0);
	free(d);
	free(ds);
	free(ok);
}
END_TEST

START_TEST(intake_recovery_rotation_takes_effect_at_once)
{
	char params[9000], *b, *s, *after, *as, *ns;
	struct ops_row *op;
	struct intake_stats st;

	/* Recovery key replaces the operational set with "new". */
	(void) snprintf(params, sizeof(params), "{\"kind\":\"recovery\","
	    "\"operational\":[\"new@ops %s\"]}", line_new);
	b = blob_now("rotate_signers", 0, params);
	s = sign("rec", b);
	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().authorized, 1);
	op = last_op();
	ck_assert_int_eq(op->kind, OPS_KIND_ROTATE_SIGNERS);
	ck_assert_int_eq(op->vmid, 0);
	ck_assert_int_eq(gate_run_host_op(gate, op, NULL), 0);
	ops_row_free(op);
	op = last_op();
	ck_assert_str_eq(op->state, "succeeded");
	ops_row_free(op);
	/* alice is gone, new signs. */
	after = blob_now("destroy", 103, "{\"purge\":true}");
	as = sign("alice", after);
	ns = sign("new", after);
	inbox_put(NULL, after, strlen(after), as);
	inbox_put(NULL, after, strlen(after), ns);
	st = run();
	ck_assert_uint_eq(st.rejected, 1);
	ck_assert_uint_eq(st.authorized, 1);
	ck_assert(audited("verify", "unknown_signer"));
	ck_assert(audited("signers", "rotated"));
	free(b);
	free(s);
	free(after);
	free(as);
	free(ns);
}
END_TEST

START_TEST(intake_planned_rotation_of_recovery_by_operational_is_denied)
{
	char params[9000], *b, *s;

	(void) snprintf(params, sizeof(params), "{\"kind\":\"planned\","
	    "\"operational\":[\"new@ops %s\"],\"recovery\":[\"new@rec %s\"]}",
	    line_new, line_new);
	b = blob_now("rotate_signers", 0, params);
	s = sign("alice", b);
	inbox_put(NULL, b, strlen(b), s);
	ck_assert_uint_eq(run().rejected, 1);
	ck_assert(audited("verify", "role_denied"));
	ck_assert_int_eq(nonces(), 0);
	free(b);
	free(s);
}
END_TEST

static Suite *
intake_suite(void)
{
	Suite *s = suite_create("intake");
	TCase *tc;

	tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, intake_signed_destroy_is_authorized_with_its_nonce);
	tcase_add_test(tc, intake_replay_is_rejected_also_across_a_restart);
	tcase_add_test(tc, intake_signed_benign_job_consumes_its_nonce);
	tcase_add_test(tc, intake_prunes_a_nonce_only_after_its_expiry);
	tcase_add_loop_test(tc, intake_signed_job_rejections, 0,
	    (int)(sizeof(rcases) / sizeof(rcases[0])));
	tcase_add_test(tc, intake_each_entry_is_independent);
	tcase_add_test(tc, intake_signed_jobs_delivered_together_commit_once);
	tcase_add_test(tc, intake_waits_while_blocked);
	tcase_add_test(tc,
	    intake_unsigned_destructive_job_waits_with_its_own_blob);
	tcase_add_test(tc, intake_unsigned_benign_job_runs);
	tcase_add_test(tc, intake_unsigned_job_is_validated_like_any_other);
	tcase_add_test(tc, intake_hub_provenance_claims_are_ignored);
	suite_add_tcase(s, tc);

	tc = tcase_create("approvals");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, intake_approval_through_the_hub_authorizes_once);
	tcase_add_loop_test(tc, intake_approval_rejections_keep_the_op_pending,
	    0, (int)(sizeof(acases) / sizeof(acases[0])));
	tcase_add_test(tc, intake_approval_of_nothing_is_rejected);
	tcase_add_test(tc, gate_approve_directly_as_admin);
	tcase_add_test(tc, gate_approve_of_an_op_that_left_pending);
	suite_add_tcase(s, tc);

	tc = tcase_create("signers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, intake_recovery_rotation_takes_effect_at_once);
	tcase_add_test(tc,
	    intake_planned_rotation_of_recovery_by_operational_is_denied);
	suite_add_tcase(s, tc);

	tc = tcase_create("no_signers");
	tcase_add_checked_fixture(tc, setup_no_signers, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, intake_without_signers_destructive_waits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(intake_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
