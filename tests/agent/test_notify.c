/*
 * test_notify — sd_notify's protocol as agent/notify speaks it:
 * nothing outside systemd, the exact datagrams on a path socket and an
 * abstract one, STATUS sent only when it changes, the watchdog honouring
 * WATCHDOG_PID and pinging at most every half interval, unusable
 * variables refused with a message; and reload_config_diff naming what
 * a SIGHUP would find changed, secrets by name only.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "agent/notify.h"
#include "agent/reload.h"
#include "base/config.h"
#include "base/err.h"
#include "testutil.h"

static char *dir;
static int fd = -1;

static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) unsetenv("NOTIFY_SOCKET");
	(void) unsetenv("WATCHDOG_USEC");
	(void) unsetenv("WATCHDOG_PID");
}

static void
teardown(void)
{
	if (fd >= 0)
		(void) close(fd);
	fd = -1;
	tu_rmrf(dir);
	free(dir);
}

/* Binds a datagram socket at path ("@x": abstract). */
static void
listen_at(const char *path)
{
	struct sockaddr_un sa;
	socklen_t len;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
}

/* The next datagram as a string, or "" after 300 ms. */
static const char *
next(void)
{
	static char buf[1024];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, 300) != 1)
		return buf;
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

START_TEST(outside_systemd_every_call_is_a_no_op)
{
	struct notify n;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(notify_init(&n, &err), 0);
	ck_assert_int_eq(notify_enabled(&n), 0);
	ck_assert_int_eq(notify_ready(&n, "x", &err), 0);
	ck_assert_int_eq(notify_status(&n, "y", &err), 0);
	ck_assert_int_eq(notify_watchdog(&n, 1000, &err), 0);
	ck_assert_int_eq(notify_stopping(&n, &err), 0);
	ck_assert_int_eq(err.code, 0);
	notify_reset(&n);
}
END_TEST

START_TEST(messages_arrive_as_sent_and_status_only_when_changed)
{
	char path[4200];
	struct notify n;
	struct err err;

	(void) snprintf(path, sizeof(path), "%s/notify", dir);
	listen_at(path);
	err_init(&err);
	ck_assert_int_eq(notify_init(&n, &err), 0);
	ck_assert_int_eq(notify_enabled(&n), 1);
	ck_assert_int_eq(notify_ready(&n, "running:\nok", &err), 0);
	/* One message, one STATUS line: newlines are flattened. */
	ck_assert_str_eq(next(), "READY=1\nSTATUS=running: ok");
	ck_assert_int_eq(notify_status(&n, "running: ok", &err), 0);
	ck_assert_int_eq(notify_status(&n, "running: 2 ops", &err), 0);
	ck_assert_int_eq(notify_status(&n, "running: 2 ops", &err), 0);
	ck_assert_str_eq(next(), "STATUS=running: 2 ops");
	ck_assert_str_eq(next(), "");
	ck_assert_int_eq(notify_stopping(&n, &err), 0);
	ck_assert_str_eq(next(), "STOPPING=1\nSTATUS=stopping");
	ck_assert_int_eq(notify_reloading(&n, &err), 0);
	ck_assert_int_eq(strncmp(next(), "RELOADING=1\nMONOTONIC_USEC=", 27),
	    0);
	notify_reset(&n);
}
END_TEST

START_TEST(an_abstract_socket_is_reached)
{
	char name[64];
	struct notify n;
	struct err err;

	(void) snprintf(name, sizeof(name), "@felhom-test-%ld",
	    (long)getpid());
	listen_at(name);
	err_init(&err);
	ck_assert_int_eq(notify_init(&n, &err), 0);
	ck_assert_int_eq(notify_ready(&n, "up", &err), 0);
	ck_assert_str_eq(next(), "READY=1\nSTATUS=up");
	notify_reset(&n);
}
END_TEST

