/*
 * notify — the service manager's readiness and watchdog protocol,
 * spoken directly: one datagram of "KEY=VALUE" lines to the AF_UNIX
 * socket named by $NOTIFY_SOCKET, as sd_notify(3) documents it ("the
 * protocol is stable").  Outside systemd ($NOTIFY_SOCKET unset) every
 * call is a no-op that succeeds.
 *
 * Why not libsystemd: the protocol is a dozen lines, it adds no build or
 * runtime dependency, and it lets tests point the agent at their own
 * socket the same way systemd does.
 *
 * The watchdog: systemd sets $WATCHDOG_USEC (and $WATCHDOG_PID, which
 * must be ours) when the unit has WatchdogSec=; the loop calls
 * notify_watchdog() every turn and a ping goes out at most every half
 * interval.  A loop that stops turning stops the pings, and systemd
 * restarts the service.
 */
#ifndef FELHOM_AGENT_NOTIFY_H
#define FELHOM_AGENT_NOTIFY_H

#include <sys/socket.h>
#include <sys/un.h>

#include <stdint.h>

#include "base/err.h"

#define NOTIFY_STATUS_MAX	256

struct notify {
	int			 fd;		/* -1: no systemd */
	struct sockaddr_un	 addr;
	socklen_t		 addrlen;
	int64_t			 watchdog_ms;	/* 0: no watchdog */
	int64_t			 last_ping_ms;	/* monotonic */
	char			 status[NOTIFY_STATUS_MAX]; /* last sent */
};

/*
 * Reads $NOTIFY_SOCKET ("/path" or "@abstract"), $WATCHDOG_USEC and
 * $WATCHDOG_PID.  Always leaves n usable (a no-op when the variables are
 * absent); returns ERR_CONFIG with a message when a variable is set but
 * unusable (the caller logs it and goes on without).  Free with
 * notify_reset().
 */
int	notify_init(struct notify *n, struct err *err);
void	notify_reset(struct notify *n);

/* 1 when a socket was given. */
int	notify_enabled(const struct notify *n);

/* Sends msg (newline-separated assignments) as one datagram. */
int	notify_send(struct notify *n, const char *msg, struct err *err);

/* "READY=1" with a STATUS= line; "STOPPING=1"; "RELOADING=1". */
int	notify_ready(struct notify *n, const char *status, struct err *err);
int	notify_stopping(struct notify *n, struct err *err);
int	notify_reloading(struct notify *n, struct err *err);

/* "STATUS=..." — sent only when it differs from the last one. */
int	notify_status(struct notify *n, const char *status, struct err *err);

/*
 * "WATCHDOG=1" when the watchdog is on and half its interval passed since
 * the last ping (now_ms is monotonic).
 */
int	notify_watchdog(struct notify *n, int64_t now_ms, struct err *err);

#endif
