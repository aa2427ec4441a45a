/*
 * verify — the locked pipeline: one typed code per stage, every
 * stage after the crypto still able to reject, the nonce last and only
 * inside the caller's accepting transaction.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "authz/verify.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/err.h"
#include "store/db.h"
#include "store/nonces.h"

static const char *const stage_names[VERIFY_STAGE__COUNT] = {
	[VERIFY_STAGE_PARSE] = "parse",
	[VERIFY_STAGE_NAMESPACE] = "namespace",
	[VERIFY_STAGE_SIGNER] = "signer",
	[VERIFY_STAGE_SIGNATURE] = "signature",
	[VERIFY_STAGE_BLOB] = "blob",
	[VERIFY_STAGE_TARGET] = "target",
	[VERIFY_STAGE_TIME] = "time",
	[VERIFY_STAGE_ROLE] = "role",
	[VERIFY_STAGE_BINDING] = "binding",
	[VERIFY_STAGE_NONCE] = "nonce",
};
_Static_assert(sizeof(stage_names) / sizeof(stage_names[0]) ==
    VERIFY_STAGE__COUNT, "stage_names must name every stage");

static const char *const outcome_names[VERIFY_OUTCOME__COUNT] = {
	[VERIFY_OUTCOME_SKIPPED] = "skipped",
	[VERIFY_OUTCOME_OK] = "ok",
	[VERIFY_OUTCOME_REJECTED] = "rejected",
	[VERIFY_OUTCOME_NOT_APPLICABLE] = "not applicable",
};
_Static_assert(sizeof(outcome_names) / sizeof(outcome_names[0]) ==
    VERIFY_OUTCOME__COUNT, "outcome_names must name every outcome");

const char *
verify_stage_name(int stage)
{
	if (stage < 0 || stage >= VERIFY_STAGE__COUNT)
		return "unknown";
	return stage_names[stage];
}

const char *
verify_outcome_name(int outcome)
{
	if (outcome < 0 || outcome >= VERIFY_OUTCOME__COUNT)
		return "unknown";
	return outcome_names[outcome];
}

void
verify_result_init(struct verify_result *res)
{
	memset(res, 0, sizeof(*res));
}

void
verify_result_reset(struct verify_result *res)
{
	if (res == NULL)
		return;
	opblob_free(res->blob);
	memset(res, 0, sizeof(*res));
}

/* Marks stage passed and moves on. */
static void
pass(struct verify_result *res, enum verify_stage stage)
{
	res->outcome[stage] = VERIFY_OUTCOME_OK;
	res->stage = stage + 1 < VERIFY_STAGE__COUNT ?
	    (enum verify_stage)(stage + 1) : stage;
}

/*
 * Records the verdict of a failed stage from lerr and hands the error
 * to the caller's record.  Non-verdict failures (memory, crypto) are
 * passed up without a verdict.
 */
static int
fail(struct verify_result *res, enum verify_stage stage, struct err *lerr,
    struct err *err)
{
	res->stage = stage;
	if (lerr->code == ERR_REJECTED) {
		res->code = lerr->reason;
		res->outcome[stage] = VERIFY_OUTCOME_REJECTED;
		(void) snprintf(res->msg, sizeof(res->msg), "%s", lerr->msg);
	}
	return err_copy(err, lerr);
}

