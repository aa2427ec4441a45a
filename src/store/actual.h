/*
 * actual — the guests as last observed from PVE (table actual_guests):
 * run status, lock, and the normalized spec the reconciler compares with
 * the desired one.
 */
#ifndef FELHOM_STORE_ACTUAL_H
#define FELHOM_STORE_ACTUAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

struct actual_guest {
	int64_t		 vmid;
	char		*name;		/* may be NULL */
	char		*status;	/* running, stopped, unknown */
	char		*lock;		/* PVE lock, NULL when none */
	int		 template;	/* 1: a template (never started) */
	json_t		*spec;		/* normalized; NULL: unread */
	/*
	 * Or the same spec as text (jsonx_dump, one allocation), which is
	 * what engine_observe keeps between cycles (issue 15: 200 parsed
	 * specs were ~660 KiB of small blocks); spec is NULL then.  Both
	 * NULL: unread.
	 */
	char		*spec_text;
	json_t		*config;	/* raw PVE config, NULL: unread */
};

struct actual_set {
	int64_t			 observed_at;	/* 0: never */
	struct actual_guest	*guests;	/* by vmid, ascending */
	size_t			 nguests;
	size_t			 cap;		/* allocated */
};

/* A new empty set (caller frees). */
struct actual_set *actual_set_new(void);
void	actual_set_free(struct actual_set *set);
/*
 * Appends a guest, taking ownership of its strings and JSON (also on
 * failure); keep vmids ascending, or call actual_set_sort().
 */
int	actual_set_add(struct actual_set *set, struct actual_guest *g,
	    struct err *err);
void	actual_set_sort(struct actual_set *set);
/* Borrowed pointer into set, or NULL. */
const struct actual_guest *actual_find(const struct actual_set *set,
	    int64_t vmid);

/*
 * Replaces the stored observation with set (in the caller's transaction
 * or its own).
 */
int	actual_replace(struct db *db, const struct actual_set *set,
	    struct err *err);
/*
 * issue 15: brings the stored observation to set, writing only the rows
 * that differ (observed_at moves with a change only) and dropping the
 * guests set lacks; *changed (may be NULL) counts the rows written.  In
 * the caller's transaction or its own; a cycle where nothing changed
 * writes nothing.
 */
int	actual_sync(struct db *db, const struct actual_set *set,
	    size_t *changed, struct err *err);
/* The stored vmids, ascending (caller frees *out). */
int	actual_vmids(struct db *db, int64_t **out, size_t *nout,
	    struct err *err);
/* Loads the stored observation (caller frees). */
int	actual_load(struct db *db, struct actual_set **out, struct err *err);
/*
 * The same without the raw configs (each guest's config is NULL; spec is
 * the normalized spec stored when it was observed, NULL where the config
 * was not read or not understood): all a plan compares (issue 15).
 */
int	actual_load_specs(struct db *db, struct actual_set **out,
	    struct err *err);

#endif
