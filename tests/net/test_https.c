/*
 * test_https — the libcurl wrapper (R-07 trust modes, R-06/R-21 typed
 * errors and secret hygiene) against tests/net/https_peer.py, a local
 * HTTPS server with a throw-away CA.
 */
#include <sys/time.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "net/https.h"
#include "testutil.h"

#define SECRET	"PVEAPIToken=felhom@pve!agent=5ec2e7-never-print-me"

static struct tu_sim peer;
static char *tmpdir;

static void
peer_start(void)
{
	const char *argv[] = { "python3", NULL, NULL };

	argv[1] = tu_source("tests/net/https_peer.py");
	ck_assert_int_eq(tu_sim_start(argv, &peer), 0);
	tmpdir = tu_tmpdir();
	ck_assert_ptr_nonnull(tmpdir);
}

static void
peer_stop(void)
{
	tu_sim_stop(&peer);
	tu_rmrf(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

static const char *
url(const char *path)
{
	static char buf[4][512];
	static unsigned n;
	char *b = buf[n++ % 4];

	(void) snprintf(b, 512, "%s%s", peer.base, path);
	return b;
}

static struct https_client *
client(enum https_trust_mode trust, const char *pin, long timeout_ms,
    size_t cap)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct err err;

	memset(&o, 0, sizeof(o));
	err_init(&err);
	o.trust = trust;
	o.ca_file = tu_sim_str(&peer, "ca_file");
	o.pin = pin;
	o.timeout_ms = timeout_ms;
	o.connect_timeout_ms = 2000;
	o.body_cap = cap;
	ck_assert_msg(https_client_new(&o, &c, &err) == 0, "%s", err.msg);
	return c;
}

static int
get(struct https_client *c, const char *path, struct https_response *r,
    struct err *err)
{
	struct https_request req;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url(path);
	req.authorization = SECRET;
	return https_do(c, &req, r, err);
}

static json_t *
stats(void)
{
	return tu_sim_json(&peer, "GET", "/stats", NULL);
}

static void
reset_stats(void)
{
	json_decref(tu_sim_json(&peer, "GET", "/reset", NULL));
}

/* ---- trust modes (R-07) ---------------------------------------------- */

START_TEST(ca_file_mode_verifies_and_records_fingerprint)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_response r;
	struct err err;
	json_t *j;

	err_init(&err);
	ck_assert_msg(get(c, "/echo", &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	ck_assert_ptr_nonnull(j);
	/* The header is sent as given. */
	ck_assert_str_eq(json_string_value(json_object_get(j,
	    "authorization")), SECRET);
	ck_assert_str_eq(json_string_value(json_object_get(j, "accept")),
	    "application/json");
	ck_assert_str_eq(https_last_fingerprint(c),
	    tu_sim_str(&peer, "fingerprint"));
	json_decref(j);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(pin_mode_matching_pin_connects)
{
	struct https_client *c;
	struct https_response r;
	struct err err;
	char lower[128];
	size_t i;

	/* The pin is compared as bytes: lower case works too. */
	(void) snprintf(lower, sizeof(lower), "%s",
	    tu_sim_str(&peer, "fingerprint"));
	for (i = 0; lower[i] != '\0'; i++)
		if (lower[i] >= 'A' && lower[i] <= 'F')
			lower[i] = (char)(lower[i] - 'A' + 'a');
	c = client(HTTPS_TRUST_PIN, lower, 0, 0);
	err_init(&err);
	ck_assert_msg(get(c, "/echo", &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.status, 200);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(pin_mismatch_is_tls_pin_mismatch_and_sends_nothing)
{
	static const char wrong[] = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:"
	    "DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
	struct https_client *c = client(HTTPS_TRUST_PIN, wrong, 0, 0);
	struct https_response r;
	struct err err;
	json_t *s;

	reset_stats();
	err_init(&err);
	ck_assert_int_eq(get(c, "/echo", &r, &err), ERR_TLS);
	ck_assert_int_eq(err.reason, HTTPS_R_PIN_MISMATCH);
	ck_assert_str_eq(https_reason_name(err.reason), "tls_pin_mismatch");
	ck_assert_ptr_nonnull(strstr(err.msg, "tls_pin_mismatch"));
	ck_assert_ptr_nonnull(strstr(err.msg, wrong));
	ck_assert_ptr_nonnull(strstr(err.msg,
	    tu_sim_str(&peer, "fingerprint")));
	ck_assert_ptr_null(strstr(err.msg, "never-print-me"));
	ck_assert_ptr_null(r.body);
	/* The handshake failed: no request reached the server. */
	s = stats();
	ck_assert_int_eq(json_integer_value(json_object_get(s, "requests")), 1);
	json_decref(s);
	https_client_free(c);
}
END_TEST

START_TEST(system_trust_refuses_private_ca)
{
	struct https_client *c = client(HTTPS_TRUST_SYSTEM, NULL, 0, 0);
	struct https_response r;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(get(c, "/echo", &r, &err), ERR_TLS);
	ck_assert_int_eq(err.reason, HTTPS_R_TLS);
	https_client_free(c);
}
END_TEST

START_TEST(ca_file_of_another_ca_refuses)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct https_response r;
	struct err err;

	memset(&o, 0, sizeof(o));
	err_init(&err);
	o.trust = HTTPS_TRUST_CA_FILE;
	o.ca_file = tu_sim_str(&peer, "other_ca_file");
	ck_assert_int_eq(https_client_new(&o, &c, &err), 0);
	ck_assert_int_eq(get(c, "/echo", &r, &err), ERR_TLS);
	ck_assert_int_eq(err.reason, HTTPS_R_TLS);
	ck_assert_ptr_nonnull(strstr(err.msg, "tls"));
	/* The presented leaf is still recorded for diagnostics. */
	ck_assert_str_eq(https_last_fingerprint(c),
	    tu_sim_str(&peer, "fingerprint"));
	https_client_free(c);
}
END_TEST

START_TEST(insecure_mode_connects)
{
	struct https_client *c = client(HTTPS_TRUST_INSECURE, NULL, 0, 0);
	struct https_response r;
	struct err err;

	err_init(&err);
	ck_assert_msg(get(c, "/echo", &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.status, 200);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(bad_pin_or_missing_ca_is_invalid)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct err err;

	memset(&o, 0, sizeof(o));
	err_init(&err);
	o.trust = HTTPS_TRUST_PIN;
	o.pin = "AA:BB";
	ck_assert_int_eq(https_client_new(&o, &c, &err), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err.msg, "pin"));
	err_init(&err);
	o.trust = HTTPS_TRUST_CA_FILE;
	o.pin = NULL;
	ck_assert_int_eq(https_client_new(&o, &c, &err), ERR_INVALID);
}
END_TEST

/* ---- response fields ------------------------------------------------- */

START_TEST(status_reason_etag_and_retry_after_seconds)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_response r;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(get(c, "/status/503?reason=Busy%20now&retry_after=42"
	    "&etag=%22v7%22&body=%7B%22a%22%3A1%7D", &r, &err), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.reason, "Busy now");
	ck_assert_int_eq(r.retry_after_s, 42);
	ck_assert_str_eq(r.etag, "\"v7\"");
	ck_assert_str_eq(r.content_type, "application/json;charset=UTF-8");
	ck_assert_str_eq(r.body, "{\"a\":1}");
	https_response_reset(&r);
	ck_assert_int_eq(get(c, "/status/401?reason=No%20ticket", &r, &err), 0);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(r.reason, "No ticket");
	ck_assert_int_eq(r.retry_after_s, -1);
	ck_assert_ptr_null(r.etag);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(retry_after_http_date)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_response r;
	struct err err;
	char path[256], date[64];
	time_t t = time(NULL) + 120;
	struct tm tm;

	(void) gmtime_r(&t, &tm);
	(void) strftime(date, sizeof(date), "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S"
	    "%%20GMT", &tm);
	(void) snprintf(path, sizeof(path), "/status/429?retry_after=%s", date);
	err_init(&err);
	ck_assert_int_eq(get(c, path, &r, &err), 0);
	ck_assert_int_eq(r.status, 429);
	ck_assert_int_ge(r.retry_after_s, 115);
	ck_assert_int_le(r.retry_after_s, 121);
	https_response_reset(&r);
	/* A date in the past means "now". */
	ck_assert_int_eq(get(c, "/status/429?retry_after=Wed,%2021%20Oct%20"
	    "2015%2007:28:00%20GMT", &r, &err), 0);
	ck_assert_int_eq(r.retry_after_s, 0);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(methods_send_body_and_content_type)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE" };
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_request req;
	struct https_response r;
	struct err err;
	json_t *j;
	size_t i;

	for (i = 0; i < 3; i++) {
		memset(&req, 0, sizeof(req));
		req.method = methods[i];
		req.url = url("/echo");
		req.content_type = "application/x-www-form-urlencoded";
		req.body = "a=1&b=%26";
		req.body_len = 9;
		err_init(&err);
		ck_assert_msg(https_do(c, &req, &r, &err) == 0, "%s", err.msg);
		j = json_loads(r.body, 0, NULL);
		ck_assert_str_eq(json_string_value(json_object_get(j,
		    "method")), methods[i]);
		ck_assert_str_eq(json_string_value(json_object_get(j, "body")),
		    "a=1&b=%26");
		ck_assert_str_eq(json_string_value(json_object_get(j,
		    "content_type")), "application/x-www-form-urlencoded");
		ck_assert(json_is_null(json_object_get(j, "authorization")));
		ck_assert(json_is_null(json_object_get(j, "expect")));
		json_decref(j);
		https_response_reset(&r);
	}
	https_client_free(c);
}
END_TEST

/* ---- caps, timeouts, transport errors -------------------------------- */

START_TEST(body_over_cap_is_too_large)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 4096);
	struct https_response r;
	struct err err;

	err_init(&err);
	ck_assert_int_eq(get(c, "/big?n=4096", &r, &err), 0);
	ck_assert_uint_eq(r.body_len, 4096);
	https_response_reset(&r);
	ck_assert_int_eq(get(c, "/big?n=4097", &r, &err), ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "4096"));
	ck_assert_ptr_null(r.body);
	/* Without Content-Length: stopped while reading. */
	err_init(&err);
	ck_assert_int_eq(get(c, "/big?n=1000000&chunked=1", &r, &err),
	    ERR_TOO_LARGE);
	/* The next call works. */
	err_init(&err);
	ck_assert_int_eq(get(c, "/big?n=10&chunked=1", &r, &err), 0);
	ck_assert_uint_eq(r.body_len, 10);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

START_TEST(slow_answer_times_out)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 300, 0);
	struct https_response r;
	struct err err;
	struct timespec a, b;
	long ms;

	err_init(&err);
	(void) clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(get(c, "/slow?ms=3000", &r, &err), ERR_TRANSPORT);
	(void) clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	/* Sent, then no answer: the outcome of such a call is unknown. */
	ck_assert_int_eq(err.reason, HTTPS_R_TIMEOUT);
	ck_assert_int_lt(ms, 1500);
	https_client_free(c);
}
END_TEST

