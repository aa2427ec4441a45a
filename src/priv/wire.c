/*
 * wire — framing of the helper protocol.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "priv/wire.h"

static const char *const req_names[] = {
	[WIRE_REQ_CREATE] = "create",
	[WIRE_REQ_RESTORE] = "restore",
	[WIRE_REQ_FEATURES] = "features",
	[WIRE_REQ_ATTACH] = "attach",
	[WIRE_REQ_SMART] = "smart",
	[WIRE_REQ_SENSORS] = "sensors",
};
_Static_assert(sizeof(req_names) / sizeof(req_names[0]) == WIRE_REQ__COUNT,
    "every request type is named");

const char *
wire_req_name(enum wire_req r)
{
	return (unsigned)r < WIRE_REQ__COUNT ? req_names[r] : NULL;
}

int
wire_req_parse(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < WIRE_REQ__COUNT; i++)
		if (strcmp(req_names[i], name) == 0)
			return (int)i;
	return -1;
}

int
wire_code_parse(const char *name)
{
	int c;

	for (c = -1; name != NULL && c > -ERR__COUNT; c--)
		if (strcmp(err_name(c), name) == 0)
			return c;
	return ERR_INTERNAL;
}

int64_t
wire_now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline_ms, struct err *err)
{
	struct pollfd pf;
	int64_t left;
	int r;

	for (;;) {
		left = deadline_ms - wire_now_ms();
		if (left <= 0)
			return err_set(err, ERR_TIMEOUT, "helper socket: no "
			    "progress before the deadline");
		pf.fd = fd;
		pf.events = events;
		pf.revents = 0;
		r = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
		if (r < 0 && errno != EINTR)
			return err_set(err, ERR_IO, "helper socket: poll: %s",
			    strerror(errno));
		if (r > 0)
			return 0;
	}
}

int
wire_write(int fd, const char *data, size_t len, int64_t deadline_ms,
    struct err *err)
{
	unsigned char hdr[4];
	const unsigned char *p;
	size_t off = 0, total = len + 4, n;
	ssize_t w;
	int rc;

	if (len > WIRE_ANSWER_MAX)
		return err_set(err, ERR_TOO_LARGE, "helper message of %zu "
		    "bytes, over the limit of %d", len, WIRE_ANSWER_MAX);
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	while (off < total) {
		if (off < 4) {
			p = hdr + off;
			n = 4 - off;
		} else {
			p = (const unsigned char *)data + (off - 4);
			n = total - off;
		}
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((rc = wait_fd(fd, POLLOUT, deadline_ms, err)) != 0)
				return rc;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return err_set(err, ERR_IO, "helper socket: write: %s",
			    w < 0 ? strerror(errno) : "closed");
		off += (size_t)w;
	}
	return 0;
}

void
wire_reader_init(struct wire_reader *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->cap = cap;
}

void
wire_reader_reset(struct wire_reader *r)
{
	size_t cap = r->cap;

	free(r->body);
	wire_reader_init(r, cap);
}

void
wire_reader_space(const struct wire_reader *r, unsigned char **buf,
    size_t *n)
{
	if (r->hgot < 4) {
		*buf = (unsigned char *)(uintptr_t)r->hdr + r->hgot;
		*n = 4 - r->hgot;
	} else {
		*buf = (unsigned char *)r->body + r->got;
		*n = r->len - r->got;
	}
}

int
wire_reader_put(struct wire_reader *r, size_t n, int *done, struct err *err)
{
	*done = 0;
	if (r->hgot < 4) {
		r->hgot += n;
		if (r->hgot < 4)
			return 0;
		r->len = (size_t)r->hdr[0] << 24 | (size_t)r->hdr[1] << 16 |
		    (size_t)r->hdr[2] << 8 | (size_t)r->hdr[3];
		if (r->len > r->cap)
			return err_set(err, ERR_TOO_LARGE, "message of %zu "
			    "bytes, over the limit of %zu", r->len, r->cap);
		if ((r->body = malloc(r->len + 1)) == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		r->body[r->len] = '\0';
	} else
		r->got += n;
	*done = r->got == r->len;
	return 0;
}

int
wire_reader_feed(struct wire_reader *r, int fd, int *done, struct err *err)
{
	unsigned char *buf;
	size_t want;
	ssize_t n;
	int rc;

	*done = 0;
	if (r->hgot == 4 && r->got == r->len) {
		*done = 1;
		return 0;
	}
	for (;;) {
		wire_reader_space(r, &buf, &want);
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return err_set(err, ERR_IO, "helper socket: read: %s",
			    strerror(errno));
		if (n == 0)
			return err_set(err, ERR_TRUNCATED, "helper socket: "
			    "closed after %zu of %zu bytes", r->hgot < 4 ?
			    r->hgot : 4 + r->got, r->hgot < 4 ? (size_t)4 :
			    4 + r->len);
		if ((rc = wire_reader_put(r, (size_t)n, done, err)) != 0 ||
		    *done)
			return rc;
	}
}

char *
wire_reader_take(struct wire_reader *r, size_t *len_out)
{
	char *b = r->body;

	*len_out = r->len;
	r->body = NULL;
	wire_reader_reset(r);
	return b;
}

int
wire_read(int fd, size_t cap, int64_t deadline_ms, char **out,
    size_t *len_out, struct err *err)
{
	struct wire_reader r;
	int done = 0, rc;

	wire_reader_init(&r, cap);
	for (;;) {
		if ((rc = wire_reader_feed(&r, fd, &done, err)) != 0)
			goto out;
		if (done)
			break;
		if ((rc = wait_fd(fd, POLLIN, deadline_ms, err)) != 0)
			goto out;
	}
	*out = wire_reader_take(&r, len_out);
	return 0;
out:
	wire_reader_reset(&r);
	return rc;
}
