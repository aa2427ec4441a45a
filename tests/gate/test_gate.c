/*
 * test_gate — the reversibility gate without a network (R-27 … R-29,
 * the classifier on a table of cases, decisions on `new` ops
 * (benign, destructive with the agent's own sign request, provenance,
 * restore over an existing or a free vmid, unsignable), the provenance
 * hook of the state machine, and rotate_signers run in-process.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "authz/opblob.h"
#include "authz/signers.h"
#include "authz_tu.h"
#include "base/config.h"
#include "base/log.h"
#include "engine/engine.h"
#include "engine/gate.h"
#include "engine/sm.h"
#include "etu.h"
#include "fake_exec.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/journal.h"
#include "store/ops.h"
#include "store/provenance.h"
#include "store/signers_db.h"
#include "testutil.h"

#define T0	1795852800		/* 2026-11-28T08:00:00Z */
#define HOST	"pve-01"
#define TTL	7200

/* ---- the classifier, as a table ------------------------------------- */

struct ccase {
	enum opblob_op	 op;
	const char	*params;
	enum gate_exists guest;
	int		 agent_guest;
	int		 agent_snapshot;
	enum gate_class	 want;
	enum gate_reason reason;
};

static const struct ccase ccases[] = {
	/* op			params				guest		ag as	want		reason */
	{ OPBLOB_OP_START,	"{}",				GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_NO_DATA_LOST },
	{ OPBLOB_OP_STOP,	"{\"mode\":\"stop\"}",		GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_NO_DATA_LOST },
	{ OPBLOB_OP_SNAPSHOT,	"{\"name\":\"s1\"}",		GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_NO_DATA_LOST },
	{ OPBLOB_OP_BACKUP,	"{\"storage\":\"pbs\",\"mode\":\"snapshot\"}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_NO_DATA_LOST },
	{ OPBLOB_OP_PROVISION,	"{\"template\":\"local:vztmpl/d.tar.zst\",\"storage\":\"local-lvm\",\"spec\":{}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CREATES },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"cores\":2}}",	GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"description\",\"tags\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"tags\",\"description\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"cores\":2,\"onboot\":true,\"net0\":\"name=eth0,bridge=vmbr0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"mpx\",\"unused\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	/* PVE's request parameters inside set (issue 10, hole 1). */
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"delete\":\"mp0,unused0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"revert\":\"mp0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"digest\":\"00\",\"cores\":1}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"Delete\":\"mp0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"cores\":2},\"revert\":[\"mp0\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"mp0,unused0\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"tags mp0\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	/* Setting a volume key attaches or replaces a volume. */
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"mp1\":\"local-lvm:vm-102-disk-0,mp=/x\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"rootfs\":\"local-lvm:vm-102-disk-0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"unused0\":\"local-lvm:vm-102-disk-0\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME },
	/* A bind mount attaches a host directory; a replaced volume stays unusedN (issue 12). */
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"mp0\":\"/mnt/bindmounts/media,mp=/media\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"mp0\":\"volume=/mnt/bindmounts/a,mp=/a\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"mp0\":\"/dev/sdb1,mp=/d\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"rootfs\":\"/srv/root\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME },
	/* A passed-through device holds no data: attaching or removing it is benign. */
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"dev0\":\"usb:046d:c52b\"}}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"dev1\":\"/dev/bus/usb/001/004\"},\"delete\":[\"dev0\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_BENIGN, GATE_R_CONFIG },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"dev0\",\"mp0\"]}",	GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_DATA },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"mp0\"]}",	GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_DATA },
	{ OPBLOB_OP_SET_CONFIG,	"{\"set\":{\"cores\":2},\"delete\":[\"tags\",\"unused3\"]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_CONFIG_DATA },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":[\"mp12\"]}",	GATE_EXISTS_UNKNOWN, 1, 1, GATE_DESTRUCTIVE, GATE_R_CONFIG_DATA },
	{ OPBLOB_OP_SET_CONFIG,	"{\"delete\":\"mp0\"}",		GATE_EXISTS_UNKNOWN, 0, 0, GATE_REFUSED, GATE_R_BAD_PARAMS },
	{ OPBLOB_OP_DELETE_SNAPSHOT, "{\"name\":\"pre-upgrade\"}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_SNAPSHOT },
	{ OPBLOB_OP_DELETE_SNAPSHOT, "{\"name\":\"pre-upgrade\"}", GATE_EXISTS_YES, 1, 0, GATE_DESTRUCTIVE, GATE_R_SNAPSHOT },
	{ OPBLOB_OP_DELETE_SNAPSHOT, "{\"name\":\"felhom_safety_1\"}", GATE_EXISTS_UNKNOWN, 0, 1, GATE_BENIGN, GATE_R_AGENT_SNAPSHOT },
	{ OPBLOB_OP_ROLLBACK,	"{\"snapshot\":\"pre-upgrade\"}", GATE_EXISTS_YES, 0, 0, GATE_DESTRUCTIVE, GATE_R_ROLLBACK },
	{ OPBLOB_OP_ROLLBACK,	"{\"snapshot\":\"s\",\"no_safety\":true}", GATE_EXISTS_YES, 0, 1, GATE_DESTRUCTIVE, GATE_R_ROLLBACK },
	{ OPBLOB_OP_ROLLBACK,	"{\"snapshot\":\"s\"}", GATE_EXISTS_YES, 1, 0, GATE_BENIGN, GATE_R_AGENT_GUEST },
	{ OPBLOB_OP_RESTORE,	"{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}", GATE_EXISTS_NO, 0, 0, GATE_BENIGN, GATE_R_RESTORE_FRESH },
	{ OPBLOB_OP_RESTORE,	"{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}", GATE_EXISTS_YES, 0, 0, GATE_DESTRUCTIVE, GATE_R_RESTORE_OVERWRITE },
	{ OPBLOB_OP_RESTORE,	"{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_RESTORE_UNPROVEN },
	{ OPBLOB_OP_RESTORE,	"{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}", GATE_EXISTS_YES, 1, 0, GATE_BENIGN, GATE_R_AGENT_GUEST },
	{ OPBLOB_OP_DESTROY,	"{\"purge\":true}",		GATE_EXISTS_YES, 0, 0, GATE_DESTRUCTIVE, GATE_R_GUEST },
	{ OPBLOB_OP_DESTROY,	"{\"purge\":true}",		GATE_EXISTS_YES, 1, 0, GATE_BENIGN, GATE_R_AGENT_GUEST },
	/* A provenance claim in params is no provenance. */
	{ OPBLOB_OP_DESTROY,	"{\"purge\":true,\"scratch\":true,\"provenance\":\"agent\"}", GATE_EXISTS_YES, 0, 0, GATE_DESTRUCTIVE, GATE_R_GUEST },
	{ OPBLOB_OP_DELETE_SNAPSHOT, "{\"name\":\"x\",\"provenance\":\"agent\"}", GATE_EXISTS_YES, 0, 0, GATE_DESTRUCTIVE, GATE_R_SNAPSHOT },
	{ OPBLOB_OP_ROTATE_SIGNERS, "{\"kind\":\"planned\",\"operational\":[]}", GATE_EXISTS_UNKNOWN, 0, 0, GATE_DESTRUCTIVE, GATE_R_ROTATION },
	{ OPBLOB_OP_UNKNOWN,	"{}",				GATE_EXISTS_UNKNOWN, 1, 1, GATE_DESTRUCTIVE, GATE_R_UNKNOWN },
};

START_TEST(gate_classify_table)
{
	const struct ccase *c = &ccases[_i];
	struct gate_subject s;
	struct gate_facts f;
	struct gate_verdict v;
	json_t *params = json_loads(c->params, 0, NULL);

	ck_assert_ptr_nonnull(params);
	memset(&s, 0, sizeof(s));
	s.op = c->op;
	s.vmid = c->op == OPBLOB_OP_ROTATE_SIGNERS ? 0 : 101;
	s.params = params;
	memset(&f, 0, sizeof(f));
	f.guest = c->guest;
	f.agent_guest = c->agent_guest;
	f.agent_snapshot = c->agent_snapshot;
	gate_classify(&s, &f, &v);
	ck_assert_msg(v.class == c->want && v.reason == c->reason,
	    "case %d (%s %s): got %s/%s, want %s/%s", _i,
	    opblob_op_name((int)c->op), c->params,
	    gate_class_name((int)v.class),
	    gate_reason_name((int)v.reason), gate_class_name((int)c->want),
	    gate_reason_name((int)c->reason));
	ck_assert_uint_gt(strlen(v.why), 0);
	json_decref(params);
}
END_TEST

struct kcase {
	const char	*key;
	int		 data;
};

static const struct kcase kcases[] = {
	{ "mp0", 1 }, { "mp10", 1 }, { "mp255", 1 }, { "unused0", 1 },
	{ "unused17", 1 }, { "rootfs", 1 }, { "mp", 0 }, { "mpa", 0 },
	{ "mp0x", 0 }, { "unused", 0 }, { "net0", 0 }, { "memory", 0 },
	{ "", 0 }, { "xmp0", 0 }, { "MP0", 1 }, { "Unused3", 1 },
	{ "ROOTFS", 1 },
};

START_TEST(gate_data_keys_are_mpN_unusedN)
{
	ck_assert_msg(gate_is_data_key(kcases[_i].key) == kcases[_i].data,
	    "key '%s'", kcases[_i].key);
	ck_assert_int_eq(gate_is_data_key(NULL), 0);
}
END_TEST

START_TEST(gate_names_cover_every_value)
{
	int i;

	for (i = 0; i < GATE_R__COUNT; i++)
		ck_assert_str_ne(gate_reason_name(i), "unknown");
	ck_assert_str_eq(gate_reason_name(GATE_R__COUNT), "unknown");
	ck_assert_str_eq(gate_class_name(GATE_BENIGN), "benign");
	ck_assert_str_eq(gate_class_name(GATE_DESTRUCTIVE), "destructive");
	ck_assert_str_eq(gate_class_name(GATE_REFUSED), "refused");
	ck_assert_str_eq(gate_class_name(-1), "unknown");
	for (i = 0; i < OPS_KIND__COUNT; i++)
		ck_assert_int_ne(gate_op_of_kind((enum ops_kind)i),
		    OPBLOB_OP_UNKNOWN);
}
END_TEST

/* ---- decisions on a database ----------------------------------------- */

static char *dir;
static struct db *db;
static struct fake fk;
static struct gate *gate;

static void
gate_open(int with_exec, int64_t ttl, int64_t max_window)
{
	struct gate_config gc;
	struct err err;

	gate_free(gate);
	memset(&gc, 0, sizeof(gc));
	gc.host_id = HOST;
	gc.clock_skew_s = 120;
	gc.max_window_s = max_window;
	gc.sign_request_ttl_s = ttl;
	err_init(&err);
	ck_assert_msg(gate_new(db, &gc, &fk.clock, with_exec ? &fk.exec : NULL,
	    &gate, &err) == 0, "gate_new: %s", err_msg(&err));
}

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	db = etu_db_open(dir);
	fake_init(&fk, T0);
	gate = NULL;
	gate_open(1, TTL, 86400);
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
}

static struct ops_row *
op_get(int64_t id)
{
	struct ops_row *op = NULL;

	ck_assert_int_eq(ops_get(db, id, &op, NULL), 0);
	return op;
}

static void
decide(int64_t id, const char *want_code, enum sm_state want)
{
	struct ops_row *op = op_get(id);
	struct gate_result r;
	struct err err;

	err_init(&err);
	gate_result_init(&r);
	ck_assert_msg(gate_decide(gate, op, &r, &err) == 0, "gate_decide: %s",
	    err_msg(&err));
	ck_assert_str_eq(r.code, want_code);
	ck_assert_int_eq(r.to, want);
	ck_assert_int_eq(etu_state(db, id), want);
	ops_row_free(op);
}

/* The code of the newest audit row (of event) as a heap string. */
static char *
last_audit_code(const char *event)
{
	json_t *arr = NULL, *o;
	char *code = NULL;
	size_t i;

	ck_assert_int_eq(audit_since(db, 0, 10000, &arr, NULL), 0);
	json_array_foreach(arr, i, o) {
		if (event != NULL && strcmp(json_string_value(json_object_get(o,
		    "event")), event) != 0)
			continue;
		free(code);
		code = strdup(json_string_value(json_object_get(o, "code")));
	}
	json_decref(arr);
	ck_assert_ptr_nonnull(code);
	return code;
}

static void
record_provenance(enum provenance_kind kind, int64_t vmid, const char *name)
{
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(provenance_record(db, kind, vmid, name, 0, T0, NULL),
	    0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
}

START_TEST(gate_benign_op_is_authorized_unsigned)
{
	int64_t id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, "{}",
	    "k1", T0);
	struct ops_row *op;
	char *code;

	decide(id, "benign", SM_AUTHORIZED);
	op = op_get(id);
	ck_assert_int_eq(op->class, OPS_CLASS_BENIGN);
	ck_assert_int_eq(op->has_blob, 0);
	ops_row_free(op);
	code = last_audit_code("gate");
	ck_assert_str_eq(code, "benign");
	free(code);
}
END_TEST

START_TEST(gate_destructive_op_waits_with_its_own_sign_request)
{
	int64_t id = etu_op(db, 103, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k1", T0);
	struct opblob *b = NULL;
	struct ops_row *op;
	uint8_t *blob = NULL;
	size_t len = 0;
	char *code;

	decide(id, "unsigned_destructive", SM_PENDING_SIGNATURE);
	op = op_get(id);
	ck_assert_int_eq(op->has_blob, 1);
	ck_assert_int_eq(op->blob_not_after, T0 + TTL);
	ck_assert_int_eq(ops_get_blob(db, id, &blob, &len, NULL), 0);
	/* The agent's blob: parses strictly and says exactly the op. */
	ck_assert_int_eq(opblob_parse(blob, len, &b, NULL), 0);
	ck_assert_int_eq(b->op, OPBLOB_OP_DESTROY);
	ck_assert_str_eq(b->host_id, HOST);
	ck_assert_int_eq(b->has_guest, 1);
	ck_assert_int_eq(b->guest_id, 103);
	ck_assert(json_equal((json_t *)(uintptr_t)b->params, op->params));
	ck_assert_int_eq(b->not_before, T0);
	ck_assert_int_eq(b->not_after, T0 + TTL);
	ck_assert_uint_ge(strlen(b->nonce), 32);
	ck_assert_int_eq(op->class, OPS_CLASS_DESTRUCTIVE);
	code = last_audit_code("gate");
	ck_assert_str_eq(code, "unsigned_destructive");
	free(code);
	opblob_free(b);
	free(blob);
	ops_row_free(op);
}
END_TEST

START_TEST(gate_sign_requests_have_fresh_nonces)
{
	int64_t a = etu_op(db, 103, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k1", T0);
	int64_t b = etu_op(db, 104, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k2", T0);
	struct opblob *ba = NULL, *bb = NULL;
	uint8_t *x = NULL, *y = NULL;
	size_t lx, ly;

	decide(a, "unsigned_destructive", SM_PENDING_SIGNATURE);
	decide(b, "unsigned_destructive", SM_PENDING_SIGNATURE);
	ck_assert_int_eq(ops_get_blob(db, a, &x, &lx, NULL), 0);
	ck_assert_int_eq(ops_get_blob(db, b, &y, &ly, NULL), 0);
	ck_assert_int_eq(opblob_parse(x, lx, &ba, NULL), 0);
	ck_assert_int_eq(opblob_parse(y, ly, &bb, NULL), 0);
	ck_assert_str_ne(ba->nonce, bb->nonce);
	opblob_free(ba);
	opblob_free(bb);
	free(x);
	free(y);
}
END_TEST

START_TEST(gate_config_delete_of_data_is_reclassified_destructive)
{
	/* The plan called it benign; the gate decides by data-bearingness. */
	int64_t id = etu_op(db, 102, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"set\":{\"cores\":2},\"delete\":[\"mp0\"]}", "k1", T0);
	struct ops_row *op;

	decide(id, "unsigned_destructive", SM_PENDING_SIGNATURE);
	op = op_get(id);
	ck_assert_int_eq(op->class, OPS_CLASS_DESTRUCTIVE);
	ops_row_free(op);
}
END_TEST

/*
 * R-27 (issue 10, hole 1): an op whose params no request may carry —
 * PVE's own `delete` inside `set` — is rejected with bad_blob whatever
 * its source said, audited, and never reaches the executor.
 */
START_TEST(gate_set_config_with_request_params_is_refused)
{
	int64_t id = etu_op(db, 102, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"set\":{\"delete\":\"mp0,unused0\"}}", "k1", T0);
	struct ops_row *op;
	char *code;

	decide(id, "bad_blob", SM_REJECTED);
	op = op_get(id);
	ck_assert_int_eq(op->class, OPS_CLASS_DESTRUCTIVE);
	ck_assert_str_eq(op->error_code, "bad_blob");
	ck_assert_ptr_nonnull(strstr(op->error, "'delete' is not a container "
	    "option"));
	ops_row_free(op);
	code = last_audit_code("gate");
	ck_assert_str_eq(code, "bad_blob");
	free(code);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(gate_provenance_makes_agent_creations_benign)
{
	int64_t d1 = etu_op(db, 9001, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k1", T0);
	int64_t d2 = etu_op(db, 9002, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k2", T0);
	int64_t s1 = etu_op(db, 101, OPS_KIND_DELETE_SNAPSHOT,
	    OPS_CLASS_DESTRUCTIVE, "{\"name\":\"felhom_safety_ab\"}", "k3", T0);
	int64_t s2 = etu_op(db, 101, OPS_KIND_DELETE_SNAPSHOT,
	    OPS_CLASS_DESTRUCTIVE, "{\"name\":\"pre-upgrade\"}", "k4", T0);
	/* Same name, other guest: provenance is per (vmid, name). */
	int64_t s3 = etu_op(db, 102, OPS_KIND_DELETE_SNAPSHOT,
	    OPS_CLASS_DESTRUCTIVE, "{\"name\":\"felhom_safety_ab\"}", "k5", T0);
	struct ops_row *op;

	record_provenance(PROVENANCE_GUEST, 9001, NULL);
	record_provenance(PROVENANCE_SNAPSHOT, 101, "felhom_safety_ab");
	decide(d1, "benign", SM_AUTHORIZED);
	decide(d2, "unsigned_destructive", SM_PENDING_SIGNATURE);
	decide(s1, "benign", SM_AUTHORIZED);
	decide(s2, "unsigned_destructive", SM_PENDING_SIGNATURE);
	decide(s3, "unsigned_destructive", SM_PENDING_SIGNATURE);
	op = op_get(d1);
	ck_assert_int_eq(op->class, OPS_CLASS_BENIGN);
	ops_row_free(op);
}
END_TEST

START_TEST(gate_provenance_is_written_only_in_a_transaction)
{
	struct err err;
	int found = 0;
	int64_t n = 0;

	err_init(&err);
	ck_assert_int_eq(provenance_record(db, PROVENANCE_GUEST, 9001, NULL, 0,
	    T0, &err), ERR_INTERNAL);
	ck_assert_ptr_nonnull(strstr(err_msg(&err), "outside"));
	ck_assert_int_eq(provenance_has(db, PROVENANCE_GUEST, 9001, NULL,
	    &found, NULL, NULL), 0);
	ck_assert_int_eq(found, 0);
	record_provenance(PROVENANCE_SNAPSHOT, 101, "a");
	record_provenance(PROVENANCE_SNAPSHOT, 101, "a");	/* again */
	record_provenance(PROVENANCE_SNAPSHOT, 101, "b");
	record_provenance(PROVENANCE_GUEST, 101, NULL);
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_int_eq(provenance_forget(db, PROVENANCE_SNAPSHOT, 101, NULL,
	    &n, NULL), 0);
	ck_assert_int_eq(db_commit(db, NULL), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(provenance_count(db, -1, &n, NULL), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(provenance_kind_name(PROVENANCE_BACKUP), "backup");
	ck_assert_int_eq(provenance_kind_parse("guest"), PROVENANCE_GUEST);
	ck_assert_int_eq(provenance_kind_parse("scratch"), -1);
}
END_TEST

START_TEST(gate_restore_depends_on_a_direct_read)
{
	const char *p = "{\"archive\":\"pbs:backup/ct/101/x\","
	    "\"storage\":\"local-lvm\"}";
	int64_t over = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, p,
	    "k1", T0);
	int64_t fresh = etu_op(db, 150, OPS_KIND_RESTORE,
	    OPS_CLASS_DESTRUCTIVE, p, "k2", T0);
	int64_t blind = etu_op(db, 151, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, p,
	    "k3", T0);
	int64_t denied = etu_op(db, 152, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, p,
	    "k4", T0);
	struct ops_row *op;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	ck_assert_ptr_nonnull(fake_guest_add(&fk, 152, "stopped", NULL));
	fake_guest(&fk, 152)->forbidden = 1;
	decide(over, "unsigned_destructive", SM_PENDING_SIGNATURE);
	decide(fresh, "benign", SM_AUTHORIZED);
	op = op_get(fresh);
	ck_assert_int_eq(op->class, OPS_CLASS_BENIGN);
	ops_row_free(op);
	/* A read that cannot tell is not proof of absence. */
	decide(denied, "unsigned_destructive", SM_PENDING_SIGNATURE);
	/* Without an executor nothing is proven. */
	gate_open(0, TTL, 86400);
	decide(blind, "unsigned_destructive", SM_PENDING_SIGNATURE);
}
END_TEST

START_TEST(gate_unsignable_destructive_op_is_refused)
{
	int64_t id = etu_op(db, 102, OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
	    "{\"delete\":[\"mp0\"],\"bogus\":1}", "k1", T0);
	struct ops_row *op;

	decide(id, "bad_blob", SM_REJECTED);
	op = op_get(id);
	ck_assert_str_eq(op->error_code, "bad_blob");
	ops_row_free(op);
}
END_TEST

START_TEST(gate_sign_window_fits_max_window)
{
	int64_t id = etu_op(db, 103, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k1", T0);
	struct ops_row *op;

	gate_open(1, 90000, 3600);
	decide(id, "unsigned_destructive", SM_PENDING_SIGNATURE);
	op = op_get(id);
	ck_assert_int_eq(op->blob_not_after, T0 + 3600);
	ops_row_free(op);
}
END_TEST

START_TEST(gate_decide_refuses_an_op_not_new)
{
	int64_t id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, "{}",
	    "k1", T0);
	struct ops_row *op;
	struct err err;

	decide(id, "benign", SM_AUTHORIZED);
	op = op_get(id);
	err_init(&err);
	ck_assert_int_eq(gate_decide(gate, op, NULL, &err), ERR_CONFLICT);
	ck_assert_ptr_nonnull(strstr(err_msg(&err), "not new"));
	ops_row_free(op);
}
END_TEST

/* The not_before of op id's sign request. */
static int64_t
request_not_before(int64_t id)
{
	struct opblob *b = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	int64_t nb;

	ck_assert_int_eq(ops_get_blob(db, id, &blob, &len, NULL), 0);
	ck_assert_int_eq(opblob_parse(blob, len, &b, NULL), 0);
	nb = b->not_before;
	opblob_free(b);
	free(blob);
	return nb;
}

/*
 * after a restore, destructive ops that could run go back to
 * pending_signature and pending ones get a sign request valid from now
 * (the old one predates the nonce floor); benign ones are left alone.
 */
START_TEST(gate_holds_destructive_ops_for_review_after_a_restore)
{
	int64_t pend = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"pre-upgrade\"}", "k1", T0);
	int64_t auth = etu_op(db, 102, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k2", T0);
	int64_t benign = etu_op(db, 103, OPS_KIND_START, OPS_CLASS_BENIGN,
	    "{}", "k3", T0);
	struct sm_args a;
	size_t held = 0;
	char *code;

	decide(pend, "unsigned_destructive", SM_PENDING_SIGNATURE);
	decide(auth, "unsigned_destructive", SM_PENDING_SIGNATURE);
	memset(&a, 0, sizeof(a));
	a.now = T0;
	a.signature = "-----BEGIN SSH SIGNATURE-----";
	a.signer = "alice@ops SHA256:test";
	etu_step(db, auth, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	decide(benign, "benign", SM_AUTHORIZED);
	ck_assert_int_eq(request_not_before(pend), T0);
	fk.now = T0 + 500;
	ck_assert_int_eq(gate_hold_for_review(gate, &held, NULL), 0);
	ck_assert_uint_eq(held, 2);
	ck_assert_int_eq(etu_state(db, pend), SM_PENDING_SIGNATURE);
	ck_assert_int_eq(etu_state(db, auth), SM_PENDING_SIGNATURE);
	ck_assert_int_eq(etu_state(db, benign), SM_AUTHORIZED);
	ck_assert_int_eq(request_not_before(pend), T0 + 500);
	ck_assert_int_eq(request_not_before(auth), T0 + 500);
	code = last_audit_code("gate");
	ck_assert_str_eq(code, "restored");
	free(code);
}
END_TEST

/* ---- the provenance hook of the state machine ------------------------ */

static int64_t
internal_op(int64_t vmid, enum ops_kind kind, const char *params,
    const char *key)
{
	struct ops_new n;
	json_t *p = json_loads(params, 0, NULL);
	int64_t id = 0;

	memset(&n, 0, sizeof(n));
	n.vmid = vmid;
	n.kind = kind;
	n.source = OPS_SOURCE_INTERNAL;
	n.class = OPS_CLASS_BENIGN;
	n.params = p;
	n.idem_key = key;
	n.now = T0;
	ck_assert_int_eq(ops_create(db, &n, &id, NULL), 0);
	json_decref(p);
	return id;
}

static void
hook(int64_t id, enum sm_event ev, const json_t *safety)
{
	struct sm_args a;
	struct err err;

	memset(&a, 0, sizeof(a));
	a.now = T0;
	a.safety = safety;
	err_init(&err);
	ck_assert_int_eq(db_begin(db, NULL), 0);
	ck_assert_msg(gate_provenance_hook(db, id, ev, &a, &err) == 0,
	    "hook: %s", err_msg(&err));
	ck_assert_int_eq(db_commit(db, NULL), 0);
}

static int
has(enum provenance_kind k, int64_t vmid, const char *name)
{
	int found = -1;

	ck_assert_int_eq(provenance_has(db, k, vmid, name, &found, NULL,
	    NULL), 0);
	return found;
}

START_TEST(gate_hook_records_safety_copies_and_internal_creations)
{
	int64_t rb = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"pre-upgrade\"}", "k1", T0);
	int64_t scratch = internal_op(9000, OPS_KIND_RESTORE,
	    "{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}",
	    "k2");
	int64_t cust = etu_op(db, 160, OPS_KIND_PROVISION, OPS_CLASS_BENIGN,
	    "{\"template\":\"local:vztmpl/d.tar.zst\",\"storage\":\"local\","
	    "\"spec\":{}}", "k3", T0);
	int64_t snap = internal_op(101, OPS_KIND_SNAPSHOT, "{\"name\":\"t1\"}",
	    "k4");
	json_t *safety = json_pack("{s:s}", "snapshot", "felhom_safety_1");
	json_t *bk = json_pack("{s:s}", "backup",
	    "local:backup/vzdump-lxc-103-2026_11_28-08_00_00.tar.zst");

	hook(rb, SM_EV_STEP_DONE, safety);
	ck_assert_int_eq(has(PROVENANCE_SNAPSHOT, 101, "felhom_safety_1"), 1);
	hook(rb, SM_EV_STEP_DONE, NULL);	/* a plain step records nothing */
	hook(rb, SM_EV_SYNC_STEP_DONE, bk);
	ck_assert_int_eq(has(PROVENANCE_BACKUP, 101,
	    "local:backup/vzdump-lxc-103-2026_11_28-08_00_00.tar.zst"), 1);
	hook(scratch, SM_EV_TASK_OK, NULL);
	ck_assert_int_eq(has(PROVENANCE_GUEST, 9000, ""), 1);
	/* The customer's guest, created because the hub asked: not ours. */
	hook(cust, SM_EV_TASK_OK, NULL);
	ck_assert_int_eq(has(PROVENANCE_GUEST, 160, ""), 0);
	hook(snap, SM_EV_TASK_WARNINGS, NULL);
	ck_assert_int_eq(has(PROVENANCE_SNAPSHOT, 101, "t1"), 1);
	/* Other events record nothing. */
	hook(cust, SM_EV_SUBMIT, NULL);
	ck_assert_int_eq(has(PROVENANCE_GUEST, 160, ""), 0);
	json_decref(safety);
	json_decref(bk);
}
END_TEST

START_TEST(gate_hook_forgets_what_the_agent_deleted)
{
	int64_t d = etu_op(db, 9000, OPS_KIND_DESTROY, OPS_CLASS_BENIGN,
	    "{\"purge\":true}", "k1", T0);
	int64_t ds = etu_op(db, 101, OPS_KIND_DELETE_SNAPSHOT, OPS_CLASS_BENIGN,
	    "{\"name\":\"t1\"}", "k2", T0);

	record_provenance(PROVENANCE_GUEST, 9000, NULL);
	record_provenance(PROVENANCE_SNAPSHOT, 9000, "s");
	record_provenance(PROVENANCE_SNAPSHOT, 101, "t1");
	record_provenance(PROVENANCE_SNAPSHOT, 101, "t2");
	hook(d, SM_EV_TASK_OK, NULL);
	ck_assert_int_eq(has(PROVENANCE_GUEST, 9000, ""), 0);
	ck_assert_int_eq(has(PROVENANCE_SNAPSHOT, 9000, "s"), 0);
	hook(ds, SM_EV_TASK_OK, NULL);
	ck_assert_int_eq(has(PROVENANCE_SNAPSHOT, 101, "t1"), 0);
	ck_assert_int_eq(has(PROVENANCE_SNAPSHOT, 101, "t2"), 1);
}
END_TEST

/* ---- rotate_signers, run by the agent itself ------------------------- */

static char *keyline[3];

static void
keys_setup(void)
{
	setup();
	ck_assert_int_eq(atu_keygen(dir, "k0", "ed25519", 0, &keyline[0]), 0);
	ck_assert_int_eq(atu_keygen(dir, "k1", "ed25519", 0, &keyline[1]), 0);
	ck_assert_int_eq(atu_keygen(dir, "k2", "ed25519", 0, &keyline[2]), 0);
}

static void
keys_teardown(void)
{
	int i;

	for (i = 0; i < 3; i++) {
		free(keyline[i]);
		keyline[i] = NULL;
	}
	teardown();
}

/* An authorized rotate_signers op with params built from key lines. */
static int64_t
rotation_op(const char *kind, int op_key, int rec_key)
{
	json_t *p = json_pack("{s:s}", "kind", kind);
	char line[4200], *text;
	int64_t id;
	struct sm_args a;

	if (op_key >= 0) {
		(void) snprintf(line, sizeof(line), "new@ops %s",
		    keyline[op_key]);
		json_object_set_new(p, "operational", json_pack("[s]", line));
	}
	if (rec_key >= 0) {
		(void) snprintf(line, sizeof(line), "new@rec %s",
		    keyline[rec_key]);
		json_object_set_new(p, "recovery", json_pack("[s]", line));
	}
	text = json_dumps(p, JSON_COMPACT);
	id = etu_op(db, 0, OPS_KIND_ROTATE_SIGNERS, OPS_CLASS_DESTRUCTIVE,
	    text, "rot", T0);
	memset(&a, 0, sizeof(a));
	a.now = T0;
	etu_step(db, id, SM_NEW, SM_EV_CLASSIFIED_DESTRUCTIVE, &a);
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
	free(text);
	json_decref(p);
	return id;
}

static void
seed_signers(void)
{
	struct signers *set = signers_new();
	char line[4200];
	struct signers_entry *e = NULL;
	int seeded = 0;

	(void) snprintf(line, sizeof(line), "old@ops %s", keyline[0]);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "test", 1,
	    SIGNERS_ROLE_OPERATIONAL, 0, &e, NULL), 0);
	ck_assert_int_eq(signers_add(set, e, NULL), 0);
	(void) snprintf(line, sizeof(line), "old@rec %s", keyline[0]);
	ck_assert_int_eq(signers_parse_line(line, strlen(line), "test", 2,
	    SIGNERS_ROLE_RECOVERY, 0, &e, NULL), 0);
	ck_assert_int_eq(signers_add(set, e, NULL), 0);
	ck_assert_int_eq(signers_seed_db(db, set, "file:a", "file:b", T0,
	    &seeded, NULL), 0);
	ck_assert_int_eq(seeded, 1);
	signers_free(set);
}

static int64_t
count_role(const char *role)
{
	int64_t n = -1;

	ck_assert_int_eq(signers_db_count(db, role, &n, NULL), 0);
	return n;
}

START_TEST(gate_rotation_replaces_the_operational_set)
{
	struct signers_db_row *rows = NULL;
	struct ops_row *op;
	struct err err;
	size_t n = 0, i;
	int64_t id;
	char *code;

	seed_signers();
	id = rotation_op("planned", 1, -1);
	op = op_get(id);
	err_init(&err);
	ck_assert_msg(gate_run_host_op(gate, op, &err) == 0, "%s",
	    err_msg(&err));
	ops_row_free(op);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(signers_db_list(db, &rows, &n, NULL), 0);
	ck_assert_uint_eq(n, 2);
	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].role, "operational") == 0) {
			ck_assert_ptr_nonnull(strstr(rows[i].line, "new@ops"));
			ck_assert_ptr_nonnull(strstr(rows[i].source,
			    "rotate:op-"));
		} else
			ck_assert_ptr_nonnull(strstr(rows[i].line, "old@rec"));
	}
	signers_db_rows_free(rows, n);
	code = last_audit_code("signers");
	ck_assert_str_eq(code, "rotated");
	free(code);
}
END_TEST

START_TEST(gate_recovery_rotation_replaces_both_sets)
{
	struct ops_row *op;
	int64_t id;

	seed_signers();
	id = rotation_op("recovery", 1, 2);
	op = op_get(id);
	ck_assert_int_eq(gate_run_host_op(gate, op, NULL), 0);
	ops_row_free(op);
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(count_role("operational"), 1);
	ck_assert_int_eq(count_role("recovery"), 1);
}
END_TEST

START_TEST(gate_planned_rotation_of_the_recovery_set_fails)
{
	struct ops_row *op;
	int64_t id;
	json_t *rows = NULL;

	seed_signers();
	id = rotation_op("planned", 1, 2);
	op = op_get(id);
	ck_assert_int_eq(gate_run_host_op(gate, op, NULL), 0);
	ops_row_free(op);
	ck_assert_int_eq(etu_state(db, id), SM_FAILED);
	op = op_get(id);
	ck_assert_str_eq(op->error_code, "bad_params");
	ops_row_free(op);
	/* Nothing changed: the seeded lines are still there. */
	ck_assert_int_eq(count_role("operational"), 1);
	ck_assert_int_eq(count_role("recovery"), 1);
	ck_assert_int_eq(journal_list(db, id, &rows, NULL), 0);
	ck_assert_uint_eq(json_array_size(rows), 4);
	json_decref(rows);
}
END_TEST

START_TEST(gate_host_op_refuses_other_kinds_and_states)
{
	int64_t id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, "{}",
	    "k1", T0);
	struct ops_row *op = op_get(id);
	struct err err;

	err_init(&err);
	ck_assert_int_eq(gate_run_host_op(gate, op, &err), ERR_UNSUPPORTED);
	ops_row_free(op);
	id = etu_op(db, 0, OPS_KIND_ROTATE_SIGNERS, OPS_CLASS_DESTRUCTIVE,
	    "{\"kind\":\"planned\",\"operational\":[]}", "k2", T0);
	op = op_get(id);
	ck_assert_int_eq(gate_run_host_op(gate, op, NULL), ERR_CONFLICT);
	ops_row_free(op);
}
END_TEST

START_TEST(gate_signers_seed_once_from_the_files)
{
	struct config cfg;
	char line[4200], *op_path, *rec_path;
	int seeded = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.authz_operational = "/nonexistent/operational_signers";
	cfg.authz_recovery = "/nonexistent/recovery_signers";
	/* No files: nothing seeded, and seeding stays possible. */
	ck_assert_int_eq(gate_signers_seed(db, &cfg, T0, &seeded, NULL), 0);
	ck_assert_int_eq(seeded, 0);
	ck_assert_int_eq(count_role(NULL), 0);
	(void) snprintf(line, sizeof(line), "a@ops %s\nb@ops %s\n",
	    keyline[0], keyline[1]);
	op_path = atu_write(dir, "operational_signers", line);
	(void) snprintf(line, sizeof(line), "r@rec %s\n", keyline[2]);
	rec_path = atu_write(dir, "recovery_signers", line);
	cfg.authz_operational = op_path;
	cfg.authz_recovery = rec_path;
	ck_assert_int_eq(gate_signers_seed(db, &cfg, T0, &seeded, NULL), 0);
	ck_assert_int_eq(seeded, 1);
	ck_assert_int_eq(count_role("operational"), 2);
	ck_assert_int_eq(count_role("recovery"), 1);
	/* From now on the database is the set: the files are not read. */
	(void) unlink(op_path);
	ck_assert_int_eq(gate_signers_seed(db, &cfg, T0, &seeded, NULL), 0);
	ck_assert_int_eq(seeded, 0);
	ck_assert_int_eq(count_role("operational"), 2);
	free(op_path);
	free(rec_path);
}
END_TEST

/* ---- the gate wired into the engine ---------------------------------- */

static struct engine *eng;

static int
decide_adapter(void *ctx, const struct ops_row *op, struct err *err)
{
	return gate_decide(ctx, op, NULL, err);
}

static int
host_adapter(void *ctx, const struct ops_row *op, struct err *err)
{
	return gate_run_host_op(ctx, op, err);
}

static void
wired_setup(void)
{
	struct engine_config ec;
	struct err err;

	keys_setup();
	memset(&ec, 0, sizeof(ec));
	ec.decide = decide_adapter;
	ec.decide_ctx = gate;
	ec.run_host = host_adapter;
	ec.run_host_ctx = gate;
	ec.transition_hook = gate_provenance_hook;
	err_init(&err);
	ck_assert_msg(engine_new(db, &fk.exec, &fk.clock, &ec, &eng, &err) ==
	    0, "engine_new: %s", err_msg(&err));
}

static void
wired_teardown(void)
{
	engine_free(eng);
	eng = NULL;
	keys_teardown();
}

/* Steps the engine until nothing moves (the fake clock ticks along). */
static void
settle(void)
{
	struct engine_next next;
	struct err err;
	int i;

	for (i = 0; i < 200; i++) {
		err_init(&err);
		ck_assert_msg(engine_step(eng, 0, &next, &err) == 0,
		    "engine_step: %s", err_msg(&err));
		if (!next.more && next.in_flight == 0)
			return;
		fk.now += 1;
	}
	ck_abort_msg("the engine did not settle");
}

static void
accept_op(int64_t id)
{
	struct sm_args a;

	memset(&a, 0, sizeof(a));
	a.now = fk.now;
	a.signer = "test";
	etu_step(db, id, SM_PENDING_SIGNATURE, SM_EV_SIGNATURE_ACCEPTED, &a);
}

START_TEST(wired_destructive_waits_then_expires_unexecuted)
{
	int64_t id;
	struct ops_row *op;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "running", NULL));
	id = etu_op(db, 101, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k1", T0);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	op = op_get(id);
	ck_assert_int_eq(op->has_blob, 1);
	ck_assert_int_eq(op->blob_not_after, T0 + TTL);
	ops_row_free(op);
	fk.now = T0 + TTL + 1;
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_EXPIRED);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

static int
op_step(int64_t id)
{
	int step = -1;

	ck_assert_int_eq(ops_get_step(db, id, &step, NULL, NULL), 0);
	return step;
}

START_TEST(wired_rollback_safety_copy_has_provenance_until_dropped)
{
	int64_t id, n = -1;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "running", NULL));
	id = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"pre-upgrade\"}", "k1", T0);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	accept_op(id);
	/* Up to the end of the safety step: the copy is the agent's. */
	while (op_step(id) == 0) {
		struct engine_next next;

		ck_assert_int_eq(engine_step(eng, 0, &next, NULL), 0);
		fk.now += 1;
	}
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 1);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_ptr_nonnull(strstr(fk.order, "101:safety_snapshot "
	    "101:rollback 101:drop_safety"));
	/* ... and forgotten with the drop. */
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* The journal detail of op's row with event, as compact JSON (heap). */
static char *
detail_of(int64_t id, const char *event)
{
	json_t *d = NULL;
	char *text;

	ck_assert_int_eq(journal_last_detail(db, id, event, &d, NULL), 0);
	text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(d);
	return text;
}