START_TEST(refused_connection_is_connect)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct https_request req;
	struct https_response r;
	struct err err;

	memset(&o, 0, sizeof(o));
	memset(&req, 0, sizeof(req));
	err_init(&err);
	o.trust = HTTPS_TRUST_INSECURE;
	ck_assert_int_eq(https_client_new(&o, &c, &err), 0);
	req.method = "GET";
	req.url = "https://127.0.0.1:1/api2/json/version";
	req.authorization = SECRET;
	ck_assert_int_eq(https_do(c, &req, &r, &err), ERR_TRANSPORT);
	ck_assert_int_eq(err.reason, HTTPS_R_CONNECT);
	ck_assert_ptr_null(strstr(err.msg, "never-print-me"));
	https_client_free(c);
}
END_TEST

START_TEST(plain_http_url_is_refused)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_request req;
	struct https_response r;
	struct err err;

	memset(&req, 0, sizeof(req));
	err_init(&err);
	req.method = "GET";
	req.url = "http://127.0.0.1:1/";
	ck_assert_int_eq(https_do(c, &req, &r, &err), ERR_INVALID);
	https_client_free(c);
}
END_TEST

static volatile sig_atomic_t abort_flag;

static void
on_alarm(int sig)
{
	(void) sig;
	abort_flag = 1;
}