static int
reject(struct err *err, enum authz_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
reject(struct err *err, enum authz_code code, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_setr(err, ERR_REJECTED, (int)code, 0, "%s", msg);
}

int
verify_signature(const char *armor, size_t armor_len, const void *msg,
    size_t msglen, const char *ns, const char *principal, int64_t now,
    const struct signers *set, struct verify_result *res, struct err *err)
{
	const struct signers_entry *e = NULL, *re[SIGNERS_ROLE__COUNT];
	struct signers_query q;
	struct sshsig *sig = NULL;
	struct err lerr;
	unsigned policy, notouch = SSHSIG_POLICY_NO_TOUCH_REQUIRED;
	int rc, r;

	err_init(&lerr);
	/* Stage 1: armor and SSHSIG structure. */
	res->stage = VERIFY_STAGE_PARSE;
	if ((rc = sshsig_parse(armor, armor_len, &sig, &lerr)) != 0) {
		rc = fail(res, VERIFY_STAGE_PARSE, &lerr, err);
		goto out;
	}
	res->has_key = 1;
	res->keytype = sshsig_keytype(sig);
	res->hash = sshsig_hash(sig);
	if ((rc = sshsig_sig_fingerprint(sig, res->fingerprint,
	    sizeof(res->fingerprint))) != 0) {
		rc = err_set(err, rc, "signature: fingerprint failed");
		goto out;
	}
	pass(res, VERIFY_STAGE_PARSE);

	/* Stage 2: the namespace, compared before any key is trusted. */
	if ((rc = sshsig_check_namespace(sig, ns, &lerr)) != 0) {
		rc = fail(res, VERIFY_STAGE_NAMESPACE, &lerr, err);
		goto out;
	}
	pass(res, VERIFY_STAGE_NAMESPACE);

	/* Stage 3: the embedded key must be pinned, by key material. */
	memset(&q, 0, sizeof(q));
	q.key = sshsig_pubkey(sig, &q.keylen);
	q.principal = principal;
	q.ns = ns;
	q.now = now;
	q.role = -1;
	if ((rc = signers_find(set, &q, &e, &lerr)) != 0) {
		rc = fail(res, VERIFY_STAGE_SIGNER, &lerr, err);
		goto out;
	}
	policy = e->policy;
	for (r = 0; r < SIGNERS_ROLE__COUNT; r++) {
		q.role = r;
		re[r] = NULL;
		if (signers_find(set, &q, &re[r], NULL) != 0)
			continue;
		res->role_mask |= 1u << r;
		policy |= re[r]->policy & SSHSIG_POLICY_VERIFY_REQUIRED;
		notouch &= re[r]->policy;
	}
	/* The strictest FIDO policy of the lines that matched. */
	policy = (policy & ~(unsigned)SSHSIG_POLICY_NO_TOUCH_REQUIRED) |
	    (notouch & e->policy & SSHSIG_POLICY_NO_TOUCH_REQUIRED);
	res->has_signer = 1;
	res->role = e->role;
	(void) snprintf(res->principal, sizeof(res->principal), "%s",
	    e->principals);
	(void) snprintf(res->signer, sizeof(res->signer), "%s %s",
	    res->principal, res->fingerprint);
	pass(res, VERIFY_STAGE_SIGNER);

	/* Stage 4: the signature over the raw bytes, then FIDO flags. */
	if ((rc = sshsig_verify(sig, e->key, ns, msg, msglen, policy,
	    &res->sk, &lerr)) != 0) {
		rc = fail(res, VERIFY_STAGE_SIGNATURE, &lerr, err);
		goto out;
	}
	pass(res, VERIFY_STAGE_SIGNATURE);
	rc = 0;
out:
	sshsig_free(sig);
	return rc;
}

static int
check_target(const struct verify_input *in, const struct opblob *b,
    struct err *err)
{
	const struct verify_binding *bd = in->binding;

	if (strcmp(b->host_id, in->host_id) != 0)
		return reject(err, AUTHZ_WRONG_HOST, "the blob is for host "
		    "'%s', this host is '%s'", b->host_id, in->host_id);
	if (b->op == OPBLOB_OP_ROTATE_SIGNERS && b->has_guest)
		return reject(err, AUTHZ_WRONG_GUEST, "rotate_signers is "
		    "host-scoped: guest_id must be null");
	if (b->op != OPBLOB_OP_ROTATE_SIGNERS && !b->has_guest)
		return reject(err, AUTHZ_WRONG_GUEST, "%s needs a guest_id",
		    opblob_op_name((int)b->op));
	if (bd != NULL && (bd->has_guest != b->has_guest ||
	    (b->has_guest && bd->guest_id != b->guest_id))) {
		if (!bd->has_guest)
			return reject(err, AUTHZ_WRONG_GUEST, "the pending "
			    "operation is host-scoped, the blob names guest "
			    "%" PRId64, b->guest_id);
		return reject(err, AUTHZ_WRONG_GUEST, "the blob is for guest "
		    "%" PRId64 ", the pending operation for guest %" PRId64,
		    b->guest_id, bd->guest_id);
	}
	return 0;
}

static int
check_time(const struct verify_input *in, const struct opblob *b,
    int64_t skew, int64_t max_window, struct err *err)
{
	char t1[CLOCK_RFC3339_LEN], t2[CLOCK_RFC3339_LEN];

	clock_format_rfc3339(in->now, t2, sizeof(t2));
	if (in->now < b->not_before - skew) {
		clock_format_rfc3339(b->not_before, t1, sizeof(t1));
		return reject(err, AUTHZ_NOT_YET_VALID, "not valid before %s "
		    "(now %s, clock skew allowance %" PRId64 " s)", t1, t2,
		    skew);
	}
	if (in->now > b->not_after + skew) {
		clock_format_rfc3339(b->not_after, t1, sizeof(t1));
		return reject(err, AUTHZ_EXPIRED, "expired at %s (now %s, "
		    "clock skew allowance %" PRId64 " s)", t1, t2, skew);
	}
	if (b->not_after - b->not_before > max_window)
		return reject(err, AUTHZ_WINDOW_TOO_LONG, "validity window of "
		    "%" PRId64 " s is longer than authz.max_window_s (%" PRId64
		    " s)", b->not_after - b->not_before, max_window);
	return 0;
}

static int
check_role(const struct opblob *b, struct verify_result *res,
    struct err *err)
{
	const unsigned opmask = 1u << SIGNERS_ROLE_OPERATIONAL;
	const unsigned recmask = 1u << SIGNERS_ROLE_RECOVERY;

	/* signed-ops.md "Signers and roles": from the set, not the blob. */
	if (b->op != OPBLOB_OP_ROTATE_SIGNERS) {
		if (!(res->role_mask & opmask))
			return reject(err, AUTHZ_ROLE_DENIED, "recovery keys "
			    "may only sign rotate_signers, not %s",
			    opblob_op_name((int)b->op));
		res->role = SIGNERS_ROLE_OPERATIONAL;
		return 0;
	}
	if (res->role_mask & recmask) {
		res->role = SIGNERS_ROLE_RECOVERY;
		return 0;
	}
	if (b->rotate_kind != OPBLOB_ROTATE_PLANNED)
		return reject(err, AUTHZ_ROLE_DENIED, "a recovery rotation "
		    "must be signed by a recovery key");
	if (b->has_recovery)
		return reject(err, AUTHZ_ROLE_DENIED, "an operational key may "
		    "replace the operational set only, not the recovery set");
	res->role = SIGNERS_ROLE_OPERATIONAL;
	return 0;
}

static int
check_binding(const struct verify_binding *bd, const struct opblob *b,
    struct err *err)
{
	if (bd->op != b->op)
		return reject(err, AUTHZ_BINDING_MISMATCH, "the blob is a %s, "
		    "the pending operation a %s", opblob_op_name((int)b->op),
		    opblob_op_name((int)bd->op));
	if (bd->params == NULL || !json_equal((json_t *)(uintptr_t)bd->params,
	    (json_t *)(uintptr_t)b->params))
		return reject(err, AUTHZ_BINDING_MISMATCH, "the blob's params "
		    "differ from the pending operation's");
	return 0;
}

int
verify_run(const struct verify_input *in, struct verify_result *res,
    struct err *err)
{
	struct verify_config dflt = { VERIFY_DEFAULT_SKEW_S,
	    VERIFY_DEFAULT_MAX_WINDOW_S };
	const struct verify_config *cfg = in->config != NULL ? in->config :
	    &dflt;
	int64_t skew = cfg->clock_skew_s >= 0 ? cfg->clock_skew_s :
	    VERIFY_DEFAULT_SKEW_S;
	int64_t maxw = cfg->max_window_s > 0 ? cfg->max_window_s :
	    VERIFY_DEFAULT_MAX_WINDOW_S;
	struct err lerr;
	int rc;

	/* Stages 1-4 over the raw bytes, fixed namespace. */
	if ((rc = verify_signature(in->signature, in->signature_len, in->blob,
	    in->blob_len, VERIFY_NAMESPACE, NULL, in->now, in->signers, res,
	    err)) != 0)
		return rc;

	/* Stage 5: the blob, parsed from the very bytes verified. */
	err_init(&lerr);
	if ((rc = opblob_parse(in->blob, in->blob_len, &res->blob,
	    &lerr)) != 0)
		return fail(res, VERIFY_STAGE_BLOB, &lerr, err);
	pass(res, VERIFY_STAGE_BLOB);

	/* Stages 6-9 reject even though the signature is good. */
	if ((rc = check_target(in, res->blob, &lerr)) != 0)
		return fail(res, VERIFY_STAGE_TARGET, &lerr, err);
	pass(res, VERIFY_STAGE_TARGET);
	if ((rc = check_time(in, res->blob, skew, maxw, &lerr)) != 0)
		return fail(res, VERIFY_STAGE_TIME, &lerr, err);
	pass(res, VERIFY_STAGE_TIME);
	if ((rc = check_role(res->blob, res, &lerr)) != 0)
		return fail(res, VERIFY_STAGE_ROLE, &lerr, err);
	(void) snprintf(res->signer, sizeof(res->signer), "%s %s",
	    res->principal, res->fingerprint);
	pass(res, VERIFY_STAGE_ROLE);
	if (in->binding == NULL) {
		res->outcome[VERIFY_STAGE_BINDING] =
		    VERIFY_OUTCOME_NOT_APPLICABLE;
		res->stage = VERIFY_STAGE_NONCE;
	} else {
		if ((rc = check_binding(in->binding, res->blob, &lerr)) != 0)
			return fail(res, VERIFY_STAGE_BINDING, &lerr, err);
		pass(res, VERIFY_STAGE_BINDING);
	}
	/*
	 * Stage 10 is the caller's, inside its accepting transaction; the
	 * nonce floor can be told now: a blob valid before the database was
	 * created or restored may have been accepted by a state now lost
	 * (R-15).
	 */
	if (in->nonce_floor > 0 && res->blob->not_before < in->nonce_floor) {
		char t1[CLOCK_RFC3339_LEN], t2[CLOCK_RFC3339_LEN];

		clock_format_rfc3339(res->blob->not_before, t1, sizeof(t1));
		clock_format_rfc3339(in->nonce_floor, t2, sizeof(t2));
		(void) reject(&lerr, AUTHZ_REPLAY_FLOOR, "valid from %s, before "
		    "this host's nonce floor %s (its database was created or "
		    "restored then, and a nonce used before may be lost): "
		    "sign the operation again", t1, t2);
		return fail(res, VERIFY_STAGE_NONCE, &lerr, err);
	}
	res->code = AUTHZ_ACCEPTED;
	/*
	 * the nonce is kept while any process — felhom-admin
	 * approve with its own config, or this one after a change of
	 * clock_skew_s — could still accept the blob: up to not_after
	 * plus the largest skew a configuration may hold.
	 */
	res->nonce_expires_at = res->blob->not_after + CONFIG_CLOCK_SKEW_MAX_S;
	return 0;
}

int
verify_consume_nonce(struct db *db, const char *nonce, int64_t expires_at,
    const char *signer, int64_t op_id, int64_t now, struct err *err)
{
	int inserted = 0, rc;

	/* consumed in the transaction that accepts the op. */
	if (!db_in_txn(db))
		return err_set(err, ERR_INTERNAL, "verify_consume_nonce "
		    "called outside the accepting transaction");
	if ((rc = nonces_insert(db, nonce, op_id, signer, now, expires_at,
	    &inserted, err)) != 0)
		return rc;
	if (!inserted)
		return reject(err, AUTHZ_REPLAY, "nonce %.16s... was already "
		    "used by an accepted operation", nonce);
	return 0;
}
