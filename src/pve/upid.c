/*
 * upid — strict parser of PVE task identifiers (R-03, pve-api.md §4).
 *
 * Mirrors pve-common UPID.pm's decode regex field by field:
 *   ^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):
 *    ([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):
 *    ([^:\s/]+):$
 * Every byte of the input is accounted for; NUL bytes are refused.
 */
#include <stdio.h>
#include <string.h>

#include "pve/upid.h"

/* [^:\s/] — Perl's \s: space, \t, \n, \v, \f, \r. */
static int
field_char_ok(unsigned char ch)
{
	return ch != ':' && ch != '/' && ch != ' ' && ch != '\t' &&
	    ch != '\n' && ch != '\v' && ch != '\f' && ch != '\r' &&
	    ch != '\0';
}

static int
alnum(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z');
}

static int
hexdig(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Length of the field starting at s[off] (up to the next ':' or end). */
static size_t
field_len(const char *s, size_t len, size_t off)
{
	size_t i = off;

	while (i < len && s[i] != ':')
		i++;
	return i - off;
}

static int
parse_hex(const char *s, size_t n, size_t minw, size_t maxw, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int d;

	if (n < minw || n > maxw)
		return -1;
	for (i = 0; i < n; i++) {
		if ((d = hexdig((unsigned char)s[i])) < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

static int
copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	if (n + 1 > cap)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int
upid_parse(const char *s, size_t len, struct upid *out, struct err *err)
{
	struct upid u;
	size_t off, n, i;
	uint64_t v;

	if (s == NULL)
		return err_set(err, ERR_FORMAT, "upid: missing");
	if (len > UPID_MAX)
		return err_set(err, ERR_TOO_LARGE, "upid: %zu bytes, over the "
		    "limit of %d", len, UPID_MAX);
	memset(&u, 0, sizeof(u));
	if (len < 5 || memcmp(s, "UPID:", 5) != 0)
		return err_set(err, ERR_FORMAT, "upid: does not start with "
		    "'UPID:'");
	off = 5;

	/* node: a hostname label. */
	n = field_len(s, len, off);
	if (n == 0 || off + n >= len)
		return err_set(err, ERR_FORMAT, "upid: node missing");
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[off + i];

		if (!alnum(ch) && !(ch == '-' && i > 0 && i + 1 < n))
			return err_set(err, ERR_FORMAT, "upid: node: invalid "
			    "character at offset %zu", off + i);
	}
	if (copy_field(u.node, sizeof(u.node), s + off, n) != 0)
		return err_set(err, ERR_TOO_LARGE, "upid: node too long");
	off += n + 1;

	/* pid: exactly 8 hex digits. */
	n = field_len(s, len, off);
	if (off + n >= len || parse_hex(s + off, n, 8, 8, &v) != 0)
		return err_set(err, ERR_FORMAT, "upid: pid: expected 8 hex "
		    "digits");
	u.pid = (uint32_t)v;
	off += n + 1;

	/* pstart: 8 or 9 hex digits (9 after ~497 days of uptime). */
	n = field_len(s, len, off);
	if (off + n >= len || parse_hex(s + off, n, 8, 9, &v) != 0)
		return err_set(err, ERR_FORMAT, "upid: pstart: expected 8 or 9 "
		    "hex digits");
	u.pstart = v;
	off += n + 1;

	/* starttime: exactly 8 hex digits. */
	n = field_len(s, len, off);
	if (off + n >= len || parse_hex(s + off, n, 8, 8, &v) != 0)
		return err_set(err, ERR_FORMAT, "upid: starttime: expected 8 "
		    "hex digits");
	u.starttime = (uint32_t)v;
	off += n + 1;

	/* type (non-empty), id (may be empty), user (non-empty). */
	n = field_len(s, len, off);
	if (n == 0 || off + n >= len)
		return err_set(err, ERR_FORMAT, "upid: type missing");
	for (i = 0; i < n; i++)
		if (!field_char_ok((unsigned char)s[off + i]))
			return err_set(err, ERR_FORMAT, "upid: type: invalid "
			    "character at offset %zu", off + i);
	if (copy_field(u.type, sizeof(u.type), s + off, n) != 0)
		return err_set(err, ERR_TOO_LARGE, "upid: type too long");
	off += n + 1;

	n = field_len(s, len, off);
	if (off + n >= len)
		return err_set(err, ERR_FORMAT, "upid: id missing");
	for (i = 0; i < n; i++)
		if (!field_char_ok((unsigned char)s[off + i]))
			return err_set(err, ERR_FORMAT, "upid: id: invalid "
			    "character at offset %zu", off + i);
	if (copy_field(u.id, sizeof(u.id), s + off, n) != 0)
		return err_set(err, ERR_TOO_LARGE, "upid: id too long");
	off += n + 1;

	n = field_len(s, len, off);
	if (n == 0 || off + n >= len)
		return err_set(err, ERR_FORMAT, "upid: user missing or no "
		    "trailing ':'");
	for (i = 0; i < n; i++)
		if (!field_char_ok((unsigned char)s[off + i]))
			return err_set(err, ERR_FORMAT, "upid: user: invalid "
			    "character at offset %zu", off + i);
	if (copy_field(u.user, sizeof(u.user), s + off, n) != 0)
		return err_set(err, ERR_TOO_LARGE, "upid: user too long");
	off += n + 1;	/* the mandatory trailing ':' */

	if (off != len)
		return err_set(err, ERR_FORMAT, "upid: trailing data after the "
		    "final ':'");
	*out = u;
	return 0;
}

int
upid_parse_str(const char *s, struct upid *out, struct err *err)
{
	if (s == NULL)
		return err_set(err, ERR_FORMAT, "upid: missing");
	return upid_parse(s, strnlen(s, UPID_MAX + 1), out, err);
}

int
upid_valid(const char *s)
{
	struct upid u;

	return upid_parse_str(s, &u, NULL) == 0;
}

int
upid_format(const struct upid *u, char *out, size_t n)
{
	int len;

	len = snprintf(out, n, "UPID:%s:%08X:%0*llX:%08X:%s:%s:%s:", u->node,
	    (unsigned)u->pid, u->pstart > 0xffffffffULL ? 9 : 8,
	    (unsigned long long)u->pstart, (unsigned)u->starttime, u->type,
	    u->id, u->user);
	if (len < 0 || (size_t)len >= n)
		return ERR_TOO_LARGE;
	return len;
}

int
upid_is_token(const struct upid *u, const char *token_id)
{
	return u != NULL && token_id != NULL && strcmp(u->user, token_id) == 0;
}