START_TEST(abort_flag_stops_a_call_quickly)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct https_response r;
	struct itimerval it;
	struct timespec a, b;
	struct err err;
	long ms;

	memset(&o, 0, sizeof(o));
	memset(&it, 0, sizeof(it));
	err_init(&err);
	o.trust = HTTPS_TRUST_CA_FILE;
	o.ca_file = tu_sim_str(&peer, "ca_file");
	o.abort_flag = &abort_flag;
	ck_assert_int_eq(https_client_new(&o, &c, &err), 0);
	abort_flag = 0;
	(void) signal(SIGALRM, on_alarm);
	it.it_value.tv_usec = 300000;
	(void) setitimer(ITIMER_REAL, &it, NULL);
	(void) clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(get(c, "/slow?ms=5000", &r, &err), ERR_TRANSPORT);
	(void) clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_int_eq(err.reason, HTTPS_R_ABORTED);
	ck_assert_int_lt(ms, 800);
	/* Still raised: the next call does not start. */
	err_init(&err);
	ck_assert_int_eq(get(c, "/echo", &r, &err), ERR_TRANSPORT);
	ck_assert_int_eq(err.reason, HTTPS_R_ABORTED);
	abort_flag = 0;
	https_client_free(c);
}
END_TEST

/* ---- connection reuse and the multi interface ------------------------ */

