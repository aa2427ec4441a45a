/*
 * test_verify — the locked pipeline with real ssh-keygen keys and
 * signatures: one crafted input per rejection code,
 * later stages rejecting valid signatures, the nonce store untouched by
 * every rejection, replay across a database reopen, pruning, and the
 * `felhom-admin op new` / `op check` faces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/verify.h"
#include "authz_tu.h"
#include "base/config.h"
#include "base/err.h"
#include "store/db.h"
#include "store/nonces.h"
#include "testutil.h"

#define NB	1795852800		/* 2026-11-28T08:00:00Z */
#define NA	(NB + 3600)
#define NOW	(NB + 600)

struct fixture {
	char		*dir;
	char		*dbpath;
	char		*ops_path;
	char		*rec_path;
	struct signers	*set;
	struct db	*db;
};

static struct fixture fx;

static void
setup(void)
{
	char *a = NULL, *r = NULL, *e = NULL, *text;
	struct err err;

	memset(&fx, 0, sizeof(fx));
	fx.dir = tu_tmpdir();
	ck_assert_ptr_nonnull(fx.dir);
	ck_assert_int_eq(atu_keygen(fx.dir, "alice", "ed25519", 0, &a), 0);
	ck_assert_int_eq(atu_keygen(fx.dir, "rec", "ed25519", 0, &r), 0);
	ck_assert_int_eq(atu_keygen(fx.dir, "eve", "ed25519", 0, &e), 0);
	ck_assert_int_gt(asprintf(&text, "alice@ops namespaces=\"felhom-op-v1\""
	    " %s\n", a), 0);
	fx.ops_path = atu_write(fx.dir, "operational_signers", text);
	free(text);
	ck_assert_int_gt(asprintf(&text, "rec@ops %s\n", r), 0);
	fx.rec_path = atu_write(fx.dir, "recovery_signers", text);
	free(text);
	fx.set = signers_new();
	err_init(&err);
	ck_assert_int_eq(signers_load_file(fx.set, fx.ops_path,
	    SIGNERS_ROLE_OPERATIONAL, 0, 0, NULL, NULL, &err), 0);
	ck_assert_int_eq(signers_load_file(fx.set, fx.rec_path,
	    SIGNERS_ROLE_RECOVERY, 0, 0, NULL, NULL, &err), 0);
	/* The sk vectors' key, for the FIDO stage. */
	ck_assert_int_eq(signers_load_file(fx.set,
	    atu_vec("allowed_signers/sk-ed25519"), SIGNERS_ROLE_OPERATIONAL, 0,
	    0, NULL, NULL, &err), 0);
	ck_assert_int_gt(asprintf(&fx.dbpath, "%s/state.db", fx.dir), 0);
	ck_assert_msg(db_open(fx.dbpath, DB_OPEN_CREATE | DB_OPEN_MIGRATE,
	    &fx.db, &err) == 0, "db_open: %s", err.msg);
	free(a);
	free(r);
	free(e);
}

static void
teardown(void)
{
	db_close(fx.db);
	signers_free(fx.set);
	tu_rmrf(fx.dir);
	free(fx.dir);
	free(fx.dbpath);
	free(fx.ops_path);
	free(fx.rec_path);
}

/* A canonical blob; guest 0 = null. */
static char *
mkblob(enum opblob_op op, int64_t guest, const char *params, int64_t nb,
    int64_t na)
{
	struct opblob_spec spec;
	struct err err;
	json_t *p = json_loads(params, 0, NULL);
	char *out = NULL;
	size_t len;

	ck_assert_ptr_nonnull(p);
	memset(&spec, 0, sizeof(spec));
	spec.op = op;
	spec.host_id = "pve-01";
	spec.has_guest = guest != 0;
	spec.guest_id = guest;
	spec.params = p;
	spec.not_before = nb;
	spec.not_after = na;
	err_init(&err);
	ck_assert_msg(opblob_make(&spec, &out, &len, &err) == 0, "%s",
	    err.msg);
	json_decref(p);
	return out;
}

static char *
sign(const char *key, const char *ns, const void *blob, size_t len)
{
	char *s = atu_sign(fx.dir, key, ns, NULL, blob, len);

	ck_assert_msg(s != NULL, "ssh-keygen -Y sign failed");
	return s;
}

