/*
 * rtests — the restore_test_runs table (migration 0003): the agent's
 * restore tests, one row per run.  The runner
 * (engine/rtest) moves a run through its phases; the report reads the
 * finished ones.
 */
#ifndef FELHOM_STORE_RTESTS_H
#define FELHOM_STORE_RTESTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/db.h"

#define RTESTS_REPORT_MAX	500	/* runs in one report */

enum rtests_phase {
	RTESTS_RESTORE,		/* the backup is restored into scratch */
	RTESTS_ISOLATE,		/* its network and devices removed */
	RTESTS_START,		/* started */
	RTESTS_HOLD,		/* must stay running for hold_s */
	RTESTS_STOP,		/* stopped */
	RTESTS_DESTROY,		/* destroyed */
	RTESTS_DONE,		/* result and finished_at set */
	RTESTS__COUNT
};

/* "restore", ...; NULL out of range.  Parse: -1 when unknown. */
const char *rtests_phase_name(enum rtests_phase p);
int	rtests_phase_parse(const char *s);

/* One run, heap-owned strings (rtests_run_reset). */
struct rtests_run {
	int64_t			 id;
	int64_t			 vmid;
	int64_t			 scratch_vmid;	/* 0: none chosen */
	char			*backup_volid;	/* NULL: none found */
	char			*storage;
	enum rtests_phase	 phase;
	int64_t			 op_id;		/* 0: none */
	int			 marked;	/* marker description set */
	char			*result;	/* NULL, "passed", "failed" */
	char			*detail;
	int64_t			 started_at;
	int64_t			 running_since;	/* 0: not yet */
	int64_t			 finished_at;	/* 0: not yet */
};

void	rtests_run_reset(struct rtests_run *r);
void	rtests_runs_free(struct rtests_run *v, size_t n);

/* A new run in phase `phase`; *id_out its id. */
int	rtests_insert(struct db *db, const struct rtests_run *r,
	    int64_t *id_out, struct err *err);
/* Writes every mutable column of r (by r->id). */
int	rtests_update(struct db *db, const struct rtests_run *r,
	    struct err *err);
/* The runs not done yet, oldest first (caller frees). */
int	rtests_open(struct db *db, struct rtests_run **out, size_t *n_out,
	    struct err *err);
/* The latest run of vmid (open or done); ERR_NOT_FOUND when none. */
int	rtests_latest(struct db *db, int64_t vmid, struct rtests_run *out,
	    struct err *err);
/*
 * The report's restore_tests: the newest finished run of each guest,
 * [{vmid, backup_volid, scratch_vmid, started_at, finished_at, result,
 * detail}], newest first (caller decrefs).
 */
int	rtests_report(struct db *db, json_t **out, struct err *err);

#endif
