/*
 * testutil — helpers shared by the Check suites.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>
#include <jansson.h>

#include "base/clock.h"
#include "testutil.h"

static const char *
envor(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : dflt;
}

const char *
tu_fixture_dir(void)
{
	return envor("FELHOM_FIXTURE_DIR", FELHOM_FIXTURE_DIR_DEFAULT);
}

const char *
tu_source_dir(void)
{
	return envor("FELHOM_SOURCE_DIR", FELHOM_SOURCE_DIR_DEFAULT);
}

const char *
tu_bin_dir(void)
{
	return envor("FELHOM_BIN_DIR", FELHOM_BIN_DIR_DEFAULT);
}

static const char *
join(const char *dir, const char *rel)
{
	static char slots[8][4096];
	static unsigned next;
	char *s = slots[next++ % 8];

	(void) snprintf(s, 4096, "%s/%s", dir, rel);
	return s;
}

const char *
tu_fixture(const char *rel)
{
	return join(tu_fixture_dir(), rel);
}

const char *
tu_source(const char *rel)
{
	return join(tu_source_dir(), rel);
}

const char *
tu_bin(const char *name)
{
	return join(tu_bin_dir(), name);
}

char *
tu_tmpdir(void)
{
	char tmpl[] = "/tmp/felhom-test-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		return NULL;
	return strdup(tmpl);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path);
}

void
tu_rmrf(const char *path)
{
	if (path == NULL)
		return;
	(void) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
tu_read_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				free(buf);
				(void) fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	(void) fclose(f);
	buf[len] = '\0';
	if (len_out != NULL)
		*len_out = len;
	return buf;
}

int
tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = data;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			(void) close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) != 0) {
		(void) close(fd);
		return -1;
	}
	return close(fd);
}

struct capbuf {
	char	*data;
	size_t	 len, cap;
};

static int
cap_append(struct capbuf *b, const char *p, size_t n)
{
	char *nd;

	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap == 0 ? 4096 : b->cap;

		while (nc < b->len + n + 1)
			nc *= 2;
		if ((nd = realloc(b->data, nc)) == NULL)
			return -1;
		b->data = nd;
		b->cap = nc;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
tu_run(const char *const argv[], const char *const env[], const void *in,
    size_t inlen, char **out, char **errout, int *status)
{
	int pin[2], pout[2], perr[2], st;
	struct capbuf bo = { 0 }, be = { 0 };
	size_t inoff = 0;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
	    pipe2(perr, O_CLOEXEC))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		(void) dup2(pin[0], 0);
		(void) dup2(pout[1], 1);
		(void) dup2(perr[1], 2);
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			(void) putenv((char *)(uintptr_t)env[i]);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	(void) close(pin[0]);
	(void) close(pout[1]);
	(void) close(perr[1]);
	if (in == NULL || inlen == 0) {
		(void) close(pin[1]);
		pin[1] = -1;
	}
	(void) signal(SIGPIPE, SIG_IGN);
	for (;;) {
		struct pollfd pf[3];
		nfds_t n = 0;
		char buf[65536];
		ssize_t r;

		if (pout[0] >= 0)
			pf[n++] = (struct pollfd){ pout[0], POLLIN, 0 };
		if (perr[0] >= 0)
			pf[n++] = (struct pollfd){ perr[0], POLLIN, 0 };
		if (pin[1] >= 0)
			pf[n++] = (struct pollfd){ pin[1], POLLOUT, 0 };
		if (n == 0)
			break;
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == pin[1]) {
				r = write(pin[1], (const char *)in + inoff,
				    inlen - inoff);
				if (r > 0)
					inoff += (size_t)r;
				if (r < 0 || inoff == inlen) {
					(void) close(pin[1]);
					pin[1] = -1;
				}
				continue;
			}
			r = read(pf[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				(void) close(pf[i].fd);
				if (pf[i].fd == pout[0])
					pout[0] = -1;
				else
					perr[0] = -1;
				continue;
			}
			(void) cap_append(pf[i].fd == pout[0] ? &bo : &be, buf,
			    (size_t)r);
		}
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (status != NULL)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) :
		    128 + WTERMSIG(st);
	if (bo.data == NULL)
		(void) cap_append(&bo, "", 0);
	if (be.data == NULL)
		(void) cap_append(&be, "", 0);
	if (out != NULL)
		*out = bo.data;
	else
		free(bo.data);
	if (errout != NULL)
		*errout = be.data;
	else
		free(be.data);
	return 0;
}

int
tu_sim_start(const char *const argv[], struct tu_sim *sim)
{
	int pout[2];
	char line[8192];
	size_t len = 0;
	time_t deadline = time(NULL) + 20;
	json_error_t jerr;
	json_t *port;
	pid_t pid;

	memset(sim, 0, sizeof(*sim));
	if (pipe2(pout, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		(void) dup2(pout[1], 1);
		execvp(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	(void) close(pout[1]);
	while (len < sizeof(line) - 1) {
		struct pollfd pf = { pout[0], POLLIN, 0 };
		ssize_t r;

		if (time(NULL) > deadline ||
		    poll(&pf, 1, 1000) < 0)
			break;
		if (!(pf.revents & (POLLIN | POLLHUP)))
			continue;
		r = read(pout[0], line + len, 1);
		if (r <= 0)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	/* Keep the pipe open (its end) so the sim never gets SIGPIPE. */
	sim->pid = pid;
	sim->info = json_loads(line, 0, &jerr);
	if (sim->info == NULL) {
		fprintf(stderr, "simulator %s: bad first line: '%s'\n",
		    argv[1] != NULL ? argv[1] : argv[0], line);
		tu_sim_stop(sim);
		return -1;
	}
	port = json_object_get(sim->info, "port");
	sim->port = (int)json_integer_value(port);
	(void) snprintf(sim->base, sizeof(sim->base), "https://127.0.0.1:%d",
	    sim->port);
	sim->ca_file = (char *)(uintptr_t)tu_sim_str(sim, "ca_file");
	return 0;
}

