/*
 * felhom-privhelper — the fenced root helper (R-08; DESIGN "Processes").
 *
 * Started by systemd socket activation (felhom-privhelper.socket: the
 * listening socket arrives as fd 3, LISTEN_FDS=1) and exits after
 * priv.idle_exit_s without a connection; or, for tests and the demo,
 * with --listen it makes priv.socket itself (mode 0600, owned by the
 * agent's user).  Each connection is served by a child process of its
 * own (priv/helper.c), so a slow `pct restore` never holds up a SMART
 * read.  It links neither libcurl nor libssl: only priv/ and base/.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/config.h"
#include "base/err.h"
#include "base/log.h"
#include "priv/helper.h"
#include "priv/wire.h"

#define PRIVHELPER_CHILDREN_MAX	8
#define SD_LISTEN_FDS_START	3

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
	(void) sig;
	stop_flag = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: felhom-privhelper [--config PATH] [--listen]\n"
	    "       felhom-privhelper --version\n"
	    "  --config PATH  configuration (default %s; only priv.* is "
	    "read)\n"
	    "  --listen       make priv.socket here instead of taking it from "
	    "systemd\n", CONFIG_DEFAULT_PATH);
}

/* The socket systemd passed (LISTEN_PID/LISTEN_FDS), or -1. */
static int
activated_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != getpid() ||
	    strtol(fds, NULL, 10) < 1)
		return -1;
	(void) unsetenv("LISTEN_PID");
	(void) unsetenv("LISTEN_FDS");
	(void) unsetenv("LISTEN_FDNAMES");
	return SD_LISTEN_FDS_START;
}

static int
listen_on(const char *path, uid_t owner, struct err *err)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ERR_CONFIG, "priv.socket: too long");
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, ERR_CONFIG, "priv.socket: %s "
			    "exists and is not a socket", path);
		(void) unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(err, ERR_IO, "socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 ||
	    (geteuid() == 0 && chown(path, owner, (gid_t)-1) != 0) ||
	    listen(fd, 16) != 0) {
		int e = errno;

		(void) close(fd);
		return err_set(err, ERR_IO, "%s: %s", path, strerror(e));
	}
	return fd;
}

static void
serve_one(const struct helper_config *hc, int fd)
{
	struct helper_summary sum;
	int rc;

	rc = helper_handle(hc, fd, &sum);
	if (rc == 0)
		log_info("uid %u: %s%s%s: ok", (unsigned)sum.peer_uid,
		    sum.type, sum.what[0] != '\0' ? ": " : "", sum.what);
	else
		log_warn("uid %d: %s%s%s: refused (%s): %s",
		    (int)sum.peer_uid, sum.type[0] != '\0' ? sum.type :
		    "request", sum.what[0] != '\0' ? ": " : "", sum.what,
		    err_name(rc), sum.error);
}

static int
serve(const struct helper_config *hc, int lfd, long idle_exit_s)
{
	struct pollfd pf;
	int64_t last = wire_now_ms();
	int children = 0, fd, r;
	pid_t pid;

	while (!stop_flag) {
		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			children--;
		if (idle_exit_s > 0 && children == 0 &&
		    wire_now_ms() - last >= idle_exit_s * 1000)
			break;
		pf.fd = lfd;
		pf.events = children < PRIVHELPER_CHILDREN_MAX ? POLLIN : 0;
		pf.revents = 0;
		r = poll(&pf, 1, 500);
		if (r <= 0 || !(pf.revents & POLLIN))
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		last = wire_now_ms();
		if ((pid = fork()) < 0) {
			log_error("fork: %s; connection dropped",
			    strerror(errno));
			(void) close(fd);
			continue;
		}
		if (pid == 0) {
			(void) close(lfd);
			serve_one(hc, fd);
			(void) close(fd);
			_exit(0);
		}
		children++;
		(void) close(fd);
	}
	while (children > 0 && waitpid(-1, NULL, 0) > 0)
		children--;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", no_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct config *cfg = NULL;
	struct helper_config hc;
	struct sigaction sa;
	struct err err;
	int do_listen = 0, lfd = -1, c, status = EX_OK;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			do_listen = 1;
			break;
		case 'V':
			printf("felhom-privhelper %s\n", FELHOM_VERSION);
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	memset(&hc, 0, sizeof(hc));
	err_init(&err);
	(void) umask(077);
	if (chdir("/") != 0) {
		log_error("chdir /: %s", strerror(errno));
		return EX_OSERR;
	}
	if (config_load_helper(config_path, NULL, &cfg, &err) != 0 ||
	    helper_config_from(cfg, &hc, &err) != 0) {
		log_error("%s", err_msg(&err));
		status = EX_CONFIG;
		goto out;
	}
	if ((lfd = activated_fd()) < 0) {
		if (!do_listen) {
			log_error("no socket from systemd (LISTEN_FDS); run it "
			    "through felhom-privhelper.socket, or with "
			    "--listen");
			status = EX_USAGE;
			goto out;
		}
		if ((lfd = listen_on(cfg->priv_socket, hc.agent_uid,
		    &err)) < 0) {
			log_error("%s", err_msg(&err));
			status = EX_UNAVAILABLE;
			goto out;
		}
	}
	if (hc.agent_uid == 0)
		log_warn("priv.agent_user is root: the helper fences nothing "
		    "when its only client is root anyway");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	(void) sigemptyset(&sa.sa_mask);
	(void) sigaction(SIGTERM, &sa, NULL);
	(void) sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void) sigaction(SIGPIPE, &sa, NULL);
	log_info("felhom-privhelper %s: serving uid %u on %s", FELHOM_VERSION,
	    (unsigned)hc.agent_uid, do_listen ? cfg->priv_socket :
	    "the systemd socket");
	/* Ready: tests and the demo wait for this line on stdout. */
	if (do_listen) {
		printf("{\"socket\":\"%s\",\"pid\":%d}\n", cfg->priv_socket,
		    (int)getpid());
		(void) fflush(stdout);
	}
	status = serve(&hc, lfd, do_listen ? 0 : cfg->priv_idle_exit_s) == 0 ?
	    EX_OK : EX_SOFTWARE;
	if (do_listen)
		(void) unlink(cfg->priv_socket);
out:
	if (lfd >= 0)
		(void) close(lfd);
	helper_config_reset(&hc);
	config_free(cfg);
	return status;
}