static int64_t
nonce_rows(void)
{
	struct err err;
	int64_t n = -1;

	err_init(&err);
	ck_assert_int_eq(nonces_count(fx.db, &n, &err), 0);
	return n;
}

/*
 * What the engine does: the pipeline, then the nonce in the accepting
 * transaction.  Returns the verdict's code (AUTHZ_ACCEPTED or a
 * rejection); *stage_out the deciding stage.
 */
/* The nonce floor the next accept_op() runs with. */
static int64_t floor_s;

static int
accept_op(const void *blob, size_t len, const char *sig,
    const struct verify_binding *bd, int64_t now, const char *host,
    int *stage_out, char *msg, size_t msgn)
{
	struct verify_input in;
	struct verify_result res;
	struct err err;
	int rc, code;

	memset(&in, 0, sizeof(in));
	in.blob = blob;
	in.blob_len = len;
	in.signature = sig;
	in.signature_len = strlen(sig);
	in.host_id = host != NULL ? host : "pve-01";
	in.binding = bd;
	in.now = now;
	in.signers = fx.set;
	in.nonce_floor = floor_s;
	verify_result_init(&res);
	err_init(&err);
	rc = verify_run(&in, &res, &err);
	if (rc == 0) {
		/* kept past any process's skew (issue 10, hole 4). */
		ck_assert_int_eq(res.nonce_expires_at, res.blob->not_after +
		    CONFIG_CLOCK_SKEW_MAX_S);
		ck_assert_int_eq(db_begin(fx.db, &err), 0);
		rc = verify_consume_nonce(fx.db, res.blob->nonce,
		    res.nonce_expires_at, res.signer, 0, now, &err);
		if (rc == 0)
			ck_assert_int_eq(db_commit(fx.db, &err), 0);
		else {
			db_rollback(fx.db);
			res.stage = VERIFY_STAGE_NONCE;
			res.code = err.reason;
		}
	}
	ck_assert_msg(rc == 0 || rc == ERR_REJECTED, "error %d: %s", rc,
	    err.msg);
	if (rc == ERR_REJECTED)
		ck_assert_int_eq(err.reason, res.code);
	code = rc == 0 ? AUTHZ_ACCEPTED : res.code;
	if (stage_out != NULL)
		*stage_out = (int)res.stage;
	if (msg != NULL)
		(void) snprintf(msg, msgn, "%s", err.msg);
	verify_result_reset(&res);
	return code;
}

#define EXPECT(code_, stage_, call) do {				\
	int st_ = -1, got_;						\
	char m_[ERR_MSG_MAX] = "";					\
	int64_t before_ = nonce_rows();					\
	got_ = call;							\
	ck_assert_msg(got_ == (code_), "expected %s, got %s (%s)",	\
	    authz_code_name(code_), authz_code_name(got_), m_);		\
	ck_assert_msg(st_ == (stage_), "expected stage %s, got %s",	\
	    verify_stage_name(stage_), verify_stage_name(st_));		\
	if ((code_) != AUTHZ_ACCEPTED)					\
		ck_assert_int_eq(nonce_rows(), before_);		\
} while (0)

#define RUN(blob, len, sig, bd, now, host) \
	accept_op((blob), (len), (sig), (bd), (now), (host), &st_, m_, \
	    sizeof(m_))

START_TEST(accepted_once_then_replay_also_after_reopen)
{
	char *blob = mkblob(OPBLOB_OP_DESTROY, 103, "{\"purge\":true}", NB, NA);
	char *sig = sign("alice", "felhom-op-v1", blob, strlen(blob));
	struct err err;

	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    RUN(blob, strlen(blob), sig, NULL, NOW, NULL));
	ck_assert_int_eq(nonce_rows(), 1);
	EXPECT(AUTHZ_REPLAY, VERIFY_STAGE_NONCE,
	    RUN(blob, strlen(blob), sig, NULL, NOW + 1, NULL));
	ck_assert_int_eq(nonce_rows(), 1);
	db_close(fx.db);
	fx.db = NULL;
	err_init(&err);
	ck_assert_int_eq(db_open(fx.dbpath, DB_OPEN_MIGRATE, &fx.db, &err), 0);
	EXPECT(AUTHZ_REPLAY, VERIFY_STAGE_NONCE,
	    RUN(blob, strlen(blob), sig, NULL, NOW + 2, NULL));
	ck_assert_int_eq(nonce_rows(), 1);
	free(blob);
	free(sig);
}
END_TEST

