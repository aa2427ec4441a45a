/*
 * err — status codes and the caller-owned error record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

static const char *const err_names[ERR__COUNT] = {
	[0] = "ok",
	[-ERR_NOMEM] = "nomem",
	[-ERR_INVALID] = "invalid",
	[-ERR_TRUNCATED] = "truncated",
	[-ERR_TOO_LARGE] = "too_large",
	[-ERR_FORMAT] = "format",
	[-ERR_IO] = "io",
	[-ERR_NOT_FOUND] = "not_found",
	[-ERR_BUSY] = "busy",
	[-ERR_FULL] = "full",
	[-ERR_READONLY] = "readonly",
	[-ERR_CORRUPT] = "corrupt",
	[-ERR_VERSION] = "version",
	[-ERR_CONFIG] = "config",
	[-ERR_TRANSPORT] = "transport",
	[-ERR_HTTP] = "http",
	[-ERR_AUTH] = "auth",
	[-ERR_PERMISSION] = "permission",
	[-ERR_TLS] = "tls",
	[-ERR_PROTOCOL] = "protocol",
	[-ERR_CRYPTO] = "crypto",
	[-ERR_TRANSITION] = "transition",
	[-ERR_CONFLICT] = "conflict",
	[-ERR_LOCKED] = "locked",
	[-ERR_TASK] = "task",
	[-ERR_REJECTED] = "rejected",
	[-ERR_TIMEOUT] = "timeout",
	[-ERR_UNSUPPORTED] = "unsupported",
	[-ERR_FOREIGN] = "foreign",
	[-ERR_INTERNAL] = "internal",
	[-ERR_PENDING] = "pending",
};
_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == ERR__COUNT,
    "err_names must name every code");

void
err_init(struct err *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
}

static int err_vset(struct err *, int, int, long, const char *, va_list)
    __attribute__((format(printf, 5, 0)));

static int
err_vset(struct err *err, int code, int reason, long status,
    const char *fmt, va_list ap)
{
	if (err == NULL || err->code != 0)
		return code;
	err->code = code;
	err->reason = reason;
	err->status = status;
	(void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int
err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(err, code, 0, 0, fmt, ap);
	va_end(ap);
	return r;
}

int
err_setr(struct err *err, int code, int reason, long status,
    const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(err, code, reason, status, fmt, ap);
	va_end(ap);
	return r;
}

int
err_prefix(struct err *err, const char *fmt, ...)
{
	char pre[ERR_MSG_MAX], old[ERR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return ERR_INTERNAL;
	if (err->code == 0)
		return ERR_INTERNAL;
	va_start(ap, fmt);
	(void) vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	(void) snprintf(err->msg, sizeof(err->msg), "%s%s", pre, old);
	return err->code;
}

const char *
err_name(int code)
{
	if (code > 0 || code <= -ERR__COUNT)
		return "unknown";
	return err_names[-code];
}

const char *
err_msg(const struct err *err)
{
	if (err == NULL)
		return "(no error record)";
	if (err->msg[0] != '\0')
		return err->msg;
	return err_name(err->code);
}

int
err_copy(struct err *dst, const struct err *src)
{
	if (src == NULL)
		return ERR_INTERNAL;
	if (dst != NULL && dst->code == 0)
		*dst = *src;
	return src->code;
}

void
err_escape(char *out, size_t n, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (n == 0)
		return;
	for (i = 0; i < len && s != NULL; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[4];
		size_t k = 0;

		if (c == '\n') {
			tmp[k++] = '\\';
			tmp[k++] = 'n';
		} else if (c == '\t') {
			tmp[k++] = '\\';
			tmp[k++] = 't';
		} else if (c == '\\') {
			tmp[k++] = '\\';
			tmp[k++] = '\\';
		} else if (c < 0x20 || c >= 0x7f) {
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[c >> 4];
			tmp[k++] = hex[c & 0xf];
		} else
			tmp[k++] = (char)c;
		if (o + k + 1 > n)
			break;
		memcpy(out + o, tmp, k);
		o += k;
	}
	out[o] = '\0';
}
