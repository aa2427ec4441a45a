/*
 * spawn — fixed-argv programs through posix_spawn.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv/spawn.h"

/* After the program exited, how long a grandchild may hold its pipes. */
#define SPAWN_LINGER_MS	1000

static int64_t
mono_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One captured stream: kept up to cap - 1 bytes, the rest drained. */
struct stream {
	int	 fd;		/* -1 once at EOF */
	char	*buf;
	size_t	 len, cap;
	int	 truncated;
};

static int
stream_read(struct stream *s)
{
	char drain[4096];
	ssize_t r;

	if (s->len + 1 < s->cap)
		r = read(s->fd, s->buf + s->len, s->cap - 1 - s->len);
	else
		r = read(s->fd, drain, sizeof(drain));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		(void) close(s->fd);
		s->fd = -1;
		return 0;
	}
	if (s->len + 1 < s->cap)
		s->len += (size_t)r;
	else
		s->truncated = 1;
	s->buf[s->len] = '\0';
	return 0;
}

static void
stream_close(struct stream *s)
{
	if (s->fd >= 0)
		(void) close(s->fd);
	s->fd = -1;
}

void
spawn_result_reset(struct spawn_result *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->errtext);
	memset(r, 0, sizeof(*r));
}

static int
check_argv(const char *const *argv, struct err *err)
{
	struct stat st;
	size_t i;

	if (argv == NULL || argv[0] == NULL || argv[0][0] != '/')
		return err_set(err, ERR_INVALID, "spawn: argv[0] must be an "
		    "absolute path");
	for (i = 0; argv[i] != NULL; i++)
		if (i >= 256)
			return err_set(err, ERR_INVALID, "spawn: more than 256 "
			    "arguments");
	if (stat(argv[0], &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(argv[0], X_OK) != 0)
		return err_set(err, ERR_NOT_FOUND, "%s: not installed (no "
		    "executable file there)", argv[0]);
	return 0;
}

/* The child's setup: its own group, default signals, nothing inherited. */
static int
spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
    int outfd, int errfd)
{
	sigset_t none, all;

	if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY,
	    0) != 0 ||
	    posix_spawn_file_actions_adddup2(fa, outfd, 1) != 0 ||
	    (errfd >= 0 ? posix_spawn_file_actions_adddup2(fa, errfd, 2) :
	    posix_spawn_file_actions_addopen(fa, 2, "/dev/null", O_WRONLY,
	    0)) != 0 ||
	    posix_spawn_file_actions_addclosefrom_np(fa, 3) != 0)
		return -1;
	(void) sigemptyset(&none);
	(void) sigfillset(&all);
	if (posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0 ||
	    posix_spawnattr_setpgroup(at, 0) != 0 ||
	    posix_spawnattr_setsigmask(at, &none) != 0 ||
	    posix_spawnattr_setsigdefault(at, &all) != 0)
		return -1;
	return 0;
}

/* Reads both streams until the program and its pipes are done. */
static void
collect(pid_t pid, const struct spawn_opts *o, struct stream *s,
    int *status_out, int *timed_out)
{
	struct pollfd pf[2];
	int64_t deadline = mono_ms() + o->timeout_ms, exited_at = -1;
	int64_t killed_at = -1, now, wait_ms;
	int st = 0, exited = 0, n, i;
	pid_t w;

	for (;;) {
		now = mono_ms();
		if (!exited && killed_at < 0 && (now >= deadline ||
		    (o->abort_flag != NULL && *o->abort_flag))) {
			(void) kill(-pid, SIGTERM);
			killed_at = now;
			*timed_out = 1;
		}
		if (!exited && killed_at >= 0 &&
		    now - killed_at >= SPAWN_GRACE_MS)
			(void) kill(-pid, SIGKILL);
		if (!exited) {
			w = waitpid(pid, &st, WNOHANG);
			if (w == pid || (w < 0 && errno == ECHILD)) {
				exited = 1;
				exited_at = now;
			}
		}
		if (s[0].fd < 0 && s[1].fd < 0 && exited)
			break;
		if (exited && now - exited_at >= SPAWN_LINGER_MS)
			break;	/* a grandchild keeps the pipe: stop here */
		n = 0;
		for (i = 0; i < 2; i++)
			if (s[i].fd >= 0) {
				pf[n].fd = s[i].fd;
				pf[n].events = POLLIN;
				pf[n].revents = 0;
				n++;
			}
		wait_ms = 50;
		if (n == 0) {
			struct timespec ts = { 0, 20 * 1000000L };

			(void) nanosleep(&ts, NULL);
			continue;
		}
		if (poll(pf, (nfds_t)n, (int)wait_ms) <= 0)
			continue;
		for (i = 0; i < 2; i++)
			if (s[i].fd >= 0) {
				int j;

				for (j = 0; j < n; j++)
					if (pf[j].fd == s[i].fd &&
					    pf[j].revents != 0)
						(void) stream_read(&s[i]);
			}
	}
	if (!exited) {
		(void) kill(-pid, SIGKILL);
		(void) waitpid(pid, &st, 0);
	}
	if (WIFEXITED(st))
		*status_out = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		*status_out = 128 + WTERMSIG(st);
	else
		*status_out = 255;
}

