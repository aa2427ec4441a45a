/*
 * dbstate — database identity, creation on purpose, loss and restore
 * detection, the nonce floor.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/json.h"
#include "store/audit.h"
#include "store/dbstate.h"
#include "store/kv.h"

#define MARKER_CAP	4096

static int
path_with(const char *dbpath, const char *suffix, char *out, size_t n)
{
	return (size_t)snprintf(out, n, "%s%s", dbpath, suffix) >= n ?
	    ERR_INVALID : 0;
}

/* fsync of the directory holding path: a rename there is durable. */
static int
sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = 0;

	if (copy == NULL)
		return ERR_NOMEM;
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = ERR_IO;
	else {
		if (fsync(fd) != 0)
			rc = ERR_IO;
		(void) close(fd);
	}
	free(copy);
	return rc;
}

int
dbstate_marker_read(const char *dbpath, struct dbstate_marker *out,
    struct err *err)
{
	char path[4096];
	const char *id;
	json_t *doc = NULL;
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if (path_with(dbpath, ".marker", path, sizeof(path)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	if (stat(path, &sb) != 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	}
	if ((rc = jsonx_parse_file(path, MARKER_CAP, 0, &doc, err)) != 0)
		return err_prefix(err, "database marker: ");
	if ((rc = jsonx_req_string(doc, "marker", "db_id", &id, err)) != 0 ||
	    (rc = jsonx_req_int(doc, "marker", "created_at", 0, INT64_MAX,
	    &out->created_at, err)) != 0 ||
	    (rc = jsonx_req_int(doc, "marker", "audit_seq", 0, INT64_MAX,
	    &out->audit_seq, err)) != 0)
		goto out;
	if (strlen(id) != DBSTATE_ID_LEN - 1) {
		rc = err_set(err, ERR_FORMAT, "%s: db_id '%.40s' is not an id",
		    path, id);
		goto out;
	}
	(void) snprintf(out->db_id, sizeof(out->db_id), "%s", id);
	out->present = 1;
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
dbstate_marker_write(const char *dbpath, const struct dbstate_marker *m,
    struct err *err)
{
	char path[4096], tmp[4096], text[256];
	int fd, n;

	if (path_with(dbpath, ".marker", path, sizeof(path)) != 0 ||
	    path_with(dbpath, ".marker.tmp", tmp, sizeof(tmp)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	n = snprintf(text, sizeof(text), "{\"db_id\":\"%s\",\"created_at\":"
	    "%" PRId64 ",\"audit_seq\":%" PRId64 "}\n", m->db_id,
	    m->created_at, m->audit_seq);
	if (n < 0 || (size_t)n >= sizeof(text))
		return err_set(err, ERR_INVALID, "marker too long");
	(void) unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
	if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		(void) close(fd);
		(void) unlink(tmp);
		return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
	}
	(void) close(fd);
	if (rename(tmp, path) != 0) {
		(void) unlink(tmp);
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (sync_dir(path) != 0)
		return err_set(err, ERR_IO, "%s: cannot sync its directory: "
		    "%s", path, strerror(errno));
	return 0;
}

static void
why_add(char *why, size_t n, const char *what)
{
	size_t len = strlen(why);

	(void) snprintf(why + len, n - len, "%s%s", len > 0 ? ", " : "", what);
}

int
dbstate_evidence(const char *dbpath, const struct db_lock_info *lk,
    char *why, size_t n)
{
	char path[4096], *copy = NULL, *dir, *base, text[4200];
	struct dirent *de;
	struct stat sb;
	DIR *d;
	size_t blen;

	why[0] = '\0';
	if (path_with(dbpath, ".marker", path, sizeof(path)) == 0 &&
	    stat(path, &sb) == 0) {
		(void) snprintf(text, sizeof(text), "its marker %s", path);
		why_add(why, n, text);
	}
	if (lk != NULL && lk->db_id[0] != '\0') {
		(void) snprintf(text, sizeof(text), "the lock file %s.lock, "
		    "which names database %s", dbpath, lk->db_id);
		why_add(why, n, text);
	}
	if (path_with(dbpath, "-wal", path, sizeof(path)) == 0 &&
	    stat(path, &sb) == 0) {
		(void) snprintf(text, sizeof(text), "its write-ahead log %s",
		    path);
		why_add(why, n, text);
	}
	/* "<db>.pre-N.bak": a migration ran on a database here. */
	if ((copy = strdup(dbpath)) == NULL)
		return why[0] != '\0';
	base = strrchr(copy, '/');
	dir = base != NULL && base != copy ? copy : (char *)".";
	if (base != NULL) {
		*base++ = '\0';
		if (dir[0] == '\0')
			dir = (char *)"/";
	} else
		base = copy;
	blen = strlen(base);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, base, blen) != 0 ||
			    strncmp(de->d_name + blen, ".pre-", 5) != 0 ||
			    strlen(de->d_name) < blen + 9 ||
			    strcmp(de->d_name + strlen(de->d_name) - 4,
			    ".bak") != 0)
				continue;
			(void) snprintf(text, sizeof(text), "the pre-migration "
			    "copy %s/%s", dir, de->d_name);
			why_add(why, n, text);
			break;
		}
		(void) closedir(d);
	}
	free(copy);
	return why[0] != '\0';
}

/* 1 when path holds a database with tables; 0 missing or empty. */
static int
has_database(const char *path)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int rc, n = 1;