static const char *restore_params =
    "{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\"}";

START_TEST(wired_restore_over_a_guest_is_wrapped_in_a_safety_copy)
{
	int64_t id, n = -1;
	char *d;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_BENIGN, restore_params,
	    "k1", T0);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_PENDING_SIGNATURE);
	accept_op(id);
	/* The restore took the guest's volumes and the snapshot with them. */
	fk.fail_task_kind = EXEC_STEP_DROP_SAFETY;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "snapshot "
	    "'felhom_safety_x' does not exist");
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_str_eq(fk.order, "101:safety_snapshot 101:stop 101:restore "
	    "101:reattach 101:start_again 101:drop_safety");
	/* The journal says which copy stood behind the overwrite. */
	d = detail_of(id, "step_done");
	ck_assert_ptr_nonnull(strstr(d, "felhom_safety_"));
	free(d);
	d = detail_of(id, "task_ok");
	ck_assert_ptr_null(strstr(d, "safety_kept"));
	free(d);
	/* Gone with the volumes, and no longer the agent's. */
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(wired_no_safety_is_recorded_in_the_journal)
{
	int64_t id;
	char *d;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_BENIGN,
	    "{\"archive\":\"pbs:backup/ct/101/x\",\"storage\":\"local-lvm\","
	    "\"no_safety\":true}", "k1", T0);
	settle();
	accept_op(id);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_str_eq(fk.order, "101:stop 101:restore 101:reattach "
	    "101:start_again");
	d = detail_of(id, "step_done");
	ck_assert_ptr_nonnull(strstr(d, "\"safety\":\"none\""));
	free(d);
}
END_TEST