START_TEST(stage_codes_up_to_the_signature)
{
	char *blob = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA), *sig, *other,
	    *re, *vsig, *vmsg;
	uint8_t *raw;
	size_t len = 0, vlen = 0;

	sig = sign("alice", "felhom-op-v1", blob, strlen(blob));
	EXPECT(AUTHZ_BAD_ARMOR, VERIFY_STAGE_PARSE,
	    RUN(blob, strlen(blob), "-----BEGIN PGP SIGNATURE-----\n", NULL,
	    NOW, NULL));
	raw = atu_dearmor(sig, &len);
	ck_assert_ptr_nonnull(raw);
	raw[9] = 2;
	re = atu_armor(raw, len);
	EXPECT(AUTHZ_BAD_SSHSIG, VERIFY_STAGE_PARSE,
	    RUN(blob, strlen(blob), re, NULL, NOW, NULL));
	free(re);
	free(raw);
	vsig = tu_read_file(atu_vec("sigs/neg-keytype-dsa.sig"), NULL);
	EXPECT(AUTHZ_UNSUPPORTED_KEY_TYPE, VERIFY_STAGE_PARSE,
	    RUN(blob, strlen(blob), vsig, NULL, NOW, NULL));
	free(vsig);
	vsig = tu_read_file(atu_vec("sigs/neg-hashalg-sha1.sig"), NULL);
	EXPECT(AUTHZ_BAD_HASH_ALG, VERIFY_STAGE_PARSE,
	    RUN(blob, strlen(blob), vsig, NULL, NOW, NULL));
	free(vsig);
	other = sign("alice", "file", blob, strlen(blob));
	EXPECT(AUTHZ_BAD_NAMESPACE, VERIFY_STAGE_NAMESPACE,
	    RUN(blob, strlen(blob), other, NULL, NOW, NULL));
	free(other);
	other = sign("eve", "felhom-op-v1", blob, strlen(blob));
	EXPECT(AUTHZ_UNKNOWN_SIGNER, VERIFY_STAGE_SIGNER,
	    RUN(blob, strlen(blob), other, NULL, NOW, NULL));
	free(other);
	/* The signed bytes changed after signing: one flipped bit. */
	blob[strlen(blob) - 3] ^= 0x01;
	EXPECT(AUTHZ_BAD_SIGNATURE, VERIFY_STAGE_SIGNATURE,
	    RUN(blob, strlen(blob), sig, NULL, NOW, NULL));
	/* A genuine FIDO signature without the touch flag. */
	vsig = tu_read_file(atu_vec("sigs/neg-sk-ed25519-no-up.sig"), NULL);
	vmsg = tu_read_file(atu_vec("msgs/ascii.txt"), &vlen);
	EXPECT(AUTHZ_USER_PRESENCE_REQUIRED, VERIFY_STAGE_SIGNATURE,
	    RUN(vmsg, vlen, vsig, NULL, NOW, NULL));
	/* The same FIDO key with a touch passes the crypto, then bad_blob. */
	free(vsig);
	vsig = tu_read_file(atu_vec("sigs/pos-sk-ed25519-up.sig"), NULL);
	EXPECT(AUTHZ_BAD_BLOB, VERIFY_STAGE_BLOB,
	    RUN(vmsg, vlen, vsig, NULL, NOW, NULL));
	ck_assert_int_eq(nonce_rows(), 0);
	free(vsig);
	free(vmsg);
	free(blob);
	free(sig);
}
END_TEST

/* Signs text as alice (or key) and runs it. */
static int
signed_run(const char *key, const char *text, const struct verify_binding *bd,
    int64_t now, const char *host, int *stage, char *msg, size_t msgn)
{
	char *sig = sign(key, "felhom-op-v1", text, strlen(text));
	int code;

	code = accept_op(text, strlen(text), sig, bd, now, host, stage, msg,
	    msgn);
	free(sig);
	return code;
}

#define SRUN(key, text, bd, now, host) \
	signed_run((key), (text), (bd), (now), (host), &st_, m_, sizeof(m_))

