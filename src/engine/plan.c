/*
 * plan — desired × actual → actions, a pure function (R-22 … R-24).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "base/json.h"
#include "engine/norm.h"
#include "engine/plan.h"

static const char *const note_names[] = {
	[PLAN_NOTE_LOCKED] = "locked",
	[PLAN_NOTE_BUSY] = "busy",
	[PLAN_NOTE_TEMPLATE] = "template",
	[PLAN_NOTE_UNPROVEN] = "unproven_absence",
	[PLAN_NOTE_MISSING] = "missing",
	[PLAN_NOTE_NO_SPEC] = "no_spec",
	[PLAN_NOTE_UNKNOWN_STATUS] = "unknown_status",
};
_Static_assert(sizeof(note_names) / sizeof(note_names[0]) == PLAN_NOTE__COUNT,
    "plan note names");

const char *
plan_note_name(enum plan_note_kind k)
{
	return (unsigned)k < PLAN_NOTE__COUNT ? note_names[k] : "unknown";
}

int
plan_digest_text(const char *text, char *out, struct err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) != 1
	    || len != 32)
		return err_set(err, ERR_CRYPTO, "SHA-256 failed");
	for (i = 0; i < len; i++) {
		out[2 * i] = "0123456789abcdef"[md[i] >> 4];
		out[2 * i + 1] = "0123456789abcdef"[md[i] & 0xf];
	}
	out[2 * len] = '\0';
	return 0;
}

int
plan_digest(const json_t *params, char *out, struct err *err)
{
	char *text;
	int rc;

	if ((text = jsonx_dump(params)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = plan_digest_text(text, out, err);
	free(text);
	return rc;
}

void
plan_key_prefix(int64_t vmid, enum ops_kind kind, const char *digest,
    char *out, size_t n)
{
	(void) snprintf(out, n, "desired/%" PRId64 "/%s/%s/", vmid,
	    ops_kind_name(kind), digest);
}

void
plan_idem_key(int64_t generation, int64_t vmid, enum ops_kind kind,
    const char *digest, char *out, size_t n)
{
	(void) snprintf(out, n, "desired/%" PRId64 "/%s/%s/%" PRId64, vmid,
	    ops_kind_name(kind), digest, generation);
}

static int
in_sorted(const int64_t *v, size_t n, int64_t x)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid] == x)
			return 1;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

struct builder {
	struct plan	*p;
	size_t		 acap, ncap, ccap;
};

static int
grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap == 0 ? 32 : *cap * 2;
	if ((nv = realloc(*v, nc * size)) == NULL)
		return ERR_NOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

static int
add_note(struct builder *b, int64_t vmid, enum plan_note_kind k,
    struct err *err)
{
	if (grow((void **)&b->p->notes, &b->ncap, b->p->nnotes,
	    sizeof(*b->p->notes)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	b->p->notes[b->p->nnotes++] = (struct plan_note){ vmid, k };
	return 0;
}

static int
add_considered(struct builder *b, int64_t vmid, struct err *err)
{
	if (grow((void **)&b->p->considered, &b->ccap, b->p->nconsidered,
	    sizeof(*b->p->considered)) != 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	b->p->considered[b->p->nconsidered++] = vmid;
	return 0;
}

/* Adds an action, taking the params reference (also on failure). */
static int
add_action(struct builder *b, int64_t vmid, enum ops_kind kind,
    enum ops_class class, json_t *params, const char *why, struct err *err)
{
	struct plan_action *a;
	int rc;