START_TEST(wired_a_failed_drop_keeps_the_copy_and_never_undoes)
{
	int64_t id, n = -1;
	char *d;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "running", NULL));
	id = etu_op(db, 101, OPS_KIND_ROLLBACK, OPS_CLASS_DESTRUCTIVE,
	    "{\"snapshot\":\"pre-upgrade\"}", "k1", T0);
	settle();
	accept_op(id);
	fk.fail_task_kind = EXEC_STEP_DROP_SAFETY;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "storage "
	    "error");
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(fk.undos, 0);
	d = detail_of(id, "task_ok");
	ck_assert_ptr_nonnull(strstr(d, "safety_kept"));
	free(d);
	/* Still the agent's: deleting it later is benign. */
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(wired_failed_overwrite_returns_to_the_copy)
{
	int64_t id;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_DESTRUCTIVE,
	    restore_params, "k1", T0);
	settle();
	accept_op(id);
	fk.fail_task_kind = EXEC_STEP_RESTORE;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "unable to "
	    "restore CT 101 - archive is corrupt");
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_ROLLED_BACK);
	ck_assert_int_eq(fk.undos, 1);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_RESTORE], 1);
}
END_TEST

/*
 * R-31 (issue 10, hole 3): the overwrite fails and so does its undo: the
 * safety copy is the only record of the guest's prior state, its
 * provenance is retired in the transaction that ends the op (audited),
 * and deleting it afterwards needs a signature.
 */
