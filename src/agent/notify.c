/*
 * notify — sd_notify(3)'s datagram protocol and the watchdog (R-37).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/notify.h"
#include "base/err.h"

/* A decimal in [min, max] filling all of s; -1 otherwise. */
static long long
parse_num(const char *s, long long min, long long max)
{
	char *end;
	long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

/* The watchdog is ours when $WATCHDOG_PID is unset or names us. */
static int
watchdog_init(struct notify *n, struct err *err)
{
	const char *us = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	long long usec, p;

	if (us == NULL)
		return 0;
	if ((usec = parse_num(us, 1, INT64_MAX / 2)) < 0)
		return err_set(err, ERR_CONFIG, "WATCHDOG_USEC='%.32s' is not "
		    "a positive number of microseconds; no watchdog pings",
		    us);
	if (pid != NULL) {
		if ((p = parse_num(pid, 1, INT32_MAX)) < 0)
			return err_set(err, ERR_CONFIG, "WATCHDOG_PID='%.32s' "
			    "is not a pid; no watchdog pings", pid);
		if ((pid_t)p != getpid())
			return 0;	/* meant for another process */
	}
	/* Never 0: a sub-millisecond interval still pings every turn. */
	n->watchdog_ms = usec >= 1000 ? (int64_t)(usec / 1000) : 1;
	return 0;
}

int
notify_init(struct notify *n, struct err *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;
	int rc;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->last_ping_ms = INT64_MIN / 2;
	if (path == NULL || *path == '\0')
		return 0;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len >= sizeof(n->addr.sun_path))
		return err_set(err, ERR_CONFIG, "NOTIFY_SOCKET='%.64s' is not "
		    "an absolute socket path or @abstract name; no readiness "
		    "or watchdog messages", path);
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';	/* abstract namespace */
	/* An abstract name has no terminating NUL in its length. */
	n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (path[0] == '/' ? 1 : 0));
	if ((n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(err, ERR_IO, "notify socket: %s",
		    strerror(errno));
	if ((rc = watchdog_init(n, err)) != 0)
		return rc;
	return 0;
}

void
notify_reset(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->fd >= 0)
		(void) close(n->fd);
	n->fd = -1;
	n->watchdog_ms = 0;
}

int
notify_enabled(const struct notify *n)
{
	return n != NULL && n->fd >= 0;
}

int
notify_send(struct notify *n, const char *msg, struct err *err)
{
	ssize_t w;

	if (!notify_enabled(n))
		return 0;
	w = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&n->addr, n->addrlen);
	if (w < 0)
		return err_set(err, ERR_IO, "notify: sending to %s%s: %s",
		    n->addr.sun_path[0] == '\0' ? "@" : "",
		    n->addr.sun_path + (n->addr.sun_path[0] == '\0'),
		    strerror(errno));
	return 0;
}

/* "STATUS=<s>" with newlines flattened: one message, one line. */
static void
status_line(char *out, size_t cap, const char *prefix, const char *status)
{
	size_t i;

	(void) snprintf(out, cap, "%sSTATUS=%s", prefix, status);
	for (i = strlen(prefix); out[i] != '\0'; i++)
		if (out[i] == '\n')
			out[i] = ' ';
}

int
notify_ready(struct notify *n, const char *status, struct err *err)
{
	char msg[NOTIFY_STATUS_MAX + 32];

	if (!notify_enabled(n))
		return 0;
	status_line(msg, sizeof(msg), "READY=1\n", status);
	/* Remembered as sent (flattened), so notify_status compares right. */
	(void) snprintf(n->status, sizeof(n->status), "%s",
	    msg + strlen("READY=1\nSTATUS="));
	return notify_send(n, msg, err);
}

int
notify_stopping(struct notify *n, struct err *err)
{
	return notify_send(n, "STOPPING=1\nSTATUS=stopping", err);
}

int
notify_reloading(struct notify *n, struct err *err)
{
	char msg[128];
	struct timespec ts;

	if (!notify_enabled(n))
		return 0;
	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253) expects. */
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	(void) snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%"
	    PRId64 "\nSTATUS=reloading the configuration",
	    (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return notify_send(n, msg, err);
}

int
notify_status(struct notify *n, const char *status, struct err *err)
{
	char msg[NOTIFY_STATUS_MAX + 16];
	int rc;

	if (!notify_enabled(n) || strncmp(n->status, status,
	    sizeof(n->status) - 1) == 0)
		return 0;
	status_line(msg, sizeof(msg), "", status);
	if ((rc = notify_send(n, msg, err)) == 0)
		(void) snprintf(n->status, sizeof(n->status), "%s", status);
	return rc;
}

int
notify_watchdog(struct notify *n, int64_t now_ms, struct err *err)
{
	int rc;

	if (!notify_enabled(n) || n->watchdog_ms <= 0)
		return 0;
	if (now_ms - n->last_ping_ms < n->watchdog_ms / 2)
		return 0;
	if ((rc = notify_send(n, "WATCHDOG=1", err)) == 0)
		n->last_ping_ms = now_ms;
	return rc;
}
