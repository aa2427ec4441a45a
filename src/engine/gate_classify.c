/*
 * gate_classify — the gate's pure classifier: benign or
 * destructive by provenance and data-bearingness, never by verb alone;
 * set_config by the exact form the executor will send (pvereq).  Part of
 * the gate module (gate.h); gate.c holds the decisions.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "authz/lxcopt.h"
#include "authz/opblob.h"
#include "base/err.h"
#include "engine/gate.h"
#include "engine/pvereq.h"
#include "store/ops.h"

static const char *const class_names[GATE_CLASS__COUNT] = {
	[GATE_BENIGN] = "benign",
	[GATE_DESTRUCTIVE] = "destructive",
	[GATE_REFUSED] = "refused",
};
_Static_assert(sizeof(class_names) / sizeof(class_names[0]) ==
    GATE_CLASS__COUNT, "class_names must name every class");

static const char *const reason_names[GATE_R__COUNT] = {
	[GATE_R_NO_DATA_LOST] = "no_data_lost",
	[GATE_R_CREATES] = "creates",
	[GATE_R_CONFIG] = "config",
	[GATE_R_CONFIG_DATA] = "config_deletes_data",
	[GATE_R_CONFIG_VOLUME] = "config_sets_volume",
	[GATE_R_BAD_PARAMS] = "bad_params",
	[GATE_R_UNEXAMINED] = "params_unexamined",
	[GATE_R_AGENT_SNAPSHOT] = "agent_snapshot",
	[GATE_R_SNAPSHOT] = "customer_snapshot",
	[GATE_R_ROLLBACK] = "rollback_overwrites",
	[GATE_R_RESTORE_FRESH] = "restore_fresh",
	[GATE_R_RESTORE_OVERWRITE] = "restore_overwrites",
	[GATE_R_RESTORE_UNPROVEN] = "restore_target_unproven",
	[GATE_R_AGENT_GUEST] = "agent_guest",
	[GATE_R_GUEST] = "customer_guest",
	[GATE_R_ROTATION] = "signer_rotation",
	[GATE_R_UNKNOWN] = "unknown_operation",
};
_Static_assert(sizeof(reason_names) / sizeof(reason_names[0]) ==
    GATE_R__COUNT, "reason_names must name every reason");

const char *
gate_class_name(int c)
{
	return c >= 0 && c < GATE_CLASS__COUNT ? class_names[c] : "unknown";
}

const char *
gate_reason_name(int r)
{
	return r >= 0 && r < GATE_R__COUNT ? reason_names[r] : "unknown";
}

/* ---- the classifier (pure) ------------------------------------------ */