int
spawn_run(const struct spawn_opts *o, struct spawn_result *r,
    struct err *err)
{
	static char *const envp[] = { SPAWN_PATH, "LC_ALL=C", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct stream s[2];
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, rc, fa_ok = 0;
	int at_ok = 0, status = 0, timed_out = 0, i;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	memset(s, 0, sizeof(s));
	s[0].fd = s[1].fd = -1;
	if ((rc = check_argv(o->argv, err)) != 0)
		return rc;
	if (o->timeout_ms <= 0 || o->out_cap == 0)
		return err_set(err, ERR_INVALID, "spawn: a timeout and an "
		    "output cap are required");
	s[0].cap = o->out_cap;
	s[1].cap = o->err_cap;
	if ((s[0].buf = malloc(s[0].cap)) == NULL ||
	    (o->err_cap > 0 && (s[1].buf = malloc(s[1].cap)) == NULL)) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	s[0].buf[0] = '\0';
	if (s[1].buf != NULL)
		s[1].buf[0] = '\0';
	if (pipe2(outp, O_CLOEXEC) != 0 ||
	    (o->err_cap > 0 && pipe2(errp, O_CLOEXEC) != 0)) {
		rc = err_set(err, ERR_IO, "%s: pipe: %s", o->argv[0],
		    strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	fa_ok = 1;
	if (posix_spawnattr_init(&at) != 0) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	at_ok = 1;
	if (spawn_setup(&fa, &at, outp[1], errp[1]) != 0) {
		rc = err_set(err, ERR_IO, "%s: cannot set up the child",
		    o->argv[0]);
		goto out;
	}
	rc = posix_spawn(&pid, o->argv[0], &fa, &at,
	    (char *const *)(uintptr_t)o->argv, envp);
	if (rc != 0) {
		rc = err_set(err, rc == ENOENT || rc == EACCES ?
		    ERR_NOT_FOUND : ERR_IO, "%s: cannot start: %s",
		    o->argv[0], strerror(rc));
		goto out;
	}
	(void) close(outp[1]);
	outp[1] = -1;
	if (errp[1] >= 0) {
		(void) close(errp[1]);
		errp[1] = -1;
	}
	s[0].fd = outp[0];
	outp[0] = -1;
	s[1].fd = errp[0];
	errp[0] = -1;
	for (i = 0; i < 2; i++)
		if (s[i].fd >= 0)
			(void) fcntl(s[i].fd, F_SETFL, O_NONBLOCK);
	collect(pid, o, s, &status, &timed_out);
	r->out = s[0].buf;
	r->out_len = s[0].len;
	r->out_truncated = s[0].truncated;
	r->errtext = s[1].buf;
	r->err_len = s[1].len;
	r->status = status;
	r->timed_out = timed_out;
	s[0].buf = s[1].buf = NULL;
	rc = timed_out ? err_set(err, ERR_TIMEOUT, "%s: killed after %ld ms",
	    o->argv[0], o->timeout_ms) : 0;
out:
	for (i = 0; i < 2; i++) {
		stream_close(&s[i]);
		free(s[i].buf);
		if (outp[i] >= 0)
			(void) close(outp[i]);
		if (errp[i] >= 0)
			(void) close(errp[i]);
	}
	if (fa_ok)
		(void) posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		(void) posix_spawnattr_destroy(&at);
	return rc;
}