START_TEST(valid_signatures_still_rejected_by_later_stages)
{
	char *b;
	const char *raw_null_guest = "{\"schema\":\"felhom.op/v1\",\"op\":"
	    "\"destroy\",\"host_id\":\"pve-01\",\"guest_id\":null,\"params\":"
	    "{\"purge\":true},\"nonce\":\"00112233445566778899aabbccddeeff\","
	    "\"not_before\":\"2026-11-28T08:00:00Z\",\"not_after\":"
	    "\"2026-11-28T09:00:00Z\"}";

	EXPECT(AUTHZ_BAD_BLOB, VERIFY_STAGE_BLOB,
	    SRUN("alice", "not json at all", NULL, NOW, NULL));
	b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA);
	EXPECT(AUTHZ_WRONG_HOST, VERIFY_STAGE_TARGET,
	    SRUN("alice", b, NULL, NOW, "pve-02"));
	free(b);
	EXPECT(AUTHZ_WRONG_GUEST, VERIFY_STAGE_TARGET,
	    SRUN("alice", raw_null_guest, NULL, NOW, NULL));
	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 101, "{\"kind\":\"planned\","
	    "\"operational\":[]}", NB, NA);
	EXPECT(AUTHZ_WRONG_GUEST, VERIFY_STAGE_TARGET,
	    SRUN("rec", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA);
	EXPECT(AUTHZ_NOT_YET_VALID, VERIFY_STAGE_TIME,
	    SRUN("alice", b, NULL, NB - VERIFY_DEFAULT_SKEW_S - 1, NULL));
	EXPECT(AUTHZ_EXPIRED, VERIFY_STAGE_TIME,
	    SRUN("alice", b, NULL, NA + VERIFY_DEFAULT_SKEW_S + 1, NULL));
	/* The recovery key may not sign everyday operations. */
	EXPECT(AUTHZ_ROLE_DENIED, VERIFY_STAGE_ROLE,
	    SRUN("rec", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NB + 86401);
	EXPECT(AUTHZ_WINDOW_TOO_LONG, VERIFY_STAGE_TIME,
	    SRUN("alice", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 0, "{\"kind\":\"recovery\","
	    "\"operational\":[]}", NB, NA);
	EXPECT(AUTHZ_ROLE_DENIED, VERIFY_STAGE_ROLE,
	    SRUN("alice", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 0, "{\"kind\":\"planned\","
	    "\"operational\":[],\"recovery\":[]}", NB, NA);
	EXPECT(AUTHZ_ROLE_DENIED, VERIFY_STAGE_ROLE,
	    SRUN("alice", b, NULL, NOW, NULL));
	free(b);
	ck_assert_int_eq(nonce_rows(), 0);
}
END_TEST

START_TEST(time_bounds_include_the_skew)
{
	char *b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA);

	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NB - VERIFY_DEFAULT_SKEW_S, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA);
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NA + VERIFY_DEFAULT_SKEW_S, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NB + 86400);
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NOW, NULL));
	free(b);
	ck_assert_int_eq(nonce_rows(), 3);
}
END_TEST

/*
 * a blob valid from before the database's nonce floor (its
 * creation or restore) may have been accepted by a lost state: refused,
 * replay_floor, at the nonce stage, nothing stored.
 */
START_TEST(a_blob_valid_before_the_nonce_floor_is_refused)
{
	char *b = mkblob(OPBLOB_OP_START, 101, "{}", NB, NA);

	floor_s = NB + 1;
	EXPECT(AUTHZ_REPLAY_FLOOR, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NOW, NULL));
	floor_s = NB;
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NOW, NULL));
	floor_s = 0;
	ck_assert_str_eq(authz_code_name(AUTHZ_REPLAY_FLOOR), "replay_floor");
	free(b);
}
END_TEST

START_TEST(rotation_roles)
{
	char *b;

	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 0, "{\"kind\":\"planned\","
	    "\"operational\":[]}", NB, NA);
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 0, "{\"kind\":\"recovery\","
	    "\"operational\":[],\"recovery\":[]}", NB, NA);
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("rec", b, NULL, NOW, NULL));
	free(b);
	b = mkblob(OPBLOB_OP_ROTATE_SIGNERS, 0, "{\"kind\":\"planned\","
	    "\"recovery\":[]}", NB, NA);
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("rec", b, NULL, NOW, NULL));
	free(b);
}
END_TEST

