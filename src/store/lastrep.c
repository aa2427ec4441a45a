/*
 * lastrep — the last report the hub took, beside the database (issue 15).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/lastrep.h"

#define LASTREP_SUFFIX	".last-report"

static int
path_with(const char *dbpath, const char *sfx, char *out, size_t n)
{
	int w = snprintf(out, n, "%s%s", dbpath, sfx);

	return w < 0 || (size_t)w >= n ? -1 : 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
lastrep_write(const char *dbpath, int64_t seq, int64_t sent_at,
    const char *report, const char *envelope, struct err *err)
{
	char path[4096], tmp[4096], head[128];
	int fd, n, bad, e, rc;

	if (path_with(dbpath, LASTREP_SUFFIX, path, sizeof(path)) != 0 ||
	    path_with(dbpath, LASTREP_SUFFIX ".tmp", tmp, sizeof(tmp)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	n = snprintf(head, sizeof(head), "{\"seq\":%" PRId64 ",\"sent_at\":%"
	    PRId64 ",\"envelope\":", seq, sent_at);
	if (n < 0 || (size_t)n >= sizeof(head))
		return err_set(err, ERR_INTERNAL, "last report header too long");
	(void) unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		return err_set(err, ERR_IO, "%s: %s", tmp, strerror(errno));
	/* No fsync: a diagnostic copy, replaced whole by the rename. */
	bad = write_all(fd, head, (size_t)n) != 0 ||
	    write_all(fd, envelope, strlen(envelope)) != 0 ||
	    write_all(fd, ",\"report\":", 10) != 0 ||
	    write_all(fd, report, strlen(report)) != 0 ||
	    write_all(fd, "}\n", 2) != 0;
	if (close(fd) != 0)
		bad = 1;
	if (bad || rename(tmp, path) != 0) {
		e = errno;
		rc = err_set(err, e == ENOSPC ? ERR_FULL : ERR_IO, "%s: %s",
		    bad ? tmp : path, strerror(e));
		(void) unlink(tmp);
		return rc;
	}
	return 0;
}

int
lastrep_read(const char *dbpath, struct lastrep *out, struct err *err)
{
	char path[4096];
	json_error_t je;
	json_t *doc, *seq, *at, *rep, *env;

	memset(out, 0, sizeof(*out));
	if (path_with(dbpath, LASTREP_SUFFIX, path, sizeof(path)) != 0)
		return err_set(err, ERR_INVALID, "%s: path too long", dbpath);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return ERR_NOT_FOUND;
	if ((doc = json_load_file(path, 0, &je)) == NULL)
		return err_set(err, ERR_FORMAT, "%s: %s (line %d)", path,
		    je.text, je.line);
	seq = json_object_get(doc, "seq");
	at = json_object_get(doc, "sent_at");
	rep = json_object_get(doc, "report");
	env = json_object_get(doc, "envelope");
	if (!json_is_integer(seq) || !json_is_integer(at) ||
	    !json_is_object(rep) || !json_is_object(env)) {
		json_decref(doc);
		return err_set(err, ERR_FORMAT, "%s: not a last report (seq, "
		    "sent_at, envelope, report)", path);
	}
	out->seq = json_integer_value(seq);
	out->sent_at = json_integer_value(at);
	out->report = json_incref(rep);
	out->envelope = json_incref(env);
	json_decref(doc);
	return 0;
}

void
lastrep_reset(struct lastrep *r)
{
	json_decref(r->report);
	json_decref(r->envelope);
	memset(r, 0, sizeof(*r));
}