START_TEST(wired_failed_undo_retires_the_safety_copy)
{
	struct engine_next next;
	struct ops_row *op;
	char params[128], *code;
	int64_t id, del, n = -1;
	int i;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_DESTRUCTIVE,
	    restore_params, "k1", T0);
	settle();
	accept_op(id);
	fk.fail_task_kind = EXEC_STEP_RESTORE;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "unable to "
	    "restore CT 101 - archive is corrupt");
	for (i = 0; i < 100 && etu_state(db, id) != SM_ROLLING_BACK; i++) {
		ck_assert_int_eq(engine_step(eng, 0, &next, NULL), 0);
		fk.now += 1;
	}
	ck_assert_int_eq(etu_state(db, id), SM_ROLLING_BACK);
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 1);
	fk.fail_task_kind = EXEC_STEP_ROLLBACK;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "can't rollback, "
	    "storage error");
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_FAILED);
	ck_assert_int_eq(fk.undos, 1);
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 0);
	code = last_audit_code("provenance");
	ck_assert_str_eq(code, "safety_copy_retired");
	free(code);
	/* An unsigned delete of that copy now waits for a signature. */
	op = op_get(id);
	(void) snprintf(params, sizeof(params), "{\"name\":\"%s\"}",
	    json_string_value(json_object_get(op->safety, "snapshot")));
	ops_row_free(op);
	del = etu_op(db, 101, OPS_KIND_DELETE_SNAPSHOT, OPS_CLASS_BENIGN,
	    params, "k2", fk.now);
	settle();
	ck_assert_int_eq(etu_state(db, del), SM_PENDING_SIGNATURE);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_DELETE_SNAPSHOT], 0);
}
END_TEST

