/*
 * dbpath — explaining an unusable database location.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/dbpath.h"

/* "uid N (name)" into out. */
static void
who(uid_t uid, char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		(void) snprintf(out, cap, "%s (uid %u)", pw.pw_name,
		    (unsigned)uid);
	else
		(void) snprintf(out, cap, "uid %u", (unsigned)uid);
}

/* A file that exists and that we cannot write: 1 and the sentence. */
static int
not_writable(const char *path, char *out, size_t cap)
{
	char owner[128], me[128];
	struct stat st;

	if (stat(path, &st) != 0 || access(path, R_OK | W_OK) == 0)
		return 0;
	who(st.st_uid, owner, sizeof(owner));
	who(geteuid(), me, sizeof(me));
	(void) snprintf(out, cap, "%s belongs to %s (mode %04o) and %s "
	    "cannot write it; was it created by another user? Give it to "
	    "the user the agent runs as (chown)", path, owner,
	    (unsigned)(st.st_mode & 07777), me);
	return 1;
}

int
dbpath_explain(const char *dbpath, char *out, size_t cap)
{
	static const char *const sfx[] = { "", "-wal", "-shm", ".lock" };
	char dir[4096], path[4200], owner[128], me[128];
	struct stat st;
	char *slash;
	size_t i;

	out[0] = '\0';
	(void) snprintf(dir, sizeof(dir), "%s", dbpath);
	if ((slash = strrchr(dir, '/')) == NULL)
		(void) snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return 0;
		(void) snprintf(out, cap, "the directory %s does not exist; "
		    "create it for the user the agent runs as, mode 0700 "
		    "(the package's service does: StateDirectory=)", dir);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(void) snprintf(out, cap, "%s is not a directory", dir);
		return 1;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		who(st.st_uid, owner, sizeof(owner));
		who(geteuid(), me, sizeof(me));
		(void) snprintf(out, cap, "the directory %s belongs to %s "
		    "(mode %04o) and %s cannot create files in it", dir,
		    owner, (unsigned)(st.st_mode & 07777), me);
		return 1;
	}
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		(void) snprintf(path, sizeof(path), "%s%s", dbpath, sfx[i]);
		if (not_writable(path, out, cap))
			return 1;
	}
	return 0;
}
