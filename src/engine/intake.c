/*
 * intake — signed_inbox entries → ops and approvals (R-11, R-15, R-20,
 * Every verdict is audited and marks its entry in the same
 * transaction.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/verify.h"
#include "base/clock.h"
#include "base/crash.h"
#include "base/log.h"
#include "engine/gate.h"
#include "engine/intake.h"
#include "engine/sm.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/inbox.h"
#include "store/nonces.h"
#include "store/ops.h"

#define INTAKE_ACTOR		"hub"
#define REQUEST_KEY_PREFIX	"request/"

/* One verdict to record: why an entry is refused. */
struct refusal {
	char		 code[GATE_CODE_MAX];
	char		 msg[ERR_MSG_MAX];
	int64_t		 op_id;		/* an op it concerns, 0: none */
	json_t		*data;		/* audit facts, owned, may be NULL */
};

static void
refuse(struct refusal *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
refuse(struct refusal *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	(void) snprintf(r->code, sizeof(r->code), "%s", code);
	va_start(ap, fmt);
	(void) vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static int
mark(struct db *db, int64_t id, const char *state, const char *code,
    const char *msg, struct err *err)
{
	char result[ERR_MSG_MAX + GATE_CODE_MAX + 2];

	(void) snprintf(result, sizeof(result), "%s: %s", code, msg);
	return inbox_mark(db, id, state, result, err);
}

/* Audits the refusal and marks the entry rejected: the caller's transaction. */
static int
refusal_in_txn(struct gate *g, const struct inbox_row *e,
    const struct refusal *r, struct err *err)
{
	json_t *data;
	int rc;

	data = r->data != NULL ? json_incref(r->data) : json_object();
	if (data == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (json_object_set_new(data, "entry", json_integer(e->id)) != 0) {
		json_decref(data);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((rc = gate_reject_in_txn(g, r->op_id, r->code, r->msg,
	    INTAKE_ACTOR, data, err)) == 0)
		rc = mark(gate_db(g), e->id, INBOX_REJECTED, r->code, r->msg,
		    err);
	json_decref(data);
	return rc;
}

/* The same in one transaction of its own, logged. */
static int
record_refusal(struct gate *g, const struct inbox_row *e,
    const struct refusal *r, struct err *err)
{
	struct db *db = gate_db(g);
	int rc;

	if ((rc = db_begin(db, err)) != 0)
		return rc;
	if ((rc = refusal_in_txn(g, e, r, err)) != 0 ||
	    (rc = db_commit(db, err)) != 0) {
		db_rollback(db);
		return rc;
	}
	log_warn("signed-ops entry %" PRId64 " rejected: %s: %s", e->id,
	    r->code, r->msg);
	return 0;
}

/* ---- approvals ------------------------------------------------------- */

static int
approval_hook(struct db *db, void *ctx, const struct gate_result *r,
    struct err *err)
{
	const struct inbox_row *e = ctx;

	return mark(db, e->id, strcmp(r->code, "accepted") == 0 ?
	    INBOX_TAKEN : INBOX_REJECTED, r->code, r->msg, err);
}

static int
take_approval(struct gate *g, const struct inbox_row *e,
    struct intake_stats *st, struct err *err)
{
	struct gate_result r;
	struct refusal ref;
	struct ops_row *op = NULL;
	struct err lerr;
	int rc;

	if (e->signature == NULL) {
		/* An approval is a signature; without one there is nothing. */
		memset(&ref, 0, sizeof(ref));
		refuse(&ref, authz_code_name(AUTHZ_BAD_ARMOR), "an approval "
		    "of %s carries no signature", e->op_ref);
		if (ops_get_uid(gate_db(g), e->op_ref, &op, NULL) == 0)
			ref.op_id = op->id;
		ops_row_free(op);
		if ((rc = record_refusal(g, e, &ref, err)) == 0)
			st->rejected++;
		return rc;
	}
	gate_result_init(&r);
	err_init(&lerr);
	rc = gate_approve(g, e->op_ref, e->blob, e->blob_len, e->signature,
	    strlen(e->signature), INTAKE_ACTOR, approval_hook,
	    (void *)(uintptr_t)e, &r, &lerr);
	if (rc == 0)
		st->authorized++;
	else if (rc == ERR_REJECTED)
		st->rejected++;
	else
		return err_copy(err, &lerr);
	return 0;
}

/* ---- jobs ------------------------------------------------------------ */

/* What a job blob asks for, ready for ops_create. */
struct job {
	const struct opblob	*blob;
	enum ops_kind		 kind;
	int64_t			 vmid;
	struct gate_verdict	 v;
};

static int
job_classify(struct gate *g, const struct opblob *b, struct job *j,
    struct err *err)
{
	struct gate_subject s;
	struct gate_facts f;
	int kind, rc;

	memset(j, 0, sizeof(j[0]));
	j->blob = b;
	if ((kind = ops_kind_parse(opblob_op_name((int)b->op))) < 0)
		return err_set(err, ERR_INTERNAL, "op %s passed the blob "
		    "parser but is not an ops kind",
		    opblob_op_name((int)b->op));
	j->kind = (enum ops_kind)kind;
	j->vmid = b->has_guest ? b->guest_id : 0;
	memset(&s, 0, sizeof(s));
	s.op = b->op;
	s.vmid = j->vmid;
	s.params = b->params;
	/*
	 * the facts are the agent's own; a blob's params cannot
	 * claim provenance (the strict parser refuses unknown keys).
	 */
	if ((rc = gate_facts_load(g, &s, &f, err)) != 0)
		return rc;
	gate_classify(&s, &f, &j->v);
	return 0;
}

/*
 * Inside the transaction: creates the op of j in `new` with key;
 * ERR_CONFLICT when the key exists already.
 */
static int
job_create(struct gate *g, const struct job *j, enum ops_source source,
    const char *key, const char *why, int64_t *id_out, struct err *err)
{
	struct ops_new on;

	memset(&on, 0, sizeof(on));
	on.vmid = j->vmid;
	on.kind = j->kind;
	on.source = source;
	on.class = j->v.class == GATE_BENIGN ? OPS_CLASS_BENIGN :
	    OPS_CLASS_DESTRUCTIVE;
	on.params = j->blob->params;
	on.why = why;
	on.idem_key = key;
	on.now = gate_now(g);
	return ops_create(gate_db(g), &on, id_out, err);
}

/*
 * A nonce seen before — consumed by an accepted op, or the key of an op
 * already made from it — is a replay; *seen_out says which key.
 */
static int
nonce_seen(struct db *db, const char *nonce, const char *key, int *seen_out,
    struct err *err)
{
	int64_t id;
	int exists, rc;

	if ((rc = nonces_exists(db, nonce, &exists, err)) != 0)
		return rc;
	if (!exists) {
		rc = ops_find_key(db, key, &id, err);
		if (rc != 0 && rc != ERR_NOT_FOUND)
			return rc;
		exists = rc == 0;
	}
	*seen_out = exists;
	return 0;
}

/* An accepted benign signed job: the nonce alone records the signature. */
static int
accept_benign(struct gate *g, int64_t op_id, const struct verify_result *res,
    struct err *err)
{
	struct audit_event ev;
	json_t *data;
	int64_t now = gate_now(g);
	int rc;

	if ((data = gate_pipeline_data(res)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	memset(&ev, 0, sizeof(ev));
	ev.at = now;
	ev.event = "gate";
	ev.decision = "authorized";
	ev.code = "accepted";
	ev.op_id = op_id;
	ev.vmid = res->blob->has_guest ? res->blob->guest_id : 0;
	ev.actor = INTAKE_ACTOR;
	ev.detail = res->signer;
	ev.data = data;
	rc = audit_append(gate_db(g), &ev, NULL, err);
	json_decref(data);
	if (rc != 0)
		return rc;
	/* consumed in the transaction that accepts the op. */
	if ((rc = verify_consume_nonce(gate_db(g), res->blob->nonce,
	    res->nonce_expires_at, res->signer, op_id, now, err)) != 0)
		return rc;
	crash_point("gate.after_nonce");
	return 0;
}

/*
 * A signed job of a group (issue 15: the signed jobs the hub delivered
 * together are decided in one transaction, one commit).  Verified and
 * classified before the transaction; its verdict written inside it,
 * under a savepoint of its own; logged and counted after the commit.
 */
struct sjob {
	const struct inbox_row	*e;
	struct verify_result	 res;
	struct job		 j;
	struct refusal		 ref;
	int			 refused;	/* ref is the verdict */
	enum { SJ_NONE, SJ_ACCEPTED, SJ_GATE_REFUSED, SJ_REFUSED } out;
	char			 code[GATE_CODE_MAX];
};

/* Before the transaction: verification and classification. */
static int
sjob_prepare(struct gate *g, struct sjob *sj, struct err *err)
{
	struct err lerr;
	int rc;

	err_init(&lerr);
	rc = gate_verify(g, sj->e->blob, sj->e->blob_len, sj->e->signature,
	    strlen(sj->e->signature), NULL, &sj->res, &lerr);
	if (rc == ERR_REJECTED) {
		refuse(&sj->ref, authz_code_name(sj->res.code), "%s",
		    sj->res.msg);
		sj->refused = 1;
		return 0;
	}
	if (rc != 0)
		return err_copy(err, &lerr);
	return job_classify(g, sj->res.blob, &sj->j, err);
}

/* Inside the group's transaction: the refusal recorded (savepoint open). */
static int
sjob_refuse(struct gate *g, struct sjob *sj, struct err *err)
{
	if (sj->ref.data == NULL &&
	    (sj->ref.data = gate_pipeline_data(&sj->res)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	sj->out = SJ_REFUSED;
	return refusal_in_txn(g, sj->e, &sj->ref, err);
}

/*
 * Inside the group's transaction, under the savepoint: the op made and
 * accepted, or the entry refused.  A failure of this entry alone (a
 * replay found meanwhile) undoes its part and records the refusal.
 */
static int
sjob_decide(struct gate *g, struct sjob *sj, struct err *err)
{
	struct db *db = gate_db(g);
	const struct verify_result *res = &sj->res;
	struct gate_classify_opts opts;
	struct gate_result r;
	struct err lerr;
	int64_t op_id = 0;
	int rc, seen;

	if (sj->refused)
		return sjob_refuse(g, sj, err);
	/* The op's idempotency key is its nonce (signed-ops.md). */
	if ((rc = nonce_seen(db, res->blob->nonce, res->blob->nonce, &seen,
	    err)) != 0)
		return rc;
	if (seen) {
		refuse(&sj->ref, authz_code_name(AUTHZ_REPLAY), "nonce "
		    "%.16s... was already used", res->blob->nonce);
		return sjob_refuse(g, sj, err);
	}
	err_init(&lerr);
	if ((rc = job_create(g, &sj->j, OPS_SOURCE_SIGNED, res->blob->nonce,
	    "signed job", &op_id, &lerr)) != 0)
		goto fail_local;
	memset(&opts, 0, sizeof(opts));
	opts.request = sj->e->blob;
	opts.request_len = sj->e->blob_len;
	opts.not_after = res->blob->not_after;
	opts.signed_job = 1;
	opts.actor = INTAKE_ACTOR;
	gate_result_init(&r);
	if ((rc = gate_classify_in_txn(g, op_id, sj->j.kind, sj->j.vmid,
	    res->blob->params, &sj->j.v, &opts, &r, &lerr)) != 0)
		goto fail_local;
	(void) snprintf(sj->code, sizeof(sj->code), "%s", r.code);
	if (sj->j.v.class == GATE_REFUSED) {
		/* Rejected with its code; the signature buys nothing. */
		sj->out = SJ_GATE_REFUSED;
		return mark(db, sj->e->id, INBOX_REJECTED, r.code,
		    sj->j.v.why, err);
	}
	if (sj->j.v.class == GATE_BENIGN)
		rc = accept_benign(g, op_id, res, &lerr);
	else
		rc = gate_accept_in_txn(g, op_id, res, sj->e->signature,
		    INTAKE_ACTOR, &lerr);
	if (rc != 0)
		goto fail_local;
	sj->out = SJ_ACCEPTED;
	return mark(db, sj->e->id, INBOX_TAKEN, "accepted", res->signer, err);
fail_local:
	/* A nonce or key that turned up meanwhile is a replay too. */
	if ((rc == ERR_REJECTED && lerr.reason == AUTHZ_REPLAY) ||
	    rc == ERR_CONFLICT) {
		if ((rc = db_savepoint_undo(db, err)) != 0 ||
		    (rc = db_savepoint(db, err)) != 0)
			return rc;
		refuse(&sj->ref, authz_code_name(AUTHZ_REPLAY), "%s",
		    err_msg(&lerr));
		return sjob_refuse(g, sj, err);
	}
	return err_copy(err, &lerr);
}

/* After the commit: what was decided, said and counted. */
static void
sjob_report(const struct sjob *sj, struct intake_stats *st)
{
	const struct job *j = &sj->j;

	switch (sj->out) {
	case SJ_ACCEPTED:
		st->authorized++;
		log_info("signed-ops entry %" PRId64 ": %s of guest %" PRId64
		    " signed by %s accepted (%s), authorized", sj->e->id,
		    ops_kind_name(j->kind), j->vmid, sj->res.signer,
		    gate_class_name((int)j->v.class));
		break;
	case SJ_GATE_REFUSED:
		st->rejected++;
		log_warn("signed-ops entry %" PRId64 ": %s of guest %" PRId64
		    " refused: %s: %s", sj->e->id, ops_kind_name(j->kind),
		    j->vmid, sj->code, j->v.why);
		break;
	case SJ_REFUSED:
		st->rejected++;
		log_warn("signed-ops entry %" PRId64 " rejected: %s: %s",
		    sj->e->id, sj->ref.code, sj->ref.msg);
		break;
	case SJ_NONE:
		return;
	}
	st->entries++;
}

/*
 * The signed jobs rows[0..n): verified and classified one by one, then
 * decided in one transaction — nothing runs before it commits (the ops
 * are only authorized; their lanes act on them afterwards), so a crash
 * before the commit leaves every entry new, decided again after the
 * restart.  A failure that is not a verdict leaves entries new: one
 * while verifying stops the group before that entry (the ones before it
 * are decided), one inside the transaction undoes the whole group.
 */
static int
take_signed_jobs(struct gate *g, const struct inbox_row *rows, size_t n,
    struct intake_stats *st, struct err *err)
{
	struct db *db = gate_db(g);
	struct sjob *sj;
	struct err perr;
	size_t i, ready;
	int rc = 0, prc = 0;

	if ((sj = calloc(n, sizeof(*sj))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	err_init(&perr);
	for (i = 0; i < n; i++) {
		sj[i].e = &rows[i];
		verify_result_init(&sj[i].res);
	}
	for (ready = 0; ready < n; ready++)
		if ((prc = sjob_prepare(g, &sj[ready], &perr)) != 0)
			break;
	if (ready > 0 && (rc = db_begin(db, err)) == 0) {
		for (i = 0; i < ready && rc == 0; i++)
			if ((rc = db_savepoint(db, err)) == 0 &&
			    (rc = sjob_decide(g, &sj[i], err)) == 0)
				rc = db_savepoint_release(db, err);
		if (rc == 0)
			rc = db_commit(db, err);
		else
			db_rollback(db);
		for (i = 0; i < ready && rc == 0; i++)
			sjob_report(&sj[i], st);
	}
	if (rc == 0 && prc != 0)
		rc = err_copy(err, &perr);
	for (i = 0; i < n; i++) {
		json_decref(sj[i].ref.data);
		verify_result_reset(&sj[i].res);
	}
	free(sj);
	return rc;
}

/*
 * An unsigned job is validated like a signed one except for the
 * signature: this host, a guest that fits the op, inside its window.
 */
static int
check_request(struct gate *g, const struct opblob *b, struct refusal *ref)
{
	int64_t now = gate_now(g), skew, maxw;

	gate_window(g, &skew, &maxw);
	if (strcmp(b->host_id, gate_host_id(g)) != 0) {
		refuse(ref, authz_code_name(AUTHZ_WRONG_HOST), "the blob is "
		    "for host '%s', this host is '%s'", b->host_id,
		    gate_host_id(g));
		return -1;
	}
	if ((b->op == OPBLOB_OP_ROTATE_SIGNERS) == (b->has_guest != 0)) {
		refuse(ref, authz_code_name(AUTHZ_WRONG_GUEST), "%s %s a "
		    "guest_id", opblob_op_name((int)b->op), b->has_guest ?
		    "must not have" : "needs");
		return -1;
	}
	if (now < b->not_before - skew) {
		refuse(ref, authz_code_name(AUTHZ_NOT_YET_VALID), "the "
		    "request is not valid yet");
		return -1;
	}
	if (now > b->not_after + skew) {
		refuse(ref, authz_code_name(AUTHZ_EXPIRED), "the request's "
		    "window has passed");
		return -1;
	}
	if (b->not_after - b->not_before > maxw) {
		refuse(ref, authz_code_name(AUTHZ_WINDOW_TOO_LONG), "the "
		    "request's window is longer than authz.max_window_s");
		return -1;
	}
	return 0;
}

static int
take_request(struct gate *g, const struct inbox_row *e,
    struct intake_stats *st, struct err *err)
{
	struct db *db = gate_db(g);
	struct gate_classify_opts opts;
	struct gate_result r;
	struct opblob *b = NULL;
	struct refusal ref;
	struct job j;
	struct err lerr;
	char key[OPBLOB_NONCE_MAX + sizeof(REQUEST_KEY_PREFIX)];
	int64_t op_id = 0;
	int rc, seen;

	memset(&ref, 0, sizeof(ref));
	err_init(&lerr);
	if ((rc = opblob_parse(e->blob, e->blob_len, &b, &lerr)) ==
	    ERR_REJECTED) {
		refuse(&ref, authz_code_name(lerr.reason), "%s",
		    err_msg(&lerr));
		goto refused;
	}
	if (rc != 0) {
		rc = err_copy(err, &lerr);
		goto out;
	}
	if (check_request(g, b, &ref) != 0)
		goto refused;
	if ((rc = job_classify(g, b, &j, err)) != 0)
		goto out;
	(void) snprintf(key, sizeof(key), "%s%s", REQUEST_KEY_PREFIX,
	    b->nonce);
	if ((rc = db_begin(db, err)) != 0)
		goto out;
	if ((rc = nonce_seen(db, b->nonce, key, &seen, err)) != 0)
		goto fail;
	if (seen) {
		db_rollback(db);
		refuse(&ref, authz_code_name(AUTHZ_REPLAY), "nonce %.16s... "
		    "was already used", b->nonce);
		goto refused;
	}
	if ((rc = job_create(g, &j, OPS_SOURCE_REQUEST, key, "unsigned job "
	    "from the hub", &op_id, &lerr)) != 0)
		goto fail_local;
	/* A destructive request waits with its own blob to be signed. */
	memset(&opts, 0, sizeof(opts));
	opts.request = e->blob;
	opts.request_len = e->blob_len;
	opts.not_after = b->not_after;
	opts.actor = INTAKE_ACTOR;
	gate_result_init(&r);
	if ((rc = gate_classify_in_txn(g, op_id, j.kind, j.vmid, b->params,
	    &j.v, &opts, &r, &lerr)) != 0)
		goto fail_local;
	if ((rc = mark(db, e->id, r.to == SM_REJECTED ? INBOX_REJECTED :
	    INBOX_TAKEN, r.code, j.v.why, err)) != 0 ||
	    (rc = db_commit(db, err)) != 0)
		goto fail;
	if (r.to == SM_PENDING_SIGNATURE)
		st->pending++;
	else if (r.to == SM_AUTHORIZED)
		st->authorized++;
	else if (r.to == SM_REJECTED)
		st->rejected++;
	log_info("signed-ops entry %" PRId64 ": unsigned %s of guest %" PRId64
	    " is %s (%s): %s", e->id, ops_kind_name(j.kind), j.vmid,
	    gate_class_name((int)j.v.class), j.v.why, sm_state_name(r.to));
	goto out;
fail_local:
	db_rollback(db);
	if (rc == ERR_CONFLICT) {
		refuse(&ref, authz_code_name(AUTHZ_REPLAY), "%s",
		    err_msg(&lerr));
		goto refused;
	}
	rc = err_copy(err, &lerr);
	goto out;
refused:
	if ((rc = record_refusal(g, e, &ref, err)) == 0)
		st->rejected++;
	goto out;
fail:
	db_rollback(db);
out:
	json_decref(ref.data);
	opblob_free(b);
	return rc;
}

int
intake_run(struct gate *g, int blocked, struct intake_stats *out,
    struct err *err)
{
	struct intake_stats st;
	struct inbox_row *rows = NULL;
	size_t n = 0, i, k;
	int64_t pruned = 0;
	int rc = 0;

	memset(&st, 0, sizeof(st));
	/* hub-contract "blocked": nothing is decided; entries wait. */
	while (!blocked) {
		if ((rc = inbox_list_new(gate_db(g), INTAKE_BATCH, &rows, &n,
		    err)) != 0)
			break;
		for (i = 0; i < n && rc == 0; i++) {
			if (rows[i].op_ref == NULL && rows[i].signature !=
			    NULL) {
				/* The signed jobs that arrived together. */
				for (k = i + 1; k < n && rows[k].op_ref ==
				    NULL && rows[k].signature != NULL; k++)
					;
				rc = take_signed_jobs(g, &rows[i], k - i, &st,
				    err);
				i = k - 1;
				continue;
			}
			if (rows[i].op_ref != NULL)
				rc = take_approval(g, &rows[i], &st, err);
			else
				rc = take_request(g, &rows[i], &st, err);
			if (rc == 0)
				st.entries++;
		}
		inbox_rows_free(rows, n);
		rows = NULL;
		if (rc != 0 || n < INTAKE_BATCH)
			break;
	}
	/*
	 * a nonce is kept until its blob could no longer pass the
	 * time stage of any process (not_after + the largest skew a
	 * configuration may hold), then pruned.
	 */
	if (rc == 0 && !blocked)
		rc = nonces_prune(gate_db(g), gate_now(g), &pruned, err);
	if (pruned > 0)
		log_debug("intake: %" PRId64 " expired nonce(s) pruned",
		    pruned);
	if (out != NULL)
		*out = st;
	return rc;
}