/* A copy whose undo succeeded stays the agent's (it is redundant). */
START_TEST(wired_successful_undo_keeps_the_copy_the_agents)
{
	int64_t id, n = -1;

	ck_assert_ptr_nonnull(fake_guest_add(&fk, 101, "stopped", NULL));
	id = etu_op(db, 101, OPS_KIND_RESTORE, OPS_CLASS_DESTRUCTIVE,
	    restore_params, "k1", T0);
	settle();
	accept_op(id);
	fk.fail_task_kind = EXEC_STEP_RESTORE;
	(void) snprintf(fk.fail_exit, sizeof(fk.fail_exit), "archive is "
	    "corrupt");
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_ROLLED_BACK);
	ck_assert_int_eq(provenance_count(db, PROVENANCE_SNAPSHOT, &n, NULL),
	    0);
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(wired_agent_scratch_guest_is_destroyed_unsigned)
{
	int64_t r, d;

	r = internal_op(9000, OPS_KIND_PROVISION, "{\"template\":"
	    "\"local:vztmpl/d.tar.zst\",\"storage\":\"local\",\"spec\":{}}",
	    "k1");
	settle();
	ck_assert_int_eq(etu_state(db, r), SM_SUCCEEDED);
	ck_assert_int_eq(has(PROVENANCE_GUEST, 9000, ""), 1);
	d = etu_op(db, 9000, OPS_KIND_DESTROY, OPS_CLASS_DESTRUCTIVE,
	    "{\"purge\":true}", "k2", fk.now);
	settle();
	ck_assert_int_eq(etu_state(db, d), SM_SUCCEEDED);
	ck_assert_int_eq(fk.submits_by[EXEC_STEP_DESTROY], 1);
	/* Gone, and with it the agent's claim on the vmid. */
	ck_assert_int_eq(has(PROVENANCE_GUEST, 9000, ""), 0);
}
END_TEST