START_TEST(sequential_calls_reuse_one_connection)
{
	struct https_client *c = client(HTTPS_TRUST_PIN,
	    tu_sim_str(&peer, "fingerprint"), 0, 0);
	struct https_response r;
	struct err err;
	json_t *s;
	int i;

	reset_stats();
	for (i = 0; i < 5; i++) {
		err_init(&err);
		ck_assert_msg(get(c, "/echo", &r, &err) == 0, "%s", err.msg);
		https_response_reset(&r);
	}
	s = stats();
	/* 5 calls + the stats call of this test's own control client. */
	ck_assert_int_eq(json_integer_value(json_object_get(s,
	    "connections")), 2);
	json_decref(s);
	https_client_free(c);
}
END_TEST

START_TEST(do_many_bounds_concurrency_and_reuses_handles)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 0);
	struct https_request reqs[20];
	struct https_response resps[20];
	struct err errs[20], err;
	struct timespec a, b;
	int rcs[20], round;
	long ms, maxc, conns;
	json_t *s;
	size_t i;

	for (round = 0; round < 2; round++) {
		reset_stats();
		memset(reqs, 0, sizeof(reqs));
		for (i = 0; i < 20; i++) {
			reqs[i].method = "GET";
			reqs[i].url = url("/slow?ms=150");
			reqs[i].authorization = SECRET;
			err_init(&errs[i]);
		}
		err_init(&err);
		(void) clock_gettime(CLOCK_MONOTONIC, &a);
		ck_assert_int_eq(https_do_many(c, reqs, 20, 8, resps, rcs, errs,
		    &err), 0);
		(void) clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (b.tv_sec - a.tv_sec) * 1000 +
		    (b.tv_nsec - a.tv_nsec) / 1000000;
		for (i = 0; i < 20; i++) {
			ck_assert_msg(rcs[i] == 0, "%zu: %s", i, errs[i].msg);
			ck_assert_int_eq(resps[i].status, 200);
			https_response_reset(&resps[i]);
		}
		s = stats();
		maxc = (long)json_integer_value(json_object_get(s,
		    "max_concurrent"));
		conns = (long)json_integer_value(json_object_get(s,
		    "connections"));
		json_decref(s);
		fprintf(stderr, "do_many round %d: 20 x 150 ms in %ld ms, "
		    "max concurrent %ld, new connections %ld\n", round, ms,
		    maxc, conns - 1);
		ck_assert_int_le(maxc, 8);
		ck_assert_int_ge(maxc, 2);
		ck_assert_int_lt(ms, 20 * 150);
		/* The second round reuses the pool's connections. */
		if (round == 1)
			ck_assert_int_le(conns - 1, 2);
	}
	https_client_free(c);
}
END_TEST

