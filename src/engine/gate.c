/*
 * gate — park destructive work behind a signature, accept bound
 * signatures with the nonce in the accepting transaction, run signer
 * rotations, keep provenance (R-15, R-27 … R-31).  The classifier
 * itself is gate_classify.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authz/codes.h"
#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz/signers_cache.h"
#include "authz/verify.h"
#include "base/clock.h"
#include "base/crash.h"
#include "base/log.h"
#include "engine/exec.h"
#include "engine/gate.h"
#include "engine/sm.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/kv.h"
#include "store/dbstate.h"
#include "store/nonces.h"
#include "store/ops.h"
#include "store/provenance.h"

struct gate {
	struct db		*db;		/* borrowed */
	const struct clock	*clock;		/* borrowed */
	const struct exec	*exec;		/* borrowed, may be NULL */
	char			*host_id;
	struct verify_config	 vcfg;
	int64_t			 ttl_s;		/* sign request window */
	struct signers_cache	*signers;	/* the live set, parsed */
};

/* ---- the gate object ------------------------------------------------ */

void
gate_config_from(const struct config *cfg, struct gate_config *out)
{
	memset(out, 0, sizeof(*out));
	out->host_id = cfg->host_id;
	out->clock_skew_s = cfg->authz_clock_skew_s;
	out->max_window_s = cfg->authz_max_window_s;
	out->sign_request_ttl_s = cfg->authz_sign_request_ttl_s;
}

int
gate_new(struct db *db, const struct gate_config *cfg,
    const struct clock *clock, const struct exec *exec, struct gate **out,
    struct err *err)
{
	struct gate *g;

	if (db == NULL || cfg == NULL || cfg->host_id == NULL)
		return err_set(err, ERR_INVALID, "gate needs a database and a "
		    "host id");
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->host_id = strdup(cfg->host_id)) == NULL ||
	    (g->signers = signers_cache_new()) == NULL) {
		if (g != NULL)
			free(g->host_id);
		free(g);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	g->db = db;
	g->clock = clock != NULL ? clock : clock_system();
	g->exec = exec != NULL && exec->ops != NULL ? exec : NULL;
	g->vcfg.clock_skew_s = cfg->clock_skew_s >= 0 ? cfg->clock_skew_s :
	    VERIFY_DEFAULT_SKEW_S;
	g->vcfg.max_window_s = cfg->max_window_s > 0 ? cfg->max_window_s :
	    VERIFY_DEFAULT_MAX_WINDOW_S;
	g->ttl_s = cfg->sign_request_ttl_s > 0 ? cfg->sign_request_ttl_s :
	    g->vcfg.max_window_s;
	/* A sign request must pass the window check it will be held to. */
	if (g->ttl_s > g->vcfg.max_window_s)
		g->ttl_s = g->vcfg.max_window_s;
	*out = g;
	return 0;
}

void
gate_free(struct gate *g)
{
	if (g == NULL)
		return;
	signers_cache_free(g->signers);
	free(g->host_id);
	free(g);
}

/* Loads one role's file into set; a file that is not there is empty. */
static int
seed_file(struct signers *set, const char *path, enum signers_role role,
    int *found_out, struct err *err)
{
	struct err lerr;
	int rc;

	*found_out = 0;
	if (path == NULL)
		return 0;
	err_init(&lerr);
	rc = signers_load_file(set, path, role, 0, 0, NULL, NULL, &lerr);
	if (rc == ERR_NOT_FOUND) {
		log_info("%s signers: %s does not exist; none configured",
		    signers_role_name((int)role), path);
		return 0;
	}
	if (rc != 0)
		return err_copy(err, &lerr);
	*found_out = 1;
	return 0;
}

int
gate_signers_seed(struct db *db, const struct config *cfg, int64_t now,
    int *seeded_out, struct err *err)
{
	struct signers *set = NULL;
	char src_op[4200], src_rec[4200];
	int64_t done = 0;
	int found_op, found_rec, seeded = 0, rc;

	if ((rc = kv_get_int(db, KV_SIGNERS_SEEDED, 0, &done, err)) != 0)
		return rc;
	if (done)
		goto out;
	if ((set = signers_new()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = seed_file(set, cfg->authz_operational,
	    SIGNERS_ROLE_OPERATIONAL, &found_op, err)) != 0 ||
	    (rc = seed_file(set, cfg->authz_recovery, SIGNERS_ROLE_RECOVERY,
	    &found_rec, err)) != 0)
		goto out;
	if (signers_count(set) == 0)
		goto out;
	(void) snprintf(src_op, sizeof(src_op), "file:%s",
	    cfg->authz_operational != NULL ? cfg->authz_operational : "-");
	(void) snprintf(src_rec, sizeof(src_rec), "file:%s",
	    cfg->authz_recovery != NULL ? cfg->authz_recovery : "-");
	if ((rc = signers_seed_db(db, set, src_op, src_rec, now, &seeded,
	    err)) != 0)
		goto out;
	/* Seeded once, or already set by a rotation: the files are done. */
	if ((rc = kv_set_int(db, KV_SIGNERS_SEEDED, now, err)) != 0)
		goto out;
	if (seeded)
		log_info("signers seeded from the allowed_signers files: %zu "
		    "operational, %zu recovery", signers_count_role(set,
		    SIGNERS_ROLE_OPERATIONAL), signers_count_role(set,
		    SIGNERS_ROLE_RECOVERY));
out:
	signers_free(set);
	if (rc == 0 && seeded_out != NULL)
		*seeded_out = seeded;
	return rc;
}

