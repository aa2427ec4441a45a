/*
 * lastrep — the last report the hub took, beside the database (issue 15).
 *
 * "<dbpath>.last-report": one JSON object {"seq", "sent_at", "envelope",
 * "report"} — the report exactly as sent, the envelope the hub answered.
 * It is what `felhom-admin report --last` and `status` show, kept out of
 * the database so that a steady report cycle commits nothing: written
 * whole to a temporary file and renamed into place, never fsynced (a
 * diagnostic copy; after a crash it may be the one before, never a torn
 * one).
 */
#ifndef FELHOM_STORE_LASTREP_H
#define FELHOM_STORE_LASTREP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

struct lastrep {
	int64_t	 seq;
	int64_t	 sent_at;		/* unix seconds */
	json_t	*report;		/* owned */
	json_t	*envelope;		/* owned */
};

/* report and envelope are JSON texts (the body sent, the envelope kept). */
int	lastrep_write(const char *dbpath, int64_t seq, int64_t sent_at,
	    const char *report, const char *envelope, struct err *err);
/* ERR_NOT_FOUND when no report was kept yet; ERR_FORMAT when unreadable. */
int	lastrep_read(const char *dbpath, struct lastrep *out,
	    struct err *err);
void	lastrep_reset(struct lastrep *r);

#endif
