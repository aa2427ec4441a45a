/*
 * err — status codes and the caller-owned error record.
 *
 * A function that can fail returns int: 0 on success, a negative ERR_* on
 * failure.  When the failure needs explaining it also fills a struct err
 * passed as its last parameter (NULL allowed).  The first error set wins:
 * later err_set() calls on an already-set record only return their code,
 * so the most specific cause (the deepest) is what the user reads.
 *
 * `reason` carries a module's own machine code where a caller must branch
 * on it (authz rejection codes, PVE error kinds); `status` a number that
 * goes with it (HTTP status, task exit).  Both are 0 when unused.
 */
#ifndef FELHOM_BASE_ERR_H
#define FELHOM_BASE_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,		/* allocation failed */
	ERR_INVALID = -2,	/* bad argument or input value */
	ERR_TRUNCATED = -3,	/* input ended before the value */
	ERR_TOO_LARGE = -4,	/* over a size cap */
	ERR_FORMAT = -5,	/* malformed input */
	ERR_IO = -6,		/* file or socket I/O failed */
	ERR_NOT_FOUND = -7,	/* no such object */
	ERR_BUSY = -8,		/* database busy or locked by another */
	ERR_FULL = -9,		/* disk or database full */
	ERR_READONLY = -10,	/* database or file is read-only */
	ERR_CORRUPT = -11,	/* integrity check failed */
	ERR_VERSION = -12,	/* schema or format version not supported */
	ERR_CONFIG = -13,	/* configuration invalid */
	ERR_TRANSPORT = -14,	/* DNS, connect, reset, timeout */
	ERR_HTTP = -15,		/* unexpected HTTP status */
	ERR_AUTH = -16,		/* credentials rejected (401) */
	ERR_PERMISSION = -17,	/* privilege missing (403) */
	ERR_TLS = -18,		/* certificate verification or pin failed */
	ERR_PROTOCOL = -19,	/* peer answered outside its contract */
	ERR_CRYPTO = -20,	/* cryptographic library failure */
	ERR_TRANSITION = -21,	/* no state-machine row for (state, event) */
	ERR_CONFLICT = -22,	/* compare-and-set lost, or already exists */
	ERR_LOCKED = -23,	/* resource locked (PVE lock, lock file) */
	ERR_TASK = -24,		/* a PVE task ended in failure */
	ERR_REJECTED = -25,	/* verdict against (signature pipeline) */
	ERR_TIMEOUT = -26,	/* a deadline passed */
	ERR_UNSUPPORTED = -27,	/* known but not supported */
	ERR_FOREIGN = -28,	/* file is not ours (application_id) */
	ERR_INTERNAL = -29,	/* programmer error or unexpected state */
	ERR_PENDING = -30,	/* issue 17: the answer is not there yet;
				   the same call again later takes it */
	ERR__COUNT = 31
};

#define ERR_MSG_MAX 512

struct err {
	int code;		/* 0 or an ERR_* */
	int reason;		/* module-specific machine code, 0 if none */
	long status;		/* HTTP status / exit status, 0 if none */
	char msg[ERR_MSG_MAX];	/* human message, NUL-terminated */
};

/* Clears the record. */
void	err_init(struct err *err);

/*
 * Sets code and message unless the record already holds an error; returns
 * code either way so `return err_set(err, ERR_X, "...")` reads naturally.
 */
int	err_set(struct err *err, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* As err_set, also setting the module reason and status. */
int	err_setr(struct err *err, int code, int reason, long status,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Prefixes the message already held with context ("hub.url: ...");
 * no-op when err is NULL or holds no error.  Returns err->code (or
 * ERR_INTERNAL if none was set).
 */
int	err_prefix(struct err *err, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Static name of a code: "nomem", "invalid", ... ("unknown" otherwise). */
const char *err_name(int code);

/* Message of err, or the code's name when no message was given. */
const char *err_msg(const struct err *err);

/* Copies src into dst (dst unchanged if it already holds an error). */
int	err_copy(struct err *dst, const struct err *src);

/*
 * Writes s into out (size n) with control characters and non-ASCII bytes
 * escaped (\n, \xNN) and truncated to fit; for peer text in messages.
 */
void	err_escape(char *out, size_t n, const char *s, size_t len);

#endif