START_TEST(do_many_keeps_outcomes_apart)
{
	struct https_client *c = client(HTTPS_TRUST_CA_FILE, NULL, 0, 2048);
	struct https_request reqs[4];
	struct https_response resps[4];
	struct err errs[4], err;
	int rcs[4];
	size_t i;

	memset(reqs, 0, sizeof(reqs));
	for (i = 0; i < 4; i++) {
		reqs[i].method = "GET";
		err_init(&errs[i]);
	}
	reqs[0].url = url("/echo");
	reqs[1].url = url("/big?n=5000");
	reqs[2].url = url("/status/500?reason=Oops");
	reqs[3].url = "https://127.0.0.1:1/";
	err_init(&err);
	ck_assert_int_eq(https_do_many(c, reqs, 4, 3, resps, rcs, errs, &err),
	    0);
	ck_assert_int_eq(rcs[0], 0);
	ck_assert_int_eq(resps[0].status, 200);
	ck_assert_int_eq(rcs[1], ERR_TOO_LARGE);
	ck_assert_int_eq(rcs[2], 0);
	ck_assert_int_eq(resps[2].status, 500);
	ck_assert_str_eq(resps[2].reason, "Oops");
	ck_assert_int_eq(rcs[3], ERR_TRANSPORT);
	ck_assert_int_eq(errs[3].reason, HTTPS_R_CONNECT);
	for (i = 0; i < 4; i++)
		https_response_reset(&resps[i]);
	https_client_free(c);
}
END_TEST

/* ---- the secret never shows (R-06, R-21) ----------------------------- */

