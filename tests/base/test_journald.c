/*
 * test_journald — the journal's native protocol as log_ sends it under
 * systemd: the datagram received on a test socket carries
 * MESSAGE, PRIORITY, CODE_* and each field as a field of its own, names
 * sanitized, multi-line values in the length-prefixed form, secrets
 * masked; when the journal is unreachable the line still reaches
 * stderr with its "<N>" priority.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "base/journald.h"
#include "base/log.h"
#include "testutil.h"

static char *dir;
static char sock[4200];
static int fd = -1;

static void
setup(void)
{
	struct sockaddr_un sa;

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	(void) snprintf(sock, sizeof(sock), "%s/journal.sock", dir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void
teardown(void)
{
	(void) close(fd);
	fd = -1;
	tu_rmrf(dir);
	free(dir);
}

/* One datagram (NUL-terminated copy in buf); its length. */
static size_t
receive(char *buf, size_t cap)
{
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	n = recv(fd, buf, cap - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* The value of NAME=value (one line) in a datagram, or NULL. */
static char *
field(const char *dg, size_t len, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name), i = 0;

	while (i < len) {
		const char *eol = memchr(dg + i, '\n', len - i);
		size_t ll = eol != NULL ? (size_t)(eol - (dg + i)) : len - i;

		if (ll > nl && strncmp(dg + i, name, nl) == 0 &&
		    dg[i + nl] == '=') {
			(void) snprintf(out, cap, "%.*s", (int)(ll - nl - 1),
			    dg + i + nl + 1);
			return out;
		}
		i += ll + 1;
	}
	return NULL;
}

/* Announces stderr as the journal stream, as systemd does. */
static void
as_systemd_service(void)
{
	struct stat st;
	char js[64];

	ck_assert_int_eq(fstat(2, &st), 0);
	(void) snprintf(js, sizeof(js), "%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	ck_assert_int_eq(setenv("JOURNAL_STREAM", js, 1), 0);
	ck_assert_int_eq(setenv("FELHOM_TEST_JOURNAL_SOCKET", sock, 1), 0);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
}

START_TEST(log_under_systemd_sends_fields_of_their_own)
{
	struct log_field f[] = {
		LOG_F("OP_ID", "op-7"),
		LOG_F("vmid", "104"),
		LOG_F("2fa", "x"),
		LOG_SECRET("token", "s3cr3t-field-value"),
	};
	char dg[8192], v[1024];
	size_t n;

	as_systemd_service();
	ck_assert_int_eq(log_add_secret("hunter2-secret"), 0);
	log_fields(LOG_LEVEL_WARN, f, 4, "op %s: leaked hunter2-secret",
	    "op-7");
	n = receive(dg, sizeof(dg));
	ck_assert_str_eq(field(dg, n, "MESSAGE", v, sizeof(v)),
	    "op op-7: leaked <redacted>");
	ck_assert_str_eq(field(dg, n, "PRIORITY", v, sizeof(v)), "4");
	ck_assert_str_eq(field(dg, n, "OP_ID", v, sizeof(v)), "op-7");
	/* Journal field names are upper case and never start with a digit. */
	ck_assert_str_eq(field(dg, n, "VMID", v, sizeof(v)), "104");
	ck_assert_str_eq(field(dg, n, "F2FA", v, sizeof(v)), "x");
	ck_assert_str_eq(field(dg, n, "TOKEN", v, sizeof(v)), "<redacted>");
	ck_assert_ptr_null(memmem(dg, n, "s3cr3t", 6));
	ck_assert_ptr_null(memmem(dg, n, "hunter2", 7));
	ck_assert_ptr_nonnull(field(dg, n, "CODE_FILE", v, sizeof(v)));
	ck_assert_ptr_nonnull(strstr(v, "test_journald.c"));
	/* Check's START_TEST names the function <test>_fn. */
	ck_assert_ptr_nonnull(field(dg, n, "CODE_FUNC", v, sizeof(v)));
	ck_assert_int_eq(strncmp(v, "log_under_systemd_sends_fields", 30), 0);
	ck_assert_ptr_nonnull(field(dg, n, "SYSLOG_IDENTIFIER", v,
	    sizeof(v)));
	log_clear_secrets();
}
END_TEST

START_TEST(a_multiline_value_goes_length_prefixed)
{
	static const char msg[] = "first line\nsecond line";
	const struct journald_field f[] = {
		{ "MESSAGE", msg },
		{ "code.file", "a=b" },
	};
	char dg[8192];
	uint64_t len = 0;
	size_t n, k;
	int jfd = -1;

	ck_assert_int_eq(journald_send(&jfd, sock, f, 2, NULL), 0);
	n = receive(dg, sizeof(dg));
	/* MESSAGE\n<8-byte little-endian length><value>\n */
	ck_assert_int_eq(memcmp(dg, "MESSAGE\n", 8), 0);
	for (k = 0; k < 8; k++)
		len |= (uint64_t)(unsigned char)dg[8 + k] << (8 * k);
	ck_assert_uint_eq(len, strlen(msg));
	ck_assert_int_eq(memcmp(dg + 16, msg, strlen(msg)), 0);
	ck_assert_int_eq(dg[16 + strlen(msg)], '\n');
	/* A value may hold '='; the name is sanitized. */
	ck_assert_str_eq(dg + 16 + strlen(msg) + 1, "CODE_FILE=a=b\n");
	ck_assert_uint_eq(n, 16 + strlen(msg) + 1 + strlen("CODE_FILE=a=b\n"));
	journald_close(&jfd);
	ck_assert_int_eq(jfd, -1);
}
END_TEST

START_TEST(an_unreachable_journal_falls_back_to_stderr)
{
	char errpath[4300], *text;
	int efd;

	(void) snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(efd, 0);
	ck_assert_int_ge(dup2(efd, 2), 0);
	as_systemd_service();
	ck_assert_int_eq(setenv("FELHOM_TEST_JOURNAL_SOCKET",
	    "/nonexistent/journal.sock", 1), 0);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	log_error("disk is full");
	text = tu_read_file(errpath, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "<3>disk is full\n");
	free(text);
}
END_TEST

START_TEST(outside_systemd_nothing_goes_to_the_journal)
{
	struct pollfd p = { 0, POLLIN, 0 };
	char errpath[4300], *text;
	int efd;

	(void) snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(dup2(efd, 2), 0);
	/* JOURNAL_STREAM of another file: stderr is not the journal. */
	ck_assert_int_eq(setenv("JOURNAL_STREAM", "1:1", 1), 0);
	ck_assert_int_eq(setenv("FELHOM_TEST_JOURNAL_SOCKET", sock, 1), 0);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	log_info("plain line");
	p.fd = fd;
	ck_assert_int_eq(poll(&p, 1, 200), 0);
	text = tu_read_file(errpath, NULL);
	ck_assert_ptr_nonnull(strstr(text, "info  plain line"));
	free(text);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("journald");
	TCase *tc = tcase_create("journald");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, log_under_systemd_sends_fields_of_their_own);
	tcase_add_test(tc, a_multiline_value_goes_length_prefixed);
	tcase_add_test(tc, an_unreachable_journal_falls_back_to_stderr);
	tcase_add_test(tc, outside_systemd_nothing_goes_to_the_journal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