START_TEST(binding_to_the_pending_op)
{
	struct verify_binding bd;
	json_t *same = json_loads("{\"delete\":[\"mp0\"],\"set\":{\"cores\":1,"
	    "\"arch\":\"x\"}}", 0, NULL), *other = json_loads("{\"delete\":"
	    "[\"mp1\"],\"set\":{\"cores\":1,\"arch\":\"x\"}}", 0, NULL);
	char *b = mkblob(OPBLOB_OP_SET_CONFIG, 101, "{\"set\":{\"arch\":\"x\","
	    "\"cores\":1},\"delete\":[\"mp0\"]}", NB, NA);

	memset(&bd, 0, sizeof(bd));
	bd.op = OPBLOB_OP_SET_CONFIG;
	bd.has_guest = 1;
	bd.guest_id = 101;
	bd.params = other;
	EXPECT(AUTHZ_BINDING_MISMATCH, VERIFY_STAGE_BINDING,
	    SRUN("alice", b, &bd, NOW, NULL));
	bd.params = same;
	bd.op = OPBLOB_OP_DESTROY;
	EXPECT(AUTHZ_BINDING_MISMATCH, VERIFY_STAGE_BINDING,
	    SRUN("alice", b, &bd, NOW, NULL));
	bd.op = OPBLOB_OP_SET_CONFIG;
	bd.guest_id = 102;
	EXPECT(AUTHZ_WRONG_GUEST, VERIFY_STAGE_TARGET,
	    SRUN("alice", b, &bd, NOW, NULL));
	ck_assert_int_eq(nonce_rows(), 0);
	/* Equal as JSON values, key order aside. */
	bd.guest_id = 101;
	EXPECT(AUTHZ_ACCEPTED, VERIFY_STAGE_NONCE,
	    SRUN("alice", b, &bd, NOW, NULL));
	ck_assert_int_eq(nonce_rows(), 1);
	json_decref(same);
	json_decref(other);
	free(b);
}
END_TEST