	if (stat(path, &sb) != 0)
		return 0;
	if (sb.st_size == 0)
		return 0;
	/* Not a database at all: db_open says so later, as corrupt. */
	if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		(void) sqlite3_close(h);
		return 1;
	}
	rc = sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master", -1,
	    &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	(void) sqlite3_close(h);
	return n;
}

static int
new_id(char *out, struct err *err)
{
	unsigned char r[16];
	ssize_t n;
	size_t i;

	do
		n = getrandom(r, sizeof(r), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r))
		return err_set(err, ERR_IO, "getrandom: %s", n < 0 ?
		    strerror(errno) : "short read");
	for (i = 0; i < sizeof(r); i++)
		(void) snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/* Renames "<dbpath><suffix>" to "<dbpath><suffix>.old" when there. */
static int
set_aside(const char *dbpath, const char *suffix, struct err *err)
{
	char from[4096], to[4200];

	if (path_with(dbpath, suffix, from, sizeof(from)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	(void) snprintf(to, sizeof(to), "%s.old", from);
	if (rename(from, to) != 0 && errno != ENOENT)
		return err_set(err, ERR_IO, "%s: cannot set it aside: %s",
		    from, strerror(errno));
	return 0;
}

int
dbstate_create(const char *dbpath, int64_t now, int64_t floor, char *id_out,
    struct err *err)
{
	struct dbstate_marker m;
	struct db *db = NULL;
	char tmp[4096], side[4200], id[DBSTATE_ID_LEN];
	int fd, rc;

	if (has_database(dbpath))
		return err_set(err, ERR_CONFLICT, "%s: a database is there "
		    "already; move it away first", dbpath);
	if (path_with(dbpath, ".new", tmp, sizeof(tmp)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	if ((rc = new_id(id, err)) != 0)
		return rc;
	/* Leftovers of a creation that was interrupted. */
	(void) unlink(tmp);
	(void) snprintf(side, sizeof(side), "%s-wal", tmp);
	(void) unlink(side);
	(void) snprintf(side, sizeof(side), "%s-shm", tmp);
	(void) unlink(side);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
	(void) close(fd);
	if ((rc = db_open(tmp, DB_OPEN_MIGRATE | DB_OPEN_NO_BACKUP, &db,
	    err)) != 0)
		goto fail;
	if ((rc = db_begin(db, err)) != 0)
		goto fail;
	if ((rc = kv_set(db, DBSTATE_KV_ID, id, err)) != 0 ||
	    (rc = kv_set_int(db, DBSTATE_KV_CREATED, now, err)) != 0 ||
	    (rc = kv_set_int(db, DBSTATE_KV_FLOOR, floor, err)) != 0 ||
	    (rc = db_commit(db, err)) != 0) {
		db_rollback(db);
		goto fail;
	}
	/* A clean close folds the WAL into the file. */
	db_close(db);
	db = NULL;
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0 || fsync(fd) != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			(void) close(fd);
		goto fail;
	}
	(void) close(fd);
	/*
	 * A write-ahead log left by the database this one replaces would be
	 * replayed into it: set aside, kept for inspection.
	 */
	if ((rc = set_aside(dbpath, "-wal", err)) != 0 ||
	    (rc = set_aside(dbpath, "-shm", err)) != 0)
		goto fail;
	if (rename(tmp, dbpath) != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", dbpath, strerror(errno));
		goto fail;
	}
	if (sync_dir(dbpath) != 0) {
		rc = err_set(err, ERR_IO, "%s: cannot sync its directory: %s",
		    dbpath, strerror(errno));
		goto fail;
	}
	memset(&m, 0, sizeof(m));
	m.present = 1;
	(void) snprintf(m.db_id, sizeof(m.db_id), "%s", id);
	m.created_at = now;
	if ((rc = dbstate_marker_write(dbpath, &m, err)) != 0)
		return rc;
	if (id_out != NULL)
		(void) snprintf(id_out, DBSTATE_ID_LEN, "%s", id);
	return 0;
fail:
	db_close(db);
	(void) unlink(tmp);
	return rc;
}

int
dbstate_ensure(const char *dbpath, const struct db_lock_info *lk, int64_t now,
    int *created, struct err *err)
{
	char why[1024];

	*created = 0;
	if (has_database(dbpath))
		return 0;
	/* never replaced silently — that reopens replay. */
	if (dbstate_evidence(dbpath, lk, why, sizeof(why)))
		return err_set(err, ERR_NOT_FOUND, "%s is missing or empty "
		    "where this host had a database: refusing to create a "
		    "new one silently (its nonces and signer rotations would "
		    "be lost).  Restore it from a backup (docs/recovery.md) "
		    "or create one on purpose: felhom-admin db init --db %s.  "
		    "Evidence: %s", dbpath, dbpath, why);
	*created = 1;
	return dbstate_create(dbpath, now, now, NULL, err);
}

static int
mark_restored(struct db *db, int64_t now, int64_t want, const char *why,
    struct err *err)
{
	struct audit_event ev;
	json_t *data;
	int64_t floor;
	int rc;

	if ((rc = db_begin(db, err)) != 0)
		return rc;
	if ((rc = kv_get_int(db, DBSTATE_KV_FLOOR, 0, &floor, err)) != 0)
		goto fail;
	if (floor < want)
		floor = want;
	if ((data = json_pack("{s:I}", "nonce_floor", (json_int_t)floor)) ==
	    NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.at = now;
	ev.event = "database";
	ev.decision = "restored";
	ev.code = "restored";
	ev.detail = why;
	ev.data = data;
	rc = audit_append(db, &ev, NULL, err);
	json_decref(data);
	if (rc != 0 ||
	    (rc = kv_set_int(db, DBSTATE_KV_FLOOR, floor, err)) != 0 ||
	    (rc = kv_set_int(db, DBSTATE_KV_RESTORED, now, err)) != 0 ||
	    (rc = db_commit(db, err)) != 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return rc;
}

int
dbstate_check(struct db *db, const char *dbpath, int unclean, int wal_missing,
    int64_t now, int64_t floor, struct dbstate_verdict *out, struct err *err)
{
	struct dbstate_marker m, nm;
	char *id = NULL;
	int64_t seq = 0, created = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = dbstate_marker_read(dbpath, &m, err)) != 0)
		return rc;
	rc = kv_get(db, DBSTATE_KV_ID, &id, err);
	if (rc == ERR_NOT_FOUND) {
		/* A database from before ids: it gets one now. */
		if ((id = malloc(DBSTATE_ID_LEN)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		if ((rc = new_id(id, err)) != 0 ||
		    (rc = kv_set(db, DBSTATE_KV_ID, id, err)) != 0)
			goto out;
		out->adopted = 1;
	} else if (rc != 0)
		return rc;
	(void) snprintf(out->db_id, sizeof(out->db_id), "%s", id);
	if ((rc = audit_last_seq(db, &seq, err)) != 0 ||
	    (rc = kv_get_int(db, DBSTATE_KV_CREATED, 0, &created, err)) != 0)
		goto out;
	if (!m.present)
		out->adopted = 1;
	else if (strcmp(m.db_id, id) != 0)
		(void) snprintf(out->why, sizeof(out->why), "the database is "
		    "not the one this host last used (id %.12s..., the marker "
		    "says %.12s...)", id, m.db_id);
	else if (seq < m.audit_seq)
		(void) snprintf(out->why, sizeof(out->why), "the database is "
		    "behind its marker (audit seq %" PRId64 " < %" PRId64 "): "
		    "it was restored from a copy or lost commits", seq,
		    m.audit_seq);
	if (out->why[0] == '\0' && unclean && wal_missing)
		(void) snprintf(out->why, sizeof(out->why), "the previous run "
		    "ended uncleanly and the write-ahead log %s-wal is gone: "
		    "commits may be lost", dbpath);
	if (out->why[0] != '\0') {
		out->restored = 1;
		if ((rc = mark_restored(db, now, floor, out->why, err)) != 0 ||
		    (rc = audit_last_seq(db, &seq, err)) != 0)
			goto out;
	}
	memset(&nm, 0, sizeof(nm));
	nm.present = 1;
	(void) snprintf(nm.db_id, sizeof(nm.db_id), "%s", id);
	nm.created_at = created > 0 ? created : m.created_at;
	nm.audit_seq = seq;
	rc = dbstate_marker_write(dbpath, &nm, err);
out:
	free(id);
	return rc;
}

int
dbstate_note(struct db *db, const char *dbpath, int64_t *seen,
    struct err *err)
{
	struct dbstate_marker m;
	char *id = NULL;
	int64_t seq = 0, created = 0;
	int rc;

	if ((rc = audit_last_seq(db, &seq, err)) != 0)
		return rc;
	if (seq <= *seen)
		return 0;
	if ((rc = kv_get(db, DBSTATE_KV_ID, &id, err)) != 0 ||
	    (rc = kv_get_int(db, DBSTATE_KV_CREATED, 0, &created, err)) != 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.present = 1;
	(void) snprintf(m.db_id, sizeof(m.db_id), "%s", id);
	m.created_at = created;
	m.audit_seq = seq;
	if ((rc = dbstate_marker_write(dbpath, &m, err)) == 0)
		*seen = seq;
out:
	free(id);
	return rc;
}

int
dbstate_floor(struct db *db, int64_t *out, struct err *err)
{
	return kv_get_int(db, DBSTATE_KV_FLOOR, 0, out, err);
}