START_TEST(authorization_never_reaches_messages_or_debug_log)
{
	static const char wrong[] = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:"
	    "DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
	struct https_client *cs[3];
	struct https_response r;
	struct err err;
	char path[4096], *log;
	FILE *f;
	size_t i;

	(void) snprintf(path, sizeof(path), "%s/debug.log", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	log_setup(LOG_LEVEL_DEBUG, LOG_FORMAT_TEXT, f);
	cs[0] = client(HTTPS_TRUST_PIN, wrong, 0, 0);
	cs[1] = client(HTTPS_TRUST_CA_FILE, NULL, 200, 0);
	cs[2] = client(HTTPS_TRUST_CA_FILE, NULL, 0, 16);
	err_init(&err);
	ck_assert_int_ne(get(cs[0], "/echo", &r, &err), 0);
	ck_assert_ptr_null(strstr(err.msg, "never-print-me"));
	err_init(&err);
	ck_assert_int_ne(get(cs[1], "/slow?ms=1000", &r, &err), 0);
	ck_assert_ptr_null(strstr(err.msg, "never-print-me"));
	err_init(&err);
	ck_assert_int_ne(get(cs[2], "/big?n=100", &r, &err), 0);
	ck_assert_ptr_null(strstr(err.msg, "never-print-me"));
	err_init(&err);
	ck_assert_int_eq(get(cs[1], "/status/401?reason=Bad", &r, &err), 0);
	https_response_reset(&r);
	for (i = 0; i < 3; i++)
		https_client_free(cs[i]);
	log_setup(LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL);
	(void) fclose(f);
	log = tu_read_file(path, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_ptr_nonnull(strstr(log, "/echo"));	/* debug did log */
	ck_assert_ptr_null(strstr(log, "never-print-me"));
	ck_assert_ptr_null(strstr(log, "PVEAPIToken"));
	free(log);
}
END_TEST

/* ---- the asynchronous interface (issue 17) --------------------------- */

static long
ms_since(const struct timespec *a)
{
	struct timespec b;

	(void) clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) /
	    1000000;
}

static struct https_xfer *
submit(struct https_client *c, const char *path, enum https_prio prio)
{
	struct https_request req;
	struct https_xfer *x = NULL;
	struct err err;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url(path);
	req.authorization = SECRET;
	err_init(&err);
	ck_assert_msg(https_submit(c, &req, prio, &x, &err) == 0, "%s",
	    err.msg);
	return x;
}

/*
 * A capped client: LOW requests (a report's fan-out) never take the last
 * place, so a HIGH one (a lane's) submitted behind six of them starts at
 * once and ends after one answer's time, not after the fan-out.
 */
START_TEST(cap_keeps_a_place_for_high_priority)
{
	struct https_options o;
	struct https_client *c = NULL;
	struct https_xfer *low[6], *high;
	struct https_response r;
	struct timespec a;
	struct err err;
	long high_ms = -1, all_ms, maxc;
	size_t i, done = 0;
	json_t *s;

	memset(&o, 0, sizeof(o));
	err_init(&err);
	o.trust = HTTPS_TRUST_CA_FILE;
	o.ca_file = tu_sim_str(&peer, "ca_file");
	o.max_in_flight = 3;
	ck_assert_int_eq(https_client_new(&o, &c, &err), 0);
	reset_stats();
	(void) clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < 6; i++)
		low[i] = submit(c, "/slow?ms=400", HTTPS_PRIO_LOW);
	high = submit(c, "/slow?ms=400", HTTPS_PRIO_HIGH);
	while (done < 7) {
		err_init(&err);
		ck_assert_int_ge(https_multi_run(https_client_multi(c), 1000,
		    &err), 0);
		if (high != NULL && https_xfer_done(high)) {
			high_ms = ms_since(&a);
			err_init(&err);
			ck_assert_msg(https_xfer_finish(high, &r, &err) == 0,
			    "%s", err.msg);
			ck_assert_int_eq(r.status, 200);
			https_response_reset(&r);
			high = NULL;
			done++;
		}
		for (i = 0; i < 6; i++)
			if (low[i] != NULL && https_xfer_done(low[i])) {
				err_init(&err);
				ck_assert_msg(https_xfer_finish(low[i], &r,
				    &err) == 0, "%s", err.msg);
				https_response_reset(&r);
				low[i] = NULL;
				done++;
			}
	}
	all_ms = ms_since(&a);
	s = stats();
	maxc = (long)json_integer_value(json_object_get(s, "max_concurrent"));
	json_decref(s);
	fprintf(stderr, "cap 3: high priority done in %ld ms, 6 low in %ld "
	    "ms, max concurrent %ld\n", high_ms, all_ms, maxc);
	ck_assert_int_le(maxc, 3);
	/* One answer's time (400 ms), not behind the low ones (1200 ms). */
	ck_assert_int_lt(high_ms, 800);
	/* The low ones shared two places: three rounds. */
	ck_assert_int_ge(all_ms, 1150);
	https_client_free(c);
}
END_TEST