START_TEST(wired_rotation_runs_in_the_engine_tick)
{
	int64_t id;

	seed_signers();
	id = rotation_op("planned", 2, -1);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
	ck_assert_int_eq(count_role("operational"), 1);
	ck_assert_int_eq(fk.submits, 0);
}
END_TEST

START_TEST(wired_blocked_moves_nothing)
{
	struct engine_next next;
	int64_t id = etu_op(db, 101, OPS_KIND_START, OPS_CLASS_BENIGN, "{}",
	    "k1", T0);

	ck_assert_int_eq(engine_step(eng, 1, &next, NULL), 0);
	ck_assert_int_eq(etu_state(db, id), SM_NEW);
	settle();
	ck_assert_int_eq(etu_state(db, id), SM_SUCCEEDED);
}
END_TEST

static Suite *
gate_suite(void)
{
	Suite *s = suite_create("gate");
	TCase *tc;

	tc = tcase_create("classify");
	tcase_add_loop_test(tc, gate_classify_table, 0,
	    (int)(sizeof(ccases) / sizeof(ccases[0])));
	tcase_add_loop_test(tc, gate_data_keys_are_mpN_unusedN, 0,
	    (int)(sizeof(kcases) / sizeof(kcases[0])));
	tcase_add_test(tc, gate_names_cover_every_value);
	suite_add_tcase(s, tc);

	tc = tcase_create("decide");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, gate_benign_op_is_authorized_unsigned);
	tcase_add_test(tc, gate_destructive_op_waits_with_its_own_sign_request);
	tcase_add_test(tc, gate_sign_requests_have_fresh_nonces);
	tcase_add_test(tc,
	    gate_config_delete_of_data_is_reclassified_destructive);
	tcase_add_test(tc, gate_set_config_with_request_params_is_refused);
	tcase_add_test(tc, gate_provenance_makes_agent_creations_benign);
	tcase_add_test(tc, gate_provenance_is_written_only_in_a_transaction);
	tcase_add_test(tc, gate_restore_depends_on_a_direct_read);
	tcase_add_test(tc, gate_unsignable_destructive_op_is_refused);
	tcase_add_test(tc, gate_sign_window_fits_max_window);
	tcase_add_test(tc, gate_decide_refuses_an_op_not_new);
	tcase_add_test(tc, gate_holds_destructive_ops_for_review_after_a_restore);
	tcase_add_test(tc,
	    gate_hook_records_safety_copies_and_internal_creations);
	tcase_add_test(tc, gate_hook_forgets_what_the_agent_deleted);
	suite_add_tcase(s, tc);

	tc = tcase_create("rotation");
	tcase_add_checked_fixture(tc, keys_setup, keys_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, gate_rotation_replaces_the_operational_set);
	tcase_add_test(tc, gate_recovery_rotation_replaces_both_sets);
	tcase_add_test(tc, gate_planned_rotation_of_the_recovery_set_fails);
	tcase_add_test(tc, gate_host_op_refuses_other_kinds_and_states);
	tcase_add_test(tc, gate_signers_seed_once_from_the_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("wired");
	tcase_add_checked_fixture(tc, wired_setup, wired_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, wired_destructive_waits_then_expires_unexecuted);
	tcase_add_test(tc,
	    wired_rollback_safety_copy_has_provenance_until_dropped);
	tcase_add_test(tc,
	    wired_restore_over_a_guest_is_wrapped_in_a_safety_copy);
	tcase_add_test(tc, wired_no_safety_is_recorded_in_the_journal);
	tcase_add_test(tc, wired_a_failed_drop_keeps_the_copy_and_never_undoes);
	tcase_add_test(tc, wired_failed_overwrite_returns_to_the_copy);
	tcase_add_test(tc, wired_failed_undo_retires_the_safety_copy);
	tcase_add_test(tc, wired_successful_undo_keeps_the_copy_the_agents);
	tcase_add_test(tc, wired_agent_scratch_guest_is_destroyed_unsigned);
	tcase_add_test(tc, wired_rotation_runs_in_the_engine_tick);
	tcase_add_test(tc, wired_blocked_moves_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(gate_suite());
	int failed;

	log_setup(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, stderr);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
