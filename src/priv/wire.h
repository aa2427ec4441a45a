/*
 * wire — the helper protocol's framing and its fixed request set.
 *
 * One request and one answer per connection over the helper's Unix
 * socket.  A frame is a 4-byte big-endian length followed by that many
 * bytes of JSON (UTF-8, one object).  Requests are capped at
 * WIRE_REQUEST_MAX bytes, answers at WIRE_ANSWER_MAX: a length over the
 * reader's cap is refused before a byte of the body is read.
 *
 * Request:  {"type": NAME, ...its fields...}  (exact shape per type, see
 *           priv/helper.c; unknown keys refused)
 * Answer:   {"ok": true, "result": {...}}
 *           {"ok": false, "code": ERR name, "error": "message"}
 */
#ifndef FELHOM_PRIV_WIRE_H
#define FELHOM_PRIV_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define WIRE_REQUEST_MAX	(64 * 1024)
#define WIRE_ANSWER_MAX		(4 * 1024 * 1024)

/* The fixed request set; each is one of R-08's three actions. */
enum wire_req {
	WIRE_REQ_CREATE,	/* (a) pct create with root-only features */
	WIRE_REQ_RESTORE,	/* (a) pct restore as root */
	WIRE_REQ_FEATURES,	/* (a) pct set --features on a guest */
	WIRE_REQ_ATTACH,	/* (b) bind mounts, USB devices */
	WIRE_REQ_SMART,		/* (c) smartctl --json -a DEV */
	WIRE_REQ_SENSORS,	/* (c) sensors -j */
	WIRE_REQ__COUNT
};

/* "create", ...; NULL out of range.  Parse: -1 for an unknown name. */
const char *wire_req_name(enum wire_req r);
int	wire_req_parse(const char *name);

/* The ERR_* code of an answer's "code" name (ERR_INTERNAL if unknown). */
int	wire_code_parse(const char *name);

/*
 * Writes one frame (len <= cap of the peer) to fd before deadline_ms
 * (CLOCK_MONOTONIC milliseconds; fd non-blocking).  ERR_IO,
 * ERR_TIMEOUT, ERR_TOO_LARGE (len over WIRE_ANSWER_MAX).
 */
int	wire_write(int fd, const char *data, size_t len, int64_t deadline_ms,
	    struct err *err);

/*
 * An incremental frame reader (for a non-blocking descriptor): feed it
 * until it says done.  The body is NUL-terminated; the reader owns it
 * until wire_reader_take().
 */
struct wire_reader {
	size_t		 cap;		/* largest body accepted */
	unsigned char	 hdr[4];
	size_t		 hgot;		/* header bytes read */
	size_t		 len;		/* body length (from the header) */
	size_t		 got;		/* body bytes read */
	char		*body;
};

void	wire_reader_init(struct wire_reader *r, size_t cap);
void	wire_reader_reset(struct wire_reader *r);
/*
 * The decoder under wire_reader_feed, free of any descriptor (a fuzzer
 * feeds it bytes): where the next bytes of the frame go (*buf, at most
 * *n of them), then how many were put there.  *done = 1 once a whole
 * frame is in; a length over cap is ERR_TOO_LARGE (nothing of the body
 * taken).
 */
void	wire_reader_space(const struct wire_reader *r, unsigned char **buf,
	    size_t *n);
int	wire_reader_put(struct wire_reader *r, size_t n, int *done,
	    struct err *err);
/*
 * Reads what fd has now: *done = 1 once a whole frame is in.  EOF before
 * that is ERR_TRUNCATED, a length over cap ERR_TOO_LARGE (nothing of the
 * body read), a read error ERR_IO.
 */
int	wire_reader_feed(struct wire_reader *r, int fd, int *done,
	    struct err *err);
/* The body (caller frees) and its length; the reader is reset. */
char	*wire_reader_take(struct wire_reader *r, size_t *len_out);

/*
 * Reads one whole frame from fd (non-blocking) before deadline_ms:
 * *out (caller frees, NUL-terminated) and *len_out.  Errors as
 * wire_reader_feed, and ERR_TIMEOUT.
 */
int	wire_read(int fd, size_t cap, int64_t deadline_ms, char **out,
	    size_t *len_out, struct err *err);

/* CLOCK_MONOTONIC in milliseconds (deadlines above). */
int64_t	wire_now_ms(void);

#endif