/* Issue 15: after a fan-out the pool keeps its connections. */
START_TEST(fan_out_keeps_its_connections)
{
	struct https_client *c = client(HTTPS_TRUST_PIN,
	    tu_sim_str(&peer, "fingerprint"), 0, 0);
	struct https_request reqs[12];
	struct https_response resps[12];
	struct err errs[12], err;
	int rcs[12], round;
	uint64_t before;
	size_t i;

	for (round = 0; round < 3; round++) {
		memset(reqs, 0, sizeof(reqs));
		for (i = 0; i < 12; i++) {
			reqs[i].method = "GET";
			reqs[i].url = url("/slow?ms=100");
			reqs[i].authorization = SECRET;
			err_init(&errs[i]);
		}
		before = https_client_connects(c);
		err_init(&err);
		ck_assert_int_eq(https_do_many(c, reqs, 12, 4, resps, rcs,
		    errs, &err), 0);
		for (i = 0; i < 12; i++) {
			ck_assert_msg(rcs[i] == 0, "%s", errs[i].msg);
			https_response_reset(&resps[i]);
		}
		/* A single call between fan-outs must not shrink the pool. */
		err_init(&err);
		ck_assert_int_eq(get(c, "/echo", &resps[0], &err), 0);
		https_response_reset(&resps[0]);
		fprintf(stderr, "fan-out round %d: %llu new connections\n",
		    round, (unsigned long long)(https_client_connects(c) -
		    before));
		if (round == 0)
			ck_assert_uint_ge(https_client_connects(c) - before, 2);
		else
			ck_assert_uint_eq(https_client_connects(c) - before, 0);
	}
	https_client_free(c);
}
END_TEST

/* Issue 15: a barrier that refuses, then lets through. */
struct gate_state {
	int	refuse;
	int	calls;
};

static int
barrier_gate(void *ctx, struct err *err)
{
	struct gate_state *g = ctx;

	g->calls++;
	if (g->refuse)
		return err_set(err, ERR_IO, "the record is not durable");
	return 0;
}

/*
 * Issue 15 (write-ahead): the multi's barrier runs before any byte of a
 * new transfer leaves.  When it refuses, what was submitted since the
 * last drive ends unsent with its error, and the peer sees nothing; a
 * transfer already under way goes on; later ones go out once it lets
 * them.
 */