struct db *
gate_db(const struct gate *g)
{
	return g->db;
}

int64_t
gate_now(const struct gate *g)
{
	return clock_now(g->clock);
}

const char *
gate_host_id(const struct gate *g)
{
	return g->host_id;
}

void
gate_window(const struct gate *g, int64_t *skew_out, int64_t *max_window_out)
{
	*skew_out = g->vcfg.clock_skew_s;
	*max_window_out = g->vcfg.max_window_s;
}

void
gate_result_init(struct gate_result *r)
{
	memset(r, 0, sizeof(*r));
	r->to = SM__COUNT;
}

static void
result_set(struct gate_result *r, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
result_set(struct gate_result *r, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (r == NULL)
		return;
	(void) snprintf(r->code, sizeof(r->code), "%s", code);
	va_start(ap, fmt);
	(void) vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

/* One direct read: does vmid exist (R-24's rule: only a read proves). */
static enum gate_exists
probe_guest(struct gate *g, int64_t vmid)
{
	struct exec_guest eg;
	struct err xe;
	int rc;

	if (g->exec == NULL || vmid <= 0)
		return GATE_EXISTS_UNKNOWN;
	memset(&eg, 0, sizeof(eg));
	err_init(&xe);
	rc = g->exec->ops->guest_status(g->exec->ctx, vmid, &eg, &xe);
	exec_guest_reset(&eg);
	if (rc == 0)
		return GATE_EXISTS_YES;
	if (rc == ERR_NOT_FOUND)
		return GATE_EXISTS_NO;
	/* Issue 17: in flight; gate_facts_load says so. */
	if (rc == ERR_PENDING)
		return GATE_EXISTS_UNKNOWN;
	log_warn("guest %" PRId64 ": cannot tell whether it exists: %s; "
	    "treated as existing", vmid, err_msg(&xe));
	return GATE_EXISTS_UNKNOWN;
}

int
gate_facts_load(struct gate *g, const struct gate_subject *s,
    struct gate_facts *out, struct err *err)
{
	const char *name;
	int found, rc;

	memset(out, 0, sizeof(*out));
	out->guest = GATE_EXISTS_UNKNOWN;
	if (s->vmid <= 0)
		return 0;
	/* provenance is the agent's own table, nothing else. */
	switch (s->op) {
	case OPBLOB_OP_DELETE_SNAPSHOT:
		name = json_string_value(json_object_get(s->params, "name"));
		if (name == NULL)
			return 0;
		if ((rc = provenance_has(g->db, PROVENANCE_SNAPSHOT, s->vmid,
		    name, &found, NULL, err)) != 0)
			return rc;
		out->agent_snapshot = found;
		return 0;
	case OPBLOB_OP_RESTORE:
		out->guest = probe_guest(g, s->vmid);
		/*
		 * Issue 17: inside the engine's pass the read may be in
		 * flight: nothing is decided before its answer.
		 */
		if (g->exec != NULL && exec_pass_pending(g->exec))
			return err_set(err, ERR_PENDING, "guest %" PRId64
			    ": the existence read is in flight", s->vmid);
		/* FALLTHROUGH */
	case OPBLOB_OP_DESTROY:
	case OPBLOB_OP_ROLLBACK:
		if ((rc = provenance_has(g->db, PROVENANCE_GUEST, s->vmid, "",
		    &found, NULL, err)) != 0)
			return rc;
		out->agent_guest = found;
		return 0;
	default:
		return 0;
	}
}

/* ---- decisions ------------------------------------------------------- */

/*
 * The not_before of a sign request the agent writes: now, or the nonce
 * floor when that is later (just after a restore), so a signature over
 * it is never refused as replay_floor.
 */
static int
request_start(struct gate *g, int64_t now, int64_t *out, struct err *err)
{
	int64_t floor = 0;
	int rc;

	if ((rc = dbstate_floor(g->db, &floor, err)) != 0)
		return rc;
	*out = floor > now ? floor : now;
	return 0;
}

static json_t *
verdict_detail(const struct gate_verdict *v)
{
	return json_pack("{s:s,s:s,s:s}",
	    "class", gate_class_name((int)v->class),
	    "reason", gate_reason_name((int)v->reason), "why", v->why);
}

int
gate_classify_in_txn(struct gate *g, int64_t op_id, enum ops_kind kind,
    int64_t vmid, const json_t *params, const struct gate_verdict *v,
    const struct gate_classify_opts *opts, struct gate_result *out,
    struct err *err)
{
	static const struct gate_classify_opts none;
	const void *request;
	size_t request_len;
	int64_t not_after;
	struct opblob_spec spec;
	struct sm_args a;
	struct err berr;
	enum sm_state to = SM__COUNT;
	json_t *detail = NULL;
	char *blob = NULL;
	size_t blob_len = 0;
	int64_t now = clock_now(g->clock);
	int rc;

	if (opts == NULL)
		opts = &none;
	request = opts->request;
	request_len = opts->request_len;
	not_after = opts->not_after;
	if ((detail = verdict_detail(v)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = ops_set_class(g->db, op_id, v->class == GATE_BENIGN ?
	    OPS_CLASS_BENIGN : OPS_CLASS_DESTRUCTIVE, err)) != 0)
		goto out;
	memset(&a, 0, sizeof(a));
	a.now = now;
	a.detail = detail;
	a.actor = opts->actor;
	if (v->class == GATE_BENIGN) {
		/* benign runs unsigned. */
		a.code = "benign";
		rc = sm_step_in_txn(g->db, op_id, SM_NEW,
		    SM_EV_CLASSIFIED_BENIGN, &a, &to, err);
		result_set(out, "benign", "%s", v->why);
		goto out;
	}
	if (v->class == GATE_REFUSED) {
		/* params no request may carry; signed or not. */
		a.code = "bad_blob";
		a.error_code = "bad_blob";
		a.error = v->why;
		rc = sm_step_in_txn(g->db, op_id, SM_NEW, SM_EV_REFUSED, &a,
		    &to, err);
		result_set(out, "bad_blob", "%s", v->why);
		goto out;
	}
	if (request == NULL) {
		/* The agent writes the exact bytes to sign (signed-ops.md). */
		memset(&spec, 0, sizeof(spec));
		spec.op = gate_op_of_kind(kind);
		spec.host_id = g->host_id;
		spec.has_guest = vmid > 0;
		spec.guest_id = vmid;
		spec.params = params;
		/* Signable: never before the nonce floor. */
		if ((rc = request_start(g, now, &spec.not_before, err)) != 0)
			goto out;
		spec.not_after = spec.not_before + g->ttl_s;
		err_init(&berr);
		if ((rc = opblob_make(&spec, &blob, &blob_len, &berr)) != 0) {
			if (rc != ERR_REJECTED && rc != ERR_INVALID) {
				rc = err_copy(err, &berr);
				goto out;
			}
			/* No blob can say it, so no one can sign it. */
			a.code = "bad_blob";
			a.error_code = "bad_blob";
			a.error = err_msg(&berr);
			rc = sm_step_in_txn(g->db, op_id, SM_NEW,
			    SM_EV_REFUSED, &a, &to, err);
			result_set(out, "bad_blob", "%s", err_msg(&berr));
			goto out;
		}
		request = blob;
		request_len = blob_len;
		not_after = spec.not_after;
	}
	/* destructive waits for a signature, never executed before. */
	a.code = opts->signed_job ? "destructive" : "unsigned_destructive";
	a.blob = request;
	a.blob_len = request_len;
	a.not_after = not_after;
	rc = sm_step_in_txn(g->db, op_id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE,
	    &a, &to, err);
	result_set(out, a.code, "%s", v->why);
out:
	if (rc == 0 && out != NULL) {
		out->op_id = op_id;
		out->to = to;
		out->verdict = *v;
	}
	free(blob);
	json_decref(detail);
	return rc;
}

int
gate_decide(struct gate *g, const struct ops_row *op, struct gate_result *out,
    struct err *err)
{
	struct gate_subject s;
	struct gate_facts f;
	struct gate_verdict v;
	struct gate_result r;
	int rc;

	gate_result_init(&r);
	if (sm_state_parse(op->state) != SM_NEW)
		return err_set(err, ERR_CONFLICT, "%s is %s, not new",
		    op->uid, op->state);
	memset(&s, 0, sizeof(s));
	s.op = gate_op_of_kind(op->kind);
	s.vmid = op->vmid;
	s.params = op->params;
	/* Reads (provenance, one PVE read) come before the transaction. */
	if ((rc = gate_facts_load(g, &s, &f, err)) != 0)
		return rc;
	gate_classify(&s, &f, &v);
	if ((rc = db_begin(g->db, err)) != 0)
		return rc;
	if ((rc = gate_classify_in_txn(g, op->id, op->kind, op->vmid,
	    op->params, &v, NULL, &r, err)) != 0 ||
	    (rc = db_commit(g->db, err)) != 0) {
		db_rollback(g->db);
		return rc;
	}
	(void) snprintf(r.uid, sizeof(r.uid), "%s", op->uid);
	log_info("%s: %s %s of guest %" PRId64 ": %s -> %s (%s)", op->uid,
	    gate_class_name((int)v.class), ops_kind_name(op->kind), op->vmid,
	    v.why, sm_state_name(r.to), r.code);
	if (out != NULL)
		*out = r;
	return 0;
}

int
gate_verify(struct gate *g, const void *blob, size_t len, const char *sig,
    size_t siglen, const struct verify_binding *binding,
    struct verify_result *res, struct err *err)
{
	struct verify_input in;
	const struct signers *set = NULL;
	int rc;

	/*
	 * the live set is the table, read again for every
	 * verification (a rotation counts at once); parsed again only
	 * when its rows changed.
	 */
	if ((rc = signers_cache_get(g->signers, g->db, &set, err)) != 0)
		return rc;
	memset(&in, 0, sizeof(in));
	in.blob = blob;
	in.blob_len = len;
	in.signature = sig;
	in.signature_len = siglen;
	in.host_id = g->host_id;
	in.binding = binding;
	in.now = clock_now(g->clock);
	in.config = &g->vcfg;
	in.signers = set;
	if ((rc = dbstate_floor(g->db, &in.nonce_floor, err)) != 0)
		return rc;
	return verify_run(&in, res, err);
}

int
gate_accept_in_txn(struct gate *g, int64_t op_id,
    const struct verify_result *res, const char *sig, const char *actor,
    struct err *err)
{
	struct sm_args a;
	json_t *detail;
	int64_t now = clock_now(g->clock);
	int rc;

	if (res->blob == NULL || res->code != AUTHZ_ACCEPTED)
		return err_set(err, ERR_INTERNAL, "accepting a signature the "
		    "pipeline did not pass");
	if ((detail = json_pack("{s:s,s:s,s:s}", "role",
	    signers_role_name((int)res->role), "fingerprint",
	    res->fingerprint, "nonce", res->blob->nonce)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	memset(&a, 0, sizeof(a));
	a.now = now;
	a.detail = detail;
	a.actor = actor;
	a.code = "accepted";
	a.signature = sig;
	a.signer = res->signer;
	a.nonce = res->blob->nonce;
	rc = sm_step_in_txn(g->db, op_id, SM_PENDING_SIGNATURE,
	    SM_EV_SIGNATURE_ACCEPTED, &a, NULL, err);
	json_decref(detail);
	if (rc != 0)
		return rc;
	/* Stage 10, LAST, in the transaction that authorizes. */
	if ((rc = verify_consume_nonce(g->db, res->blob->nonce,
	    res->nonce_expires_at, res->signer, op_id, now, err)) != 0)
		return rc;
	crash_point("gate.after_nonce");
	return 0;
}

int
gate_reject_in_txn(struct gate *g, int64_t op_id, const char *code,
    const char *msg, const char *actor, const json_t *data, struct err *err)
{
	struct audit_event ev;
	struct sm_args a;
	struct ops_row *op = NULL;
	int rc;

	if (op_id > 0 && (rc = ops_get(g->db, op_id, &op, err)) != 0)
		return rc;
	if (op != NULL && sm_state_parse(op->state) == SM_PENDING_SIGNATURE) {
		/* audited against the op, which keeps waiting. */
		memset(&a, 0, sizeof(a));
		a.now = clock_now(g->clock);
		a.detail = data;
		a.actor = actor;
		a.code = code;
		a.error_code = code;
		a.error = msg;
		rc = sm_step_in_txn(g->db, op_id, SM_PENDING_SIGNATURE,
		    SM_EV_SIGNATURE_REJECTED, &a, NULL, err);
		goto out;
	}
	memset(&ev, 0, sizeof(ev));
	ev.at = clock_now(g->clock);
	ev.event = "verify";
	ev.decision = "rejected";
	ev.code = code;
	ev.op_id = op != NULL ? op->id : 0;
	ev.vmid = op != NULL ? op->vmid : 0;
	ev.actor = actor;
	ev.detail = msg;
	ev.data = data;
	rc = audit_append(g->db, &ev, NULL, err);
out:
	ops_row_free(op);
	return rc;
}

json_t *
gate_pipeline_data(const struct verify_result *res)
{
	json_t *d = json_object();

	if (d == NULL)
		return NULL;
	if (json_object_set_new(d, "stage", json_string(verify_stage_name(
	    (int)res->stage))) != 0 ||
	    (res->has_key && json_object_set_new(d, "fingerprint",
	    json_string(res->fingerprint)) != 0) ||
	    (res->has_signer && json_object_set_new(d, "signer",
	    json_string(res->signer)) != 0) ||
	    (res->blob != NULL && json_object_set_new(d, "nonce",
	    json_string(res->blob->nonce)) != 0)) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* Records a verdict against in its own transaction, with the hook. */
static int
record_rejection(struct gate *g, int64_t op_id, const char *actor,
    const json_t *data, gate_txn_hook hook, void *hook_ctx,
    struct gate_result *r, struct err *err)
{
	int rc;

	if ((rc = db_begin(g->db, err)) != 0)
		return rc;
	if ((rc = gate_reject_in_txn(g, op_id, r->code, r->msg, actor, data,
	    err)) != 0 || (hook != NULL && (rc = hook(g->db, hook_ctx, r,
	    err)) != 0) || (rc = db_commit(g->db, err)) != 0) {
		db_rollback(g->db);
		return rc;
	}
	log_warn("%s%s%s: signature rejected: %s: %s", r->uid[0] != '\0' ?
	    r->uid : "signed op", actor != NULL ? " from " : "",
	    actor != NULL ? actor : "", r->code, r->msg);
	return 0;
}

int
gate_approve(struct gate *g, const char *uid, const void *blob, size_t len,
    const char *sig, size_t siglen, const char *actor, gate_txn_hook hook,
    void *hook_ctx, struct gate_result *out, struct err *err)
{
	struct verify_result res;
	struct verify_binding bd;
	struct ops_row *op = NULL;
	struct gate_result r;
	struct err lerr;
	char state[OPS_STATE_MAX];
	json_t *data = NULL;
	int64_t op_id = 0;
	int rc, exists = 0;

	verify_result_init(&res);
	gate_result_init(&r);
	err_init(&lerr);
	if ((rc = ops_get_uid(g->db, uid, &op, &lerr)) == ERR_NOT_FOUND) {
		result_set(&r, "unknown_op", "no operation %s on this host",
		    uid);
		goto rejected;
	}
	if (rc != 0) {
		rc = err_copy(err, &lerr);
		goto out;
	}
	op_id = op->id;
	(void) snprintf(r.uid, sizeof(r.uid), "%s", op->uid);
	r.op_id = op->id;
	/* the signature must say what the pending op is. */
	memset(&bd, 0, sizeof(bd));
	bd.op = gate_op_of_kind(op->kind);
	bd.has_guest = op->vmid > 0;
	bd.guest_id = op->vmid;
	bd.params = op->params;
	rc = gate_verify(g, blob, len, sig, siglen, &bd, &res, &lerr);
	if (rc == ERR_REJECTED) {
		r.authz = res.code;
		result_set(&r, authz_code_name(res.code), "%s", res.msg);
		goto rejected;
	}
	if (rc != 0) {
		rc = err_copy(err, &lerr);
		goto out;
	}
	if ((rc = db_begin(g->db, err)) != 0)
		goto out;
	/* Decided under the write lock: felhom-admin and the agent race. */
	if ((rc = ops_get_state(g->db, op_id, state, err)) != 0 ||
	    (rc = nonces_exists(g->db, res.blob->nonce, &exists, err)) != 0) {
		db_rollback(g->db);
		goto out;
	}
	if (exists || sm_state_parse(state) != SM_PENDING_SIGNATURE) {
		db_rollback(g->db);
		if (exists) {
			r.authz = AUTHZ_REPLAY;
			result_set(&r, "replay", "nonce %.16s... was already "
			    "used by an accepted operation", res.blob->nonce);
		} else
			result_set(&r, "not_pending", "%s is %s, not waiting "
			    "for a signature", uid, state);
		goto rejected;
	}
	rc = gate_accept_in_txn(g, op_id, &res, sig, actor, &lerr);
	if (rc == 0) {
		result_set(&r, "accepted", "signed by %s", res.signer);
		r.to = SM_AUTHORIZED;
		if ((hook == NULL || (rc = hook(g->db, hook_ctx, &r, err)) ==
		    0) && (rc = db_commit(g->db, err)) == 0) {
			log_info("%s: signature of %s accepted%s%s, authorized",
			    uid, res.signer, actor != NULL ? " from " : "",
			    actor != NULL ? actor : "");
			goto done;
		}
		db_rollback(g->db);
		goto out;
	}
	db_rollback(g->db);
	if (rc == ERR_REJECTED) {
		r.authz = lerr.reason;
		result_set(&r, authz_code_name(lerr.reason), "%s",
		    err_msg(&lerr));
		goto rejected;
	}
	if (rc == ERR_CONFLICT) {
		result_set(&r, "not_pending", "%s left pending_signature "
		    "meanwhile", uid);
		goto rejected;
	}
	rc = err_copy(err, &lerr);
	goto out;
rejected:
	if ((data = gate_pipeline_data(&res)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = record_rejection(g, op_id, actor, data, hook, hook_ctx, &r,
	    err)) != 0)
		goto out;
	rc = err_setr(err, ERR_REJECTED, r.authz, 0, "%s: %s", r.code,
	    r.msg);
done:
	if (op != NULL && r.to == SM__COUNT && rc == ERR_REJECTED) {
		/* The op stays where it was. */
		if (ops_get_state(g->db, op_id, state, NULL) == 0 &&
		    sm_state_parse(state) >= 0)
			r.to = (enum sm_state)sm_state_parse(state);
	}
	if (out != NULL)
		*out = r;
out:
	json_decref(data);
	ops_row_free(op);
	verify_result_reset(&res);
	return rc;
}

int
gate_hold_for_review(struct gate *g, size_t *held_out, struct err *err)
{
	struct ops_row **ops = NULL;
	struct opblob_spec spec;
	struct sm_args a;
	struct err berr;
	char *blob = NULL;
	size_t n = 0, i, held = 0, blob_len;
	int64_t now = clock_now(g->clock);
	enum sm_state s;
	int rc;

	if ((rc = ops_list_active(g->db, &ops, &n, err)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		s = (enum sm_state)sm_state_parse(ops[i]->state);
		if (s != SM_PENDING_SIGNATURE && !(s == SM_AUTHORIZED &&
		    ops[i]->class == OPS_CLASS_DESTRUCTIVE))
			continue;
		/* The agent's own sign request, valid from now. */
		memset(&spec, 0, sizeof(spec));
		spec.op = gate_op_of_kind(ops[i]->kind);
		spec.host_id = g->host_id;
		spec.has_guest = ops[i]->vmid > 0;
		spec.guest_id = ops[i]->vmid;
		spec.params = ops[i]->params;
		if ((rc = request_start(g, now, &spec.not_before, err)) != 0)
			goto out;
		spec.not_after = spec.not_before + g->ttl_s;
		err_init(&berr);
		if ((rc = opblob_make(&spec, &blob, &blob_len, &berr)) != 0) {
			if (rc == ERR_NOMEM)
				goto out;
			log_warn("%s: no sign request can be made for it (%s); "
			    "held as it is", ops[i]->uid, err_msg(&berr));
			continue;
		}
		memset(&a, 0, sizeof(a));
		a.now = now;
		a.code = "restored";
		a.blob = blob;
		a.blob_len = blob_len;
		a.not_after = spec.not_after;
		a.error = "the database was restored: signed again before it "
		    "runs";
		rc = sm_step(g->db, ops[i]->id, s, SM_EV_REVIEW_HOLD, &a, NULL,
		    err);
		free(blob);
		blob = NULL;
		if (rc == ERR_CONFLICT || rc == ERR_TRANSITION)
			continue;
		if (rc != 0)
			goto out;
		held++;
	}
	if (held_out != NULL)
		*held_out = held;
	rc = 0;
out:
	free(blob);
	ops_rows_free(ops, n);
	return rc;
}

/* ---- host-scoped ops: signer rotation ------------------------------- */

struct rotation {
	struct signers		*set;
	enum opblob_rotate_kind	 kind;
	int			 has_op;
	int			 has_rec;
};

static int
rotation_apply(struct gate *g, const struct ops_row *op,
    const struct rotation *rot, int64_t now, struct err *err)
{
	struct audit_event ev;
	char source[64];
	json_t *data = NULL;
	int rc;

	(void) snprintf(source, sizeof(source), "rotate:%s", op->uid);
	if (rot->has_op && (rc = signers_save_role(g->db,
	    SIGNERS_ROLE_OPERATIONAL, rot->set, source, now, err)) != 0)
		return rc;
	if (rot->has_rec && (rc = signers_save_role(g->db,
	    SIGNERS_ROLE_RECOVERY, rot->set, source, now, err)) != 0)
		return rc;
	if ((data = json_pack("{s:s,s:o,s:o}", "kind",
	    opblob_rotate_kind_name((int)rot->kind), "operational",
	    rot->has_op ? json_integer((json_int_t)signers_count_role(rot->set,
	    SIGNERS_ROLE_OPERATIONAL)) : json_null(), "recovery",
	    rot->has_rec ? json_integer((json_int_t)signers_count_role(rot->set,
	    SIGNERS_ROLE_RECOVERY)) : json_null())) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	memset(&ev, 0, sizeof(ev));
	ev.at = now;
	ev.event = "signers";
	ev.decision = "replaced";
	ev.code = "rotated";
	ev.op_id = op->id;
	ev.detail = "signer set replaced by a verified rotate_signers op";
	ev.data = data;
	rc = audit_append(g->db, &ev, NULL, err);
	json_decref(data);
	return rc;
}

int
gate_run_host_op(struct gate *g, const struct ops_row *op, struct err *err)
{
	struct rotation rot;
	struct sm_args a;
	struct err perr;
	int64_t now = clock_now(g->clock);
	int rc, bad;

	if (op->kind != OPS_KIND_ROTATE_SIGNERS)
		return err_set(err, ERR_UNSUPPORTED, "%s: %s is not a "
		    "host-scoped op the agent runs itself", op->uid,
		    ops_kind_name(op->kind));
	if (sm_state_parse(op->state) != SM_AUTHORIZED)
		return err_set(err, ERR_CONFLICT, "%s is %s, not authorized",
		    op->uid, op->state);
	memset(&rot, 0, sizeof(rot));
	if ((rot.set = signers_new()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	err_init(&perr);
	bad = opblob_check_params(OPBLOB_OP_ROTATE_SIGNERS, op->params,
	    rot.set, &rot.kind, &rot.has_op, &rot.has_rec, &perr);
	if (bad == ERR_NOMEM) {
		rc = err_copy(err, &perr);
		goto out;
	}
	/* a planned rotation replaces the operational set only. */
	if (bad == 0 && rot.kind == OPBLOB_ROTATE_PLANNED && rot.has_rec)
		bad = err_set(&perr, ERR_REJECTED, "a planned rotation may "
		    "replace the operational set only");
	if ((rc = db_begin(g->db, err)) != 0)
		goto out;
	memset(&a, 0, sizeof(a));
	a.now = now;
	/* Write-ahead and outcome commit together: nothing runs outside. */
	if ((rc = sm_step_in_txn(g->db, op->id, SM_AUTHORIZED, SM_EV_SUBMIT,
	    &a, NULL, err)) != 0)
		goto fail;
	if (bad != 0) {
		a.error_code = "bad_params";
		a.error = err_msg(&perr);
		rc = sm_step_in_txn(g->db, op->id, SM_SUBMITTING,
		    SM_EV_FATAL_ERROR, &a, NULL, err);
	} else if ((rc = rotation_apply(g, op, &rot, now, err)) == 0)
		rc = sm_step_in_txn(g->db, op->id, SM_SUBMITTING,
		    SM_EV_SYNC_DONE, &a, NULL, err);
	if (rc != 0 || (rc = db_commit(g->db, err)) != 0)
		goto fail;
	if (bad != 0)
		log_warn("%s: rotate_signers failed: %s", op->uid,
		    err_msg(&perr));
	else
		log_info("%s: signer set replaced (%s rotation: operational "
		    "%s, recovery %s)", op->uid,
		    opblob_rotate_kind_name((int)rot.kind),
		    rot.has_op ? "replaced" : "kept",
		    rot.has_rec ? "replaced" : "kept");
	goto out;
fail:
	db_rollback(g->db);
out:
	signers_free(rot.set);
	return rc;
}

/* ---- provenance, inside the transitions ----------------------------- */

static int
safety_record(struct db *db, const struct ops_row *op, const json_t *safety,
    int64_t now, struct err *err)
{
	const char *name;

	if ((name = json_string_value(json_object_get(safety,
	    "snapshot"))) != NULL)
		return provenance_record(db, PROVENANCE_SNAPSHOT, op->vmid,
		    name, op->id, now, err);
	if ((name = json_string_value(json_object_get(safety,
	    "backup"))) != NULL)
		return provenance_record(db, PROVENANCE_BACKUP, op->vmid, name,
		    op->id, now, err);
	return 0;
}

/*
 * R-31 (issue 10, hole 3): a safety copy is the agent's to delete only
 * while it is redundant.  Once its op ends failed or cancelled — the
 * overwrite failed without a successful undo, or may have run — the
 * copy can be the only record of the guest's prior state: customer
 * data.  Its provenance row goes in the transaction that records the
 * end, audited, so deleting the copy from then on needs a signature.
 */
static int
safety_retire(struct db *db, const struct ops_row *op,
    const struct sm_args *a, struct err *err)
{
	struct audit_event ev;
	enum provenance_kind kind = PROVENANCE_SNAPSHOT;
	const char *name;
	char text[320];
	json_t *data = NULL;
	int64_t n = 0;
	int rc;

	if ((name = json_string_value(json_object_get(op->safety,
	    "snapshot"))) == NULL) {
		kind = PROVENANCE_BACKUP;
		name = json_string_value(json_object_get(op->safety,
		    "backup"));
	}
	if (name == NULL)
		return 0;
	if ((rc = provenance_forget(db, kind, op->vmid, name, &n, err)) != 0)
		return rc;
	if (n == 0)
		return 0;	/* not (or no longer) the agent's */
	(void) snprintf(text, sizeof(text), "%s: the overwrite of guest %"
	    PRId64 " ended %s without a successful undo; safety %s %s is "
	    "the customer's now and deleting it needs a signature", op->uid,
	    op->vmid, op->state, provenance_kind_name((int)kind), name);
	if ((data = json_pack("{s:s,s:s,s:s}", "kind",
	    provenance_kind_name((int)kind), "name", name, "state",
	    op->state)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	memset(&ev, 0, sizeof(ev));
	ev.at = a->now;
	ev.event = "provenance";
	ev.decision = "retired";
	ev.code = "safety_copy_retired";
	ev.op_id = op->id;
	ev.vmid = op->vmid;
	ev.actor = a->actor;
	ev.detail = text;
	ev.data = data;
	rc = audit_append(db, &ev, NULL, err);
	json_decref(data);
	return rc;
}

/* What the agent created or deleted when op succeeded. */
static int
success_record(struct db *db, const struct ops_row *op,
    const struct sm_args *a, struct err *err)
{
	const char *name = json_string_value(json_object_get(op->params,
	    "name"));
	const char *snap = json_string_value(json_object_get(op->safety,
	    "snapshot"));
	int internal = op->source == OPS_SOURCE_INTERNAL, rc;
	int64_t now = a->now;

	/*
	 * The safety snapshot was dropped by the op's last step,
	 * unless the drop failed and kept it: then it stays the agent's.
	 */
	if (json_object_get(a->detail, "safety_kept") != NULL)
		snap = NULL;
	if (snap != NULL && (rc = provenance_forget(db, PROVENANCE_SNAPSHOT,
	    op->vmid, snap, NULL, err)) != 0)
		return rc;
	switch (op->kind) {
	case OPS_KIND_DESTROY:
		/* The vmid is free again: nothing there is the agent's. */
		if ((rc = provenance_forget(db, PROVENANCE_GUEST, op->vmid,
		    NULL, NULL, err)) != 0)
			return rc;
		return provenance_forget(db, PROVENANCE_SNAPSHOT, op->vmid,
		    NULL, NULL, err);
	case OPS_KIND_DELETE_SNAPSHOT:
		return name == NULL ? 0 : provenance_forget(db,
		    PROVENANCE_SNAPSHOT, op->vmid, name, NULL, err);
	case OPS_KIND_PROVISION:
	case OPS_KIND_RESTORE:
		/*
		 * Only the agent's own work (a restore test's scratch guest)
		 * makes a guest the agent's; a desired or signed one is the
		 * customer's.
		 */
		if (!internal)
			return 0;
		return provenance_record(db, PROVENANCE_GUEST, op->vmid, "",
		    op->id, now, err);
	case OPS_KIND_SNAPSHOT:
		if (!internal || name == NULL)
			return 0;
		return provenance_record(db, PROVENANCE_SNAPSHOT, op->vmid,
		    name, op->id, now, err);
	default:
		return 0;
	}
}

int
gate_provenance_hook(struct db *db, int64_t op_id, enum sm_event event,
    const struct sm_args *a, struct err *err)
{
	struct ops_row *op = NULL;
	int rc;

	switch (event) {
	case SM_EV_STEP_DONE:
	case SM_EV_SYNC_STEP_DONE:
		if (a->safety == NULL)
			return 0;
		break;
	case SM_EV_TASK_OK:
	case SM_EV_TASK_WARNINGS:
	case SM_EV_SYNC_DONE:
	/* The ends that are not a success (nor a finished undo). */
	case SM_EV_FATAL_ERROR:
	case SM_EV_ATTEMPTS_EXHAUSTED:
	case SM_EV_TASK_FAILED:
	case SM_EV_UNDO_FAILED:
	case SM_EV_ABANDON:
		break;
	default:
		return 0;
	}
	/* After the compare-and-set: op->state is where the op went. */
	if ((rc = ops_get(db, op_id, &op, err)) != 0)
		return rc;
	if (op->vmid <= 0)
		rc = 0;
	else if (event == SM_EV_STEP_DONE || event == SM_EV_SYNC_STEP_DONE)
		rc = safety_record(db, op, a->safety, a->now, err);
	else if (event == SM_EV_TASK_OK || event == SM_EV_TASK_WARNINGS ||
	    event == SM_EV_SYNC_DONE)
		rc = success_record(db, op, a, err);
	else if (op->safety != NULL && sm_is_terminal((enum sm_state)
	    sm_state_parse(op->state)))
		rc = safety_retire(db, op, a, err);
	else
		rc = 0;
	ops_row_free(op);
	return rc;
}