	if (params == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (grow((void **)&b->p->actions, &b->acap, b->p->nactions,
	    sizeof(*b->p->actions)) != 0) {
		json_decref(params);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	a = &b->p->actions[b->p->nactions];
	memset(a, 0, sizeof(*a));
	a->vmid = vmid;
	a->kind = kind;
	a->class = class;
	a->params = params;
	(void) snprintf(a->why, sizeof(a->why), "%s", why);
	/* One dump: hashed here, stored as is by ops_create (issue 15). */
	if ((a->params_text = jsonx_dump(params)) == NULL) {
		json_decref(params);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((rc = plan_digest_text(a->params_text, a->digest, err)) != 0) {
		free(a->params_text);
		json_decref(params);
		return rc;
	}
	b->p->nactions++;
	return 0;
}

static int
cmp_json_str(const void *a, const void *b)
{
	const json_t *const *x = a, *const *y = b;

	return strcmp(json_string_value(*x), json_string_value(*y));
}

/*
 * norm_spec_to_params' flat object → the set_config params of
 * signed-ops.md: {"set": {KEY: VALUE...}, "delete": [KEY...]}.
 */
static json_t *
config_params(json_t *flat)
{
	json_t *set = json_object(), *del = json_array(), *v, *res = NULL;
	const char *k, *d, *p, *c;

	if (set == NULL || del == NULL)
		goto out;
	json_object_foreach(flat, k, v) {
		if (strcmp(k, "delete") == 0)
			continue;
		if (json_object_set(set, k, v) != 0)
			goto out;
	}
	if ((d = json_string_value(json_object_get(flat, "delete"))) != NULL) {
		for (p = d; *p != '\0'; p = *c == ',' ? c + 1 : c) {
			c = strchr(p, ',');
			if (c == NULL)
				c = p + strlen(p);
			if (json_array_append_new(del, json_stringn(p,
			    (size_t)(c - p))) != 0)
				goto out;
		}
	}
	/* Sorted: the same desired value gives the same digest. */
	if (json_array_size(del) > 1) {
		json_t **items = calloc(json_array_size(del), sizeof(*items));
		json_t *sorted = json_array();
		size_t i, n = json_array_size(del);

		if (items == NULL || sorted == NULL) {
			free(items);
			json_decref(sorted);
			goto out;
		}
		for (i = 0; i < n; i++)
			items[i] = json_array_get(del, i);
		qsort(items, n, sizeof(*items), cmp_json_str);
		for (i = 0; i < n; i++)
			if (json_array_append(sorted, items[i]) != 0)
				break;
		free(items);
		json_decref(del);
		del = sorted;
		if (i < n)
			goto out;
	}
	res = json_pack("{s:O,s:O}", "set", set, "delete", del);
out:
	json_decref(set);
	json_decref(del);
	return res;
}

/* a's spec, parsed from its text when kept as text (caller decrefs). */
static int
actual_spec(const struct actual_guest *a, json_t **out, struct err *err)
{
	if (a->spec != NULL) {
		*out = json_incref(a->spec);
		return 0;
	}
	return jsonx_parse(a->spec_text, strlen(a->spec_text), SIZE_MAX, 0,
	    "observed spec", out, err);
}

static int
plan_guest(struct builder *b, const struct plan_input *in,
    const struct desired_guest *g, struct err *err)
{
	const struct actual_guest *a = actual_find(in->actual, g->vmid);
	json_t *flat = NULL, *params, *aspec;
	int running, rc;
	char why[96];

	if (in_sorted(in->busy, in->nbusy, g->vmid))
		return add_note(b, g->vmid, PLAN_NOTE_BUSY, err);
	if (a == NULL) {
		if (g->state == DESIRED_ABSENT || g->provision == NULL) {
			/* Already absent, or nothing to create: no action. */
			if ((rc = add_considered(b, g->vmid, err)) != 0)
				return rc;
			return g->state == DESIRED_ABSENT ? 0 :
			    add_note(b, g->vmid, PLAN_NOTE_MISSING, err);
		}
		/* Never act on an absence not proven by a direct read. */
		if (!in_sorted(in->proven_absent, in->nproven_absent, g->vmid))
			return add_note(b, g->vmid, PLAN_NOTE_UNPROVEN, err);
		if ((rc = add_considered(b, g->vmid, err)) != 0)
			return rc;
		params = json_deep_copy(g->provision);
		if (params != NULL && json_object_set_new(params, "spec",
		    g->spec != NULL ? json_deep_copy(g->spec) :
		    json_object()) != 0) {
			json_decref(params);
			params = NULL;
		}
		/* Then started in the same op when it is to run. */
		if (params != NULL && g->state == DESIRED_RUNNING &&
		    json_object_set_new(params, "start", json_true()) != 0) {
			json_decref(params);
			params = NULL;
		}
		return add_action(b, g->vmid, OPS_KIND_PROVISION,
		    OPS_CLASS_BENIGN, params, "desired guest is missing: "
		    "provision", err);
	}
	if (a->lock != NULL)
		return add_note(b, g->vmid, PLAN_NOTE_LOCKED, err);
	if (a->template)
		return add_note(b, g->vmid, PLAN_NOTE_TEMPLATE, err);
	if ((rc = add_considered(b, g->vmid, err)) != 0)
		return rc;
	if (g->state == DESIRED_ABSENT)
		return add_action(b, g->vmid, OPS_KIND_DESTROY,
		    OPS_CLASS_DESTRUCTIVE, json_pack("{s:b}", "purge", 1),
		    "desired state is absent: destroy", err);
	/* Overwrites are exclusive this cycle: the spec follows them. */
	if (g->restore != NULL)
		return add_action(b, g->vmid, OPS_KIND_RESTORE,
		    OPS_CLASS_DESTRUCTIVE, json_deep_copy(g->restore),
		    "desired restore from a backup", err);
	if (g->rollback != NULL)
		return add_action(b, g->vmid, OPS_KIND_ROLLBACK,
		    OPS_CLASS_DESTRUCTIVE, json_deep_copy(g->rollback),
		    "desired rollback to a snapshot", err);
	running = a->status != NULL && strcmp(a->status, "running") == 0;
	if (a->status == NULL || (!running && strcmp(a->status, "stopped") !=
	    0)) {
		if ((rc = add_note(b, g->vmid, PLAN_NOTE_UNKNOWN_STATUS,
		    err)) != 0)
			return rc;
	} else if (g->state == DESIRED_STOPPED && running) {
		/* Stop first: config changes then apply at once (§5.7). */
		if ((rc = add_action(b, g->vmid, OPS_KIND_STOP,
		    OPS_CLASS_BENIGN, json_pack("{s:s,s:I}", "mode", "shutdown",
		    "timeout", (json_int_t)(in->shutdown_timeout_s > 0 ?
		    in->shutdown_timeout_s : PLAN_SHUTDOWN_TIMEOUT_S)),
		    "desired stopped, is running", err)) != 0)
			return rc;
	}
	if (g->spec != NULL && json_object_size(g->spec) > 0) {
		if (a->spec == NULL && a->spec_text == NULL) {
			if ((rc = add_note(b, g->vmid, PLAN_NOTE_NO_SPEC,
			    err)) != 0)
				return rc;
		} else {
			if ((rc = actual_spec(a, &aspec, err)) != 0)
				return err_prefix(err, "guest %" PRId64 ": ",
				    g->vmid);
			rc = norm_spec_to_params(g->spec, aspec, &flat, err);
			json_decref(aspec);
			if (rc != 0)
				return err_prefix(err, "guest %" PRId64 ": ",
				    g->vmid);
			if (json_object_size(flat) > 0) {
				(void) snprintf(why, sizeof(why), "config "
				    "drift in %zu key(s)",
				    json_object_size(flat));
				rc = add_action(b, g->vmid,
				    OPS_KIND_SET_CONFIG, OPS_CLASS_BENIGN,
				    config_params(flat), why, err);
			}
			json_decref(flat);
			if (rc != 0)
				return rc;
		}
	}
	if (g->state == DESIRED_RUNNING && a->status != NULL &&
	    strcmp(a->status, "stopped") == 0)
		return add_action(b, g->vmid, OPS_KIND_START, OPS_CLASS_BENIGN,
		    json_object(), "desired running, is stopped", err);
	return 0;
}

/* A guest of the last observation missing now, not proven gone. */
static int
shrunk(const struct plan_input *in, int64_t *vmid_out, size_t *nmissing)
{
	const struct actual_set *prev = in->previous;
	size_t i, n = 0;

	if (prev == NULL)
		return 0;
	for (i = 0; i < prev->nguests; i++) {
		if (actual_find(in->actual, prev->guests[i].vmid) != NULL ||
		    in_sorted(in->proven_absent, in->nproven_absent,
		    prev->guests[i].vmid))
			continue;
		if (n++ == 0)
			*vmid_out = prev->guests[i].vmid;
	}
	*nmissing = n;
	return n > 0;
}

int
plan_compute(const struct plan_input *in, struct plan **out, struct err *err)
{
	struct builder b;
	size_t i, nmissing = 0;
	int64_t first = 0;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((b.p = calloc(1, sizeof(*b.p))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (in->desired == NULL || in->actual == NULL) {
		rc = err_set(err, ERR_INVALID, "plan needs desired and actual");
		goto out;
	}
	for (i = 1; i < in->desired->nguests; i++)
		if (in->desired->guests[i].vmid <=
		    in->desired->guests[i - 1].vmid) {
			rc = err_set(err, ERR_INVALID, "desired guests not in "
			    "ascending vmid order at %zu", i);
			goto out;
		}
	if (shrunk(in, &first, &nmissing)) {
		b.p->skipped = 1;
		(void) snprintf(b.p->skip_reason, sizeof(b.p->skip_reason),
		    "guest list shrank: %zu guest(s) seen last time missing "
		    "without proof (first %" PRId64 "); the token may have "
		    "lost privileges", nmissing, first);
		goto done;
	}
	for (i = 0; i < in->desired->nguests; i++)
		if ((rc = plan_guest(&b, in, &in->desired->guests[i], err)) !=
		    0)
			goto out;
done:
	*out = b.p;
	b.p = NULL;
	rc = 0;
out:
	plan_free(b.p);
	return rc;
}

void
plan_free(struct plan *plan)
{
	size_t i;

	if (plan == NULL)
		return;
	for (i = 0; i < plan->nactions; i++) {
		json_decref(plan->actions[i].params);
		free(plan->actions[i].params_text);
	}
	free(plan->actions);
	free(plan->considered);
	free(plan->notes);
	free(plan);
}

int
plan_considers(const struct plan *plan, int64_t vmid)
{
	return in_sorted(plan->considered, plan->nconsidered, vmid);
}

/* Actions are in vmid order (the desired set's): the first of vmid. */
static size_t
first_action(const struct plan *plan, int64_t vmid)
{
	size_t lo = 0, hi = plan->nactions, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (plan->actions[mid].vmid < vmid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
plan_has_actions(const struct plan *plan, int64_t vmid)
{
	size_t i = first_action(plan, vmid);

	/* A binary search: the engine asks for every guest considered. */
	return i < plan->nactions && plan->actions[i].vmid == vmid;
}

const struct plan_action *
plan_find(const struct plan *plan, int64_t vmid, enum ops_kind kind,
    const char *digest)
{
	size_t i;

	for (i = first_action(plan, vmid);
	    i < plan->nactions && plan->actions[i].vmid == vmid; i++)
		if (plan->actions[i].kind == kind &&
		    strcmp(plan->actions[i].digest, digest) == 0)
			return &plan->actions[i];
	return NULL;
}