START_TEST(a_refusing_barrier_sends_nothing_new)
{
	struct https_client *c = client(HTTPS_TRUST_PIN,
	    tu_sim_str(&peer, "fingerprint"), 0, 0);
	struct https_multi *m = https_client_multi(c);
	struct gate_state g = { 0, 0 };
	struct https_xfer *early, *x, *later;
	struct https_response r;
	struct err err;
	json_t *st;
	char *paths;

	https_multi_set_barrier(m, barrier_gate, &g);
	reset_stats();
	/* Under way before the barrier refuses: it goes on. */
	early = submit(c, "/slow?ms=300", HTTPS_PRIO_HIGH);
	err_init(&err);
	ck_assert_int_ge(https_multi_run(m, 50, &err), 0);
	ck_assert_int_ge(g.calls, 1);
	g.refuse = 1;
	x = submit(c, "/echo", HTTPS_PRIO_HIGH);
	err_init(&err);
	ck_assert_int_ge(https_multi_run(m, 0, &err), 0);
	ck_assert(https_xfer_done(x));
	err_init(&err);
	ck_assert_int_eq(https_xfer_finish(x, &r, &err), ERR_TRANSPORT);
	ck_assert_ptr_nonnull(strstr(err.msg, "the record is not durable"));
	/* The refusal let the early one run to its answer. */
	while (!https_xfer_done(early)) {
		err_init(&err);
		ck_assert_int_ge(https_multi_run(m, 100, &err), 0);
	}
	err_init(&err);
	ck_assert_msg(https_xfer_finish(early, &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.status, 200);
	https_response_reset(&r);
	st = stats();
	/* /echo never reached the peer: the early one did (and /stats). */
	paths = json_dumps(json_object_get(st, "paths"), 0);
	ck_assert_ptr_nonnull(paths);
	ck_assert_str_eq(paths, "[\"/slow\", \"/stats\"]");
	free(paths);
	json_decref(st);
	g.refuse = 0;
	later = submit(c, "/echo", HTTPS_PRIO_HIGH);
	while (!https_xfer_done(later)) {
		err_init(&err);
		ck_assert_int_ge(https_multi_run(m, 100, &err), 0);
	}
	err_init(&err);
	ck_assert_msg(https_xfer_finish(later, &r, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r.status, 200);
	https_response_reset(&r);
	https_client_free(c);
}
END_TEST

/* A write to the wake fd (the signal handler's) ends the wait at once. */
START_TEST(wake_fd_ends_the_multi_wait_at_once)
{
	struct https_multi_options mo;
	struct https_multi *m = NULL;
	struct timespec a;
	struct err err;
	int p[2];
	long ms;

	ck_assert_int_eq(pipe(p), 0);
	mo.wake_fd = p[0];
	err_init(&err);
	ck_assert_int_eq(https_multi_new(&mo, &m, &err), 0);
	(void) clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(https_multi_run(m, 200, &err), 0);
	ms = ms_since(&a);
	ck_assert_int_ge(ms, 150);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	(void) clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(https_multi_run(m, 5000, &err), 0);
	ms = ms_since(&a);
	ck_assert_int_lt(ms, 100);
	https_multi_free(m);
	(void) close(p[0]);
	(void) close(p[1]);
}
END_TEST

START_TEST(reason_names_cover_every_reason)
{
	int i;

	for (i = 0; i < HTTPS_R__COUNT; i++)
		ck_assert_str_ne(https_reason_name(i), "unknown");
	ck_assert_str_eq(https_reason_name(HTTPS_R__COUNT), "unknown");
	ck_assert_str_eq(https_reason_name(-1), "unknown");
}
END_TEST

static Suite *
https_suite(void)
{
	Suite *s = suite_create("https");
	TCase *tc = tcase_create("peer");

	tcase_add_unchecked_fixture(tc, peer_start, peer_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ca_file_mode_verifies_and_records_fingerprint);
	tcase_add_test(tc, pin_mode_matching_pin_connects);
	tcase_add_test(tc, pin_mismatch_is_tls_pin_mismatch_and_sends_nothing);
	tcase_add_test(tc, system_trust_refuses_private_ca);
	tcase_add_test(tc, ca_file_of_another_ca_refuses);
	tcase_add_test(tc, insecure_mode_connects);
	tcase_add_test(tc, bad_pin_or_missing_ca_is_invalid);
	tcase_add_test(tc, status_reason_etag_and_retry_after_seconds);
	tcase_add_test(tc, retry_after_http_date);
	tcase_add_test(tc, methods_send_body_and_content_type);
	tcase_add_test(tc, body_over_cap_is_too_large);
	tcase_add_test(tc, slow_answer_times_out);
	tcase_add_test(tc, refused_connection_is_connect);
	tcase_add_test(tc, plain_http_url_is_refused);
	tcase_add_test(tc, abort_flag_stops_a_call_quickly);
	tcase_add_test(tc, sequential_calls_reuse_one_connection);
	tcase_add_test(tc, do_many_bounds_concurrency_and_reuses_handles);
	tcase_add_test(tc, do_many_keeps_outcomes_apart);
	tcase_add_test(tc, authorization_never_reaches_messages_or_debug_log);
	tcase_add_test(tc, cap_keeps_a_place_for_high_priority);
	tcase_add_test(tc, fan_out_keeps_its_connections);
	tcase_add_test(tc, wake_fd_ends_the_multi_wait_at_once);
	tcase_add_test(tc, a_refusing_barrier_sends_nothing_new);
	tcase_add_test(tc, reason_names_cover_every_reason);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(https_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