START_TEST(prune_only_expired_nonces)
{
	struct err err;
	int64_t deleted = -1;
	const char *n1 = "11111111111111111111111111111111",
	    *n2 = "22222222222222222222222222222222",
	    *n3 = "33333333333333333333333333333333";
	int exists = 0;

	err_init(&err);
	ck_assert_int_eq(verify_consume_nonce(fx.db, n1, 100, "s", 0, 50,
	    &err), ERR_INTERNAL);
	ck_assert_int_eq(nonce_rows(), 0);
	err_init(&err);
	ck_assert_int_eq(db_begin(fx.db, &err), 0);
	ck_assert_int_eq(verify_consume_nonce(fx.db, n1, 100, "s", 0, 50,
	    &err), 0);
	ck_assert_int_eq(verify_consume_nonce(fx.db, n2, 200, "s", 0, 50,
	    &err), 0);
	ck_assert_int_eq(verify_consume_nonce(fx.db, n3, 300, "s", 0, 50,
	    &err), 0);
	ck_assert_int_eq(verify_consume_nonce(fx.db, n3, 300, "s", 0, 50,
	    &err), ERR_REJECTED);
	ck_assert_int_eq(err.reason, AUTHZ_REPLAY);
	ck_assert_int_eq(db_commit(fx.db, &err), 0);
	ck_assert_int_eq(nonces_prune(fx.db, 200, &deleted, &err), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(nonces_exists(fx.db, n1, &exists, &err), 0);
	ck_assert_int_eq(exists, 0);
	ck_assert_int_eq(nonces_exists(fx.db, n2, &exists, &err), 0);
	ck_assert_int_eq(exists, 1);
	ck_assert_int_eq(nonces_prune(fx.db, 299, &deleted, &err), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(nonce_rows(), 1);
	ck_assert_int_eq(nonces_prune(fx.db, 301, NULL, &err), 0);
	ck_assert_int_eq(nonce_rows(), 0);
}
END_TEST

START_TEST(admin_op_new_and_check)
{
	const char *newargv[] = { tu_bin("felhom-admin"), "op", "new", "--op",
	    "snapshot", "--host", "pve-01", "--guest", "101", "--param",
	    "name=pre-upgrade", "--param", "description=before 2.0",
	    "--ttl", "30m", NULL };
	char *blob = NULL, *errout = NULL, *out = NULL, *sig, *sigpath,
	    *blobpath;
	int st;

	ck_assert_int_eq(tu_run(newargv, NULL, NULL, 0, &blob, &errout, &st),
	    0);
	ck_assert_msg(st == 0, "op new: %s", errout);
	ck_assert_int_eq(blob[strlen(blob) - 1], '}');	/* no newline */
	ck_assert_ptr_nonnull(strstr(blob, "\"params\":{\"description\":"
	    "\"before 2.0\",\"name\":\"pre-upgrade\"}"));
	free(errout);
	sig = sign("alice", "felhom-op-v1", blob, strlen(blob));
	sigpath = atu_write(fx.dir, "op.json.sig", sig);
	blobpath = atu_write(fx.dir, "op.json", blob);
	{
		const char *argv[] = { tu_bin("felhom-admin"), "op", "check",
		    "--signature", sigpath, "--blob", blobpath,
		    "--signers-operational", fx.ops_path,
		    "--signers-recovery", fx.rec_path, "--host", "pve-01",
		    "--db", fx.dbpath, NULL };
		const char *argv2[] = { tu_bin("felhom-admin"), "op", "check",
		    "--signature", sigpath, "--blob", blobpath,
		    "--signers-operational", fx.ops_path, "--host", "pve-02",
		    NULL };

		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, &errout,
		    &st), 0);
		ck_assert_msg(st == 0, "op check: %s %s", out, errout);
		ck_assert_ptr_nonnull(strstr(out, "signature  ok"));
		ck_assert_ptr_nonnull(strstr(out, "binding    not applicable"));
		ck_assert_ptr_nonnull(strstr(out, "nonce      ok"));
		ck_assert_ptr_nonnull(strstr(out, "accepted snapshot signed by "
		    "alice@ops"));
		ck_assert_int_eq(nonce_rows(), 0);	/* never written */
		free(out);
		free(errout);
		/* Accept it for real, then the check sees the replay. */
		ck_assert_int_eq(accept_op(blob, strlen(blob), sig, NULL,
		    (int64_t)time(NULL), NULL, NULL, NULL, 0), AUTHZ_ACCEPTED);
		ck_assert_int_eq(tu_run(argv, NULL, NULL, 0, &out, &errout,
		    &st), 0);
		ck_assert_int_eq(st, 1);
		ck_assert_ptr_nonnull(strstr(out, "nonce      rejected: "
		    "replay"));
		free(out);
		free(errout);
		ck_assert_int_eq(tu_run(argv2, NULL, NULL, 0, &out, &errout,
		    &st), 0);
		ck_assert_int_eq(st, 1);
		ck_assert_ptr_nonnull(strstr(out, "target     rejected: "
		    "wrong_host"));
		ck_assert_ptr_nonnull(strstr(out, "time       skipped"));
		free(out);
		free(errout);
	}
	{
		const char *bad[] = { tu_bin("felhom-admin"), "op", "new",
		    "--op", "reboot", "--host", "pve-01", NULL };
		const char *bad2[] = { tu_bin("felhom-admin"), "op", "new",
		    "--op", "stop", "--host", "pve-01", "--guest", "101",
		    NULL };
		const char *bad3[] = { tu_bin("felhom-admin"), "op", "check",
		    "--blob", blobpath, NULL };

		ck_assert_int_eq(tu_run(bad, NULL, NULL, 0, NULL, NULL, &st),
		    0);
		ck_assert_int_eq(st, 64);
		ck_assert_int_eq(tu_run(bad2, NULL, NULL, 0, NULL, &errout,
		    &st), 0);
		ck_assert_int_eq(st, 64);
		ck_assert_ptr_nonnull(strstr(errout, "params.mode"));
		free(errout);
		ck_assert_int_eq(tu_run(bad3, NULL, NULL, 0, NULL, NULL, &st),
		    0);
		ck_assert_int_eq(st, 64);
	}
	free(sig);
	free(sigpath);
	free(blobpath);
	free(blob);
}
END_TEST

static Suite *
verify_suite(void)
{
	Suite *s = suite_create("authz.verify");
	TCase *tc = tcase_create("pipeline");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, accepted_once_then_replay_also_after_reopen);
	tcase_add_test(tc, stage_codes_up_to_the_signature);
	tcase_add_test(tc, valid_signatures_still_rejected_by_later_stages);
	tcase_add_test(tc, time_bounds_include_the_skew);
	tcase_add_test(tc, a_blob_valid_before_the_nonce_floor_is_refused);
	tcase_add_test(tc, rotation_roles);
	tcase_add_test(tc, binding_to_the_pending_op);
	tcase_add_test(tc, prune_only_expired_nonces);
	tcase_add_test(tc, admin_op_new_and_check);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(verify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