static int
sim_start_tool(struct tu_sim *sim, const char *tool,
    const char *const extra[])
{
	const char *argv[40];
	char path[4096];
	size_t n = 0;

	(void) snprintf(path, sizeof(path), "%s/tools/%s/%s", tu_source_dir(),
	    tool, tool);
	argv[n++] = "python3";
	argv[n++] = path;
	argv[n++] = "--port";
	argv[n++] = "0";
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return tu_sim_start(argv, sim);
}

int
tu_pve_sim_start(struct tu_sim *sim, const char *const extra[])
{
	return sim_start_tool(sim, "pve-sim", extra);
}

int
tu_hub_sim_start(struct tu_sim *sim, const char *const extra[])
{
	return sim_start_tool(sim, "hub-sim", extra);
}

void
tu_sim_stop(struct tu_sim *sim)
{
	int st, i;

	if (sim == NULL)
		return;
	if (sim->pid > 0) {
		/* Its exit is waited for in 10 ms steps (5 s in all). */
		(void) kill(sim->pid, SIGTERM);
		for (i = 0; i < 500; i++) {
			if (waitpid(sim->pid, &st, WNOHANG) == sim->pid)
				break;
			(void) usleep(10000);
		}
		if (i == 500) {
			(void) kill(sim->pid, SIGKILL);
			(void) waitpid(sim->pid, &st, 0);
		}
	}
	json_decref(sim->info);
	memset(sim, 0, sizeof(*sim));
}

const char *
tu_sim_str(const struct tu_sim *sim, const char *key)
{
	return json_string_value(json_object_get(sim->info, key));
}

static size_t
collect(char *p, size_t size, size_t n, void *ud)
{
	struct capbuf *b = ud;

	if (cap_append(b, p, size * n) != 0)
		return 0;
	return size * n;
}

long
tu_sim_call(const struct tu_sim *sim, const char *method, const char *path,
    const char *body, char **resp)
{
	struct curl_slist *hdr = NULL;
	struct capbuf b = { 0 };
	char url[4096];
	long code = -1;
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		return -1;
	(void) snprintf(url, sizeof(url), "%s%s", sim->base, path);
	(void) curl_easy_setopt(c, CURLOPT_URL, url);
	(void) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (sim->ca_file != NULL) {
		(void) curl_easy_setopt(c, CURLOPT_CAINFO, sim->ca_file);
	} else {
		(void) curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		(void) curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (body != NULL) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		(void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		(void) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	(void) curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	(void) curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	(void) curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		(void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	if (b.data == NULL)
		(void) cap_append(&b, "", 0);
	if (resp != NULL)
		*resp = b.data;
	else
		free(b.data);
	return code;
}

json_t *
tu_sim_json(const struct tu_sim *sim, const char *method, const char *path,
    const char *body)
{
	char *resp = NULL;
	json_t *v = NULL;

	if (tu_sim_call(sim, method, path, body, &resp) >= 200)
		v = json_loads(resp, 0, NULL);
	free(resp);
	return v;
}

size_t
tu_count(const char *hay, const char *needle)
{
	size_t n = 0, nl;
	const char *p;

	if (hay == NULL || needle == NULL || (nl = strlen(needle)) == 0)
		return 0;
	for (p = hay; (p = strstr(p, needle)) != NULL; p += nl)
		n++;
	return n;
}

int
tu_db_init(const char *dbpath)
{
	char floor[CLOCK_RFC3339_LEN];
	const char *argv[] = { tu_bin("felhom-admin"), "db", "init", "--db",
	    dbpath, "--nonce-floor", floor, NULL };
	int st = -1;

	clock_format_rfc3339((int64_t)time(NULL) - 3600, floor, sizeof(floor));
	if (tu_run(argv, NULL, NULL, 0, NULL, NULL, &st) != 0 || st != 0)
		return -1;
	return 0;
}

int
tu_count_commits(void *ctx, sqlite3 *h, const char *name, int npages)
{
	(void) h;
	(void) name;
	(void) npages;
	(*(int *)ctx)++;
	return SQLITE_OK;
}

void
tu_db_marks(sqlite3 *h, const char *dbpath, int64_t *dv, int64_t *wal)
{
	char path[4200];
	sqlite3_stmt *st;
	struct stat sb;

	ck_assert_int_eq(sqlite3_prepare_v2(h, "PRAGMA data_version", -1,
	    &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	*dv = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_lt(snprintf(path, sizeof(path), "%s-wal", dbpath),
	    (int)sizeof(path));
	*wal = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}