/* "<prefix>N" with N one or more digits and nothing else. */
static int
indexed(const char *key, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;

	if (strncasecmp(key, prefix, n) != 0 || key[n] == '\0')
		return 0;
	for (p = key + n; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

int
gate_is_data_key(const char *key)
{
	if (key == NULL)
		return 0;
	/*
	 * signed-ops.md: mpN and unusedN hold volumes.  rootfs too, though
	 * PVE refuses to delete it: fail safe if it ever does not.
	 */
	return indexed(key, "mp") || indexed(key, "unused") ||
	    strcasecmp(key, "rootfs") == 0;
}

static void
verdict(struct gate_verdict *out, enum gate_class c, enum gate_reason r,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
verdict(struct gate_verdict *out, enum gate_class c, enum gate_reason r,
    const char *fmt, ...)
{
	va_list ap;

	out->class = c;
	out->reason = r;
	va_start(ap, fmt);
	(void) vsnprintf(out->why, sizeof(out->why), fmt, ap);
	va_end(ap);
}

/*
 * PVE's split_list (pve-common src/PVE/ParseUtils.pm): a list parameter
 * is split on ',' ';' and whitespace.  The first data-bearing key of
 * list goes to key (size n); 1 when there is one.
 */
static int
list_data_key(const char *list, char *key, size_t n)
{
	static const char sep[] = ",; \t\n\r\f\v";
	const char *p = list;
	size_t len;

	while (*p != '\0') {
		p += strspn(p, sep);
		len = strcspn(p, sep);
		if (len == 0)
			break;
		(void) snprintf(key, n, "%.*s", (int)len, p);
		if (len < n && gate_is_data_key(key))
			return 1;
		p += len;
	}
	return 0;
}

/*
 * set_config is classified from the form the executor will send,
 * built by the same function (pvereq_set_config), never from the
 * blob's shape.
 */
/*
 * 1 when key=value sets mpN to a host path: the mount point's volume
 * ("VOLUME,..." or "volume=VOLUME,...") starts with '/' (pve-container
 * LXC/Config.pm classify_mountpoint: bind, or device for /dev/...).
 */
static int
bind_mount_set(const char *key, const char *value)
{
	const char *v = value;

	if (strncmp(key, "mp", 2) != 0 || !gate_is_data_key(key) || v == NULL)
		return 0;
	if (strncmp(v, "volume=", 7) == 0)
		v += 7;
	/* A device node is not a directory a bind root confines. */
	return v[0] == '/' && strncmp(v, "/dev/", 5) != 0;
}

static void
classify_config(const struct gate_subject *s, struct gate_verdict *out)
{
	struct pvereq req;
	struct err e;
	char key[64];
	size_t i;
	int rc;

	memset(&req, 0, sizeof(req));
	err_init(&e);
	if ((rc = pvereq_set_config(s->params, NULL, &req, &e)) != 0) {
		if (rc == ERR_NOMEM)
			verdict(out, GATE_DESTRUCTIVE, GATE_R_UNEXAMINED,
			    "set_config of guest %" PRId64 " could not be "
			    "examined: %s", s->vmid, err_msg(&e));
		else
			verdict(out, GATE_REFUSED, GATE_R_BAD_PARAMS, "%s",
			    err_msg(&e));
		return;
	}
	for (i = 0; i < req.n; i++) {
		if (strcmp(req.p[i].key, "delete") == 0) {
			if (list_data_key(req.p[i].value, key, sizeof(key))) {
				verdict(out, GATE_DESTRUCTIVE,
				    GATE_R_CONFIG_DATA, "set_config deletes "
				    "data-bearing %s of guest %" PRId64, key,
				    s->vmid);
				goto out;
			}
		} else if (bind_mount_set(req.p[i].key, req.p[i].value)) {
			/*
			 * issue 12: a bind mount attaches a host directory
			 * (the helper confines it to priv.bind_roots); a
			 * volume it replaces stays, as unusedN
			 * (pve-container LXC/Config.pm
			 * apply_pending_mountpoint: add_unused_volume).
			 */
			continue;
		} else if (gate_is_data_key(req.p[i].key)) {
			/*
			 * A volume key set attaches a volume (of any guest)
			 * or replaces one: what a later delete or destroy
			 * of this guest then takes along.
			 */
			verdict(out, GATE_DESTRUCTIVE, GATE_R_CONFIG_VOLUME,
			    "set_config sets volume key %s of guest %" PRId64,
			    req.p[i].key, s->vmid);
			goto out;
		} else if (!lxcopt_is_option(req.p[i].key)) {
			/* Fail safe: a request parameter not understood. */
			verdict(out, GATE_DESTRUCTIVE, GATE_R_UNEXAMINED,
			    "set_config sends parameter %s", req.p[i].key);
			goto out;
		}
	}
	verdict(out, GATE_BENIGN, GATE_R_CONFIG, "set_config deletes and "
	    "sets no volume");
out:
	pvereq_reset(&req);
}

void
gate_classify(const struct gate_subject *s, const struct gate_facts *f,
    struct gate_verdict *out)
{
	const char *name;
	int64_t vmid = s->vmid;

	memset(out, 0, sizeof(*out));
	switch (s->op) {
	case OPBLOB_OP_START:
	case OPBLOB_OP_STOP:
	case OPBLOB_OP_SNAPSHOT:
	case OPBLOB_OP_BACKUP:
		verdict(out, GATE_BENIGN, GATE_R_NO_DATA_LOST, "%s loses no "
		    "data", opblob_op_name((int)s->op));
		return;
	case OPBLOB_OP_PROVISION:
		verdict(out, GATE_BENIGN, GATE_R_CREATES, "provision creates "
		    "guest %" PRId64 " and destroys nothing", vmid);
		return;
	case OPBLOB_OP_SET_CONFIG:
		classify_config(s, out);
		return;
	case OPBLOB_OP_DELETE_SNAPSHOT:
		name = json_string_value(json_object_get(s->params, "name"));
		if (f->agent_snapshot)
			verdict(out, GATE_BENIGN, GATE_R_AGENT_SNAPSHOT,
			    "snapshot %s of guest %" PRId64 " was taken by the "
			    "agent", name != NULL ? name : "?", vmid);
		else
			verdict(out, GATE_DESTRUCTIVE, GATE_R_SNAPSHOT,
			    "deletes snapshot %s of guest %" PRId64,
			    name != NULL ? name : "?", vmid);
		return;
	case OPBLOB_OP_ROLLBACK:
		/* As destroy: the agent's own guest (a scratch guest). */
		if (f->agent_guest)
			verdict(out, GATE_BENIGN, GATE_R_AGENT_GUEST,
			    "rollback of guest %" PRId64 ", which the agent "
			    "created", vmid);
		else
			verdict(out, GATE_DESTRUCTIVE, GATE_R_ROLLBACK,
			    "rollback overwrites the current state of guest %"
			    PRId64, vmid);
		return;
	case OPBLOB_OP_RESTORE:
		if (f->guest == GATE_EXISTS_NO)
			verdict(out, GATE_BENIGN, GATE_R_RESTORE_FRESH,
			    "restore into vmid %" PRId64 ", proven free", vmid);
		else if (f->agent_guest)
			verdict(out, GATE_BENIGN, GATE_R_AGENT_GUEST,
			    "restore over guest %" PRId64 ", which the agent "
			    "created", vmid);
		else if (f->guest == GATE_EXISTS_YES)
			verdict(out, GATE_DESTRUCTIVE,
			    GATE_R_RESTORE_OVERWRITE, "restore overwrites "
			    "existing guest %" PRId64, vmid);
		else
			verdict(out, GATE_DESTRUCTIVE,
			    GATE_R_RESTORE_UNPROVEN, "restore into vmid %"
			    PRId64 ", not proven free", vmid);
		return;
	case OPBLOB_OP_DESTROY:
		if (f->agent_guest)
			verdict(out, GATE_BENIGN, GATE_R_AGENT_GUEST,
			    "guest %" PRId64 " was created by the agent", vmid);
		else
			verdict(out, GATE_DESTRUCTIVE, GATE_R_GUEST,
			    "destroys guest %" PRId64, vmid);
		return;
	case OPBLOB_OP_ROTATE_SIGNERS:
		verdict(out, GATE_DESTRUCTIVE, GATE_R_ROTATION, "a signer "
		    "rotation always needs a signature");
		return;
	default:
		/* an unknown operation class is destructive. */
		verdict(out, GATE_DESTRUCTIVE, GATE_R_UNKNOWN, "unknown "
		    "operation");
		return;
	}
}

enum opblob_op
gate_op_of_kind(enum ops_kind kind)
{
	const char *name = ops_kind_name(kind);

	return name != NULL ? opblob_kind_from_name(name) : OPBLOB_OP_UNKNOWN;
}
