/*
 * dbstate — the database's identity and its loss.
 *
 * A database is created on purpose (`felhom-admin db init`) or, on a host
 * whose state directory shows none ever existed, by the agent's first
 * start — atomically (a temporary file renamed into place).  Either way it
 * gets an id, its creation time and a nonce floor, and the state directory
 * gets a marker, "<db>.marker": one JSON line {"db_id", "created_at",
 * "audit_seq"} that the agent keeps at the newest audit seq it committed.
 *
 * A missing or empty database where the directory shows there was one
 * (the marker, a lock file naming a database, a pre-migration backup, a
 * write-ahead log) is never replaced silently: ERR_NOT_FOUND, the agent
 * refuses to start.  A database that is not the one the marker names, or
 * is behind it (a restored copy, a lost -wal), or whose -wal vanished
 * after an unclean shutdown, is "restored": its nonce floor moves to now,
 * so a signed op whose not_before is earlier is refused (replay_floor) —
 * a nonce lost with the newer state can never be replayed.
 */
#ifndef FELHOM_STORE_DBSTATE_H
#define FELHOM_STORE_DBSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

#define DBSTATE_KV_ID		"db_id"
#define DBSTATE_KV_CREATED	"db_created_at"
#define DBSTATE_KV_FLOOR	"nonce_floor"
#define DBSTATE_KV_RESTORED	"db_restored_at"
#define DBSTATE_ID_LEN		33	/* 32 hex + NUL */

struct dbstate_marker {
	int	 present;		/* the file was there */
	char	 db_id[DBSTATE_ID_LEN];
	int64_t	 created_at;
	int64_t	 audit_seq;		/* newest audit seq committed */
};

/*
 * Reads "<dbpath>.marker": present 0 when there is none; ERR_FORMAT
 * when it is not a marker.
 */
int	dbstate_marker_read(const char *dbpath, struct dbstate_marker *out,
	    struct err *err);
/* Writes it atomically (temporary file, fsync, rename), mode 0600. */
int	dbstate_marker_write(const char *dbpath, const struct dbstate_marker *m,
	    struct err *err);

/*
 * 1 when the state directory shows a database existed at dbpath: the
 * marker, a lock file naming a database (lk, may be NULL), a
 * "<dbpath>.pre-N.bak", or a "<dbpath>-wal"; why gets them, for people.
 */
int	dbstate_evidence(const char *dbpath, const struct db_lock_info *lk,
	    char *why, size_t n);

/*
 * Creates a new database at dbpath atomically — migrated, with a fresh
 * id, created_at = now and the nonce floor `floor` — then its marker.
 * ERR_CONFLICT when a database with tables is there already.  id_out
 * (DBSTATE_ID_LEN, may be NULL) gets its id.
 */
int	dbstate_create(const char *dbpath, int64_t now, int64_t floor,
	    char *id_out, struct err *err);

/*
 * Before the agent opens dbpath: a database that is there is left alone;
 * a missing or empty one is created (*created = 1, floor = now) only when
 * nothing shows one existed, else ERR_NOT_FOUND saying what shows it and
 * what to do.
 */
int	dbstate_ensure(const char *dbpath, const struct db_lock_info *lk,
	    int64_t now, int *created, struct err *err);

struct dbstate_verdict {
	int	 restored;		/* floor moved, ops held for review */
	int	 adopted;		/* no marker (or no id) before: made */
	char	 db_id[DBSTATE_ID_LEN];
	char	 why[320];		/* why it counts as restored */
};

/*
 * After opening the agent's database (dbpath): compares it with the
 * marker.  wal_missing: the previous run ended uncleanly (unclean) and
 * "<dbpath>-wal" was gone before this open.  A restored database gets
 * nonce_floor = floor (at least) and db_restored_at = now, and an audit
 * event (database / restored), in one transaction; then the marker is
 * rewritten for it.  The caller's floor is past anything the lost state
 * may have accepted: now + 1 + the clock-skew allowance (a blob valid a
 * little in the future is accepted that much early).
 */
int	dbstate_check(struct db *db, const char *dbpath, int unclean,
	    int wal_missing, int64_t now, int64_t floor,
	    struct dbstate_verdict *out, struct err *err);

/*
 * Keeps the marker at the newest audit seq: rewrites it when the seq
 * moved past *seen (updated).  Cheap when nothing changed.
 */
int	dbstate_note(struct db *db, const char *dbpath, int64_t *seen,
	    struct err *err);

/* The nonce floor (0: none). */
int	dbstate_floor(struct db *db, int64_t *out, struct err *err);

#endif