START_TEST(the_watchdog_pings_every_half_interval_for_its_pid_only)
{
	char path[4200], pid[32];
	struct notify n;
	struct err err;

	(void) snprintf(path, sizeof(path), "%s/notify", dir);
	listen_at(path);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "400000", 1), 0);
	(void) snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	err_init(&err);
	/* Meant for another process: no pings. */
	ck_assert_int_eq(notify_init(&n, &err), 0);
	ck_assert_int_eq(notify_watchdog(&n, 10000, &err), 0);
	ck_assert_str_eq(next(), "");
	notify_reset(&n);
	(void) snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_int_eq(notify_init(&n, &err), 0);
	ck_assert_int_eq(n.watchdog_ms, 400);
	ck_assert_int_eq(notify_watchdog(&n, 10000, &err), 0);
	ck_assert_str_eq(next(), "WATCHDOG=1");
	ck_assert_int_eq(notify_watchdog(&n, 10150, &err), 0);
	ck_assert_str_eq(next(), "");
	ck_assert_int_eq(notify_watchdog(&n, 10200, &err), 0);
	ck_assert_str_eq(next(), "WATCHDOG=1");
	ck_assert_int_eq(err.code, 0);
	notify_reset(&n);
}
END_TEST

START_TEST(unusable_variables_are_refused_with_a_message)
{
	char path[4200];
	struct notify n;
	struct err err;

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/sock", 1), 0);
	err_init(&err);
	ck_assert_int_eq(notify_init(&n, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "NOTIFY_SOCKET='relative/sock'"));
	ck_assert_int_eq(notify_enabled(&n), 0);
	notify_reset(&n);
	(void) snprintf(path, sizeof(path), "%s/notify", dir);
	listen_at(path);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "5s", 1), 0);
	err_init(&err);
	ck_assert_int_eq(notify_init(&n, &err), ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.msg, "WATCHDOG_USEC='5s'"));
	/* Readiness still works without the watchdog. */
	ck_assert_int_eq(n.watchdog_ms, 0);
	err_init(&err);
	ck_assert_int_eq(notify_ready(&n, "up", &err), 0);
	ck_assert_str_eq(next(), "READY=1\nSTATUS=up");
	notify_reset(&n);
}
END_TEST

static struct config *
cfg_of(const char *timeout, const char *secret, const char *level)
{
	struct config *c = NULL;
	struct err err;
	char *text;

	ck_assert_int_gt(asprintf(&text, "{\"host\":{\"id\":\"pve-01\"},"
	    "\"pve\":{\"token_id\":\"a@pve!t\",\"token_secret\":\"%s\","
	    "\"insecure\":true,\"timeout_s\":%s},\"hub\":{\"mode\":\"off\"},"
	    "\"desired_file\":\"/d.json\",\"log\":{\"level\":\"%s\"}}",
	    secret, timeout, level), 0);
	err_init(&err);
	ck_assert_msg(config_load_text(text, "t", (char *const[]){ NULL }, &c,
	    &err) == 0, "%s", err_msg(&err));
	free(text);
	return c;
}

START_TEST(reload_names_the_changed_keys_and_secrets_by_name_only)
{
	struct config *a = cfg_of("30", "secret-one-1234", "info");
	struct config *b = cfg_of("30", "secret-one-1234", "info");
	struct config *c = cfg_of("31", "secret-two-5678", "debug");
	char out[512];

	ck_assert_uint_eq(reload_config_diff(a, b, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(reload_config_diff(a, c, out, sizeof(out)), 3);
	ck_assert_ptr_nonnull(strstr(out, "pve.timeout_s"));
	ck_assert_ptr_nonnull(strstr(out, "log.level"));
	ck_assert_ptr_nonnull(strstr(out, "pve.token_secret"));
	ck_assert_ptr_null(strstr(out, "secret-"));
	/* A small buffer is cut with "...", never overrun. */
	ck_assert_uint_eq(reload_config_diff(a, c, out, 24), 3);
	ck_assert_ptr_nonnull(strstr(out, "..."));
	config_free(a);
	config_free(b);
	config_free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, outside_systemd_every_call_is_a_no_op);
	tcase_add_test(tc,
	    messages_arrive_as_sent_and_status_only_when_changed);
	tcase_add_test(tc, an_abstract_socket_is_reached);
	tcase_add_test(tc,
	    the_watchdog_pings_every_half_interval_for_its_pid_only);
	tcase_add_test(tc, unusable_variables_are_refused_with_a_message);
	tcase_add_test(tc,
	    reload_names_the_changed_keys_and_secrets_by_name_only);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
