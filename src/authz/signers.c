/*
 * signers — allowed_signers parsing and matching (R-14; sshsig.md §10).
 *
 * The grammar follows openssh-portable sshsig.c
 * (parse_principals_key_and_options, sshsigopt_parse) and misc.c
 * (opt_dequote, parse_absolute_time) so that a file means the same to
 * ssh-keygen and to felhom, with two deliberate differences: the
 * felhom-only FIDO options are understood, and cert-authority lines are
 * refused instead of being a way in.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "authz/codes.h"
#include "authz/signers.h"
#include "authz/sshsig.h"
#include "base/err.h"
#include "store/db.h"
#include "store/signers_db.h"

#define PATTERN_MAX	1024	/* one subpattern, as OpenSSH's match.c */

struct signers {
	struct signers_entry	**v;	/* owned entries, in file order */
	size_t			  n;
	size_t			  cap;
};

static const char *const role_names[SIGNERS_ROLE__COUNT] = {
	[SIGNERS_ROLE_OPERATIONAL] = "operational",
	[SIGNERS_ROLE_RECOVERY] = "recovery",
};
_Static_assert(sizeof(role_names) / sizeof(role_names[0]) ==
    SIGNERS_ROLE__COUNT, "role_names must name every role");

const char *
signers_role_name(int role)
{
	if (role < 0 || role >= SIGNERS_ROLE__COUNT)
		return "unknown";
	return role_names[role];
}

int
signers_role_from_name(const char *s)
{
	int i;

	for (i = 0; s != NULL && i < SIGNERS_ROLE__COUNT; i++)
		if (strcmp(role_names[i], s) == 0)
			return i;
	return -1;
}

struct signers *
signers_new(void)
{
	return calloc(1, sizeof(struct signers));
}

void
signers_free(struct signers *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		signers_entry_free(set->v[i]);
	free(set->v);
	free(set);
}

size_t
signers_count(const struct signers *set)
{
	return set == NULL ? 0 : set->n;
}

size_t
signers_count_role(const struct signers *set, enum signers_role role)
{
	size_t i, n = 0;

	for (i = 0; set != NULL && i < set->n; i++)
		if (set->v[i]->role == role)
			n++;
	return n;
}

const struct signers_entry *
signers_get(const struct signers *set, size_t i)
{
	if (set == NULL || i >= set->n)
		return NULL;
	return set->v[i];
}

void
signers_entry_free(struct signers_entry *e)
{
	if (e == NULL)
		return;
	free(e->principals);
	free(e->namespaces);
	free(e->options);
	free(e->keytext);
	free(e->comment);
	free(e->source);
	sshsig_key_free(e->key);
	free(e);
}

int
signers_add(struct signers *set, struct signers_entry *e, struct err *err)
{
	struct signers_entry **nv;
	size_t ncap;

	if (set->n == set->cap) {
		ncap = set->cap == 0 ? 8 : set->cap * 2;
		if ((nv = reallocarray(set->v, ncap, sizeof(*nv))) == NULL) {
			signers_entry_free(e);
			return err_set(err, ERR_NOMEM, "signers: out of memory");
		}
		set->v = nv;
		set->cap = ncap;
	}
	set->v[set->n++] = e;
	return 0;
}

/* OpenSSH match.c match_pattern(): '*' and '?', case-sensitive. */
static int
match_pattern(const char *s, const char *p)
{
	const char *star = NULL, *ss = NULL;

	/* Iterative with one backtrack point: O(len(s) * len(p)). */
	for (;;) {
		if (*p == '*') {
			star = ++p;
			ss = s;
			continue;
		}
		if (*s == '\0')
			break;
		if (*p != '\0' && (*p == '?' || *p == *s)) {
			p++;
			s++;
			continue;
		}
		if (star == NULL)
			return 0;
		p = star;
		s = ++ss;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

int
signers_match_list(const char *s, const char *list)
{
	char sub[PATTERN_MAX];
	size_t i = 0, n, len = strlen(list);
	int negated, positive = 0;

	while (i < len) {
		negated = list[i] == '!';
		if (negated)
			i++;
		for (n = 0; i < len && list[i] != ',' && n < sizeof(sub) - 1;
		    n++, i++)
			sub[n] = list[i];
		if (n >= sizeof(sub) - 1)
			return 0;	/* too long: no match, as OpenSSH */
		if (i < len && list[i] == ',')
			i++;
		sub[n] = '\0';
		if (match_pattern(s, sub)) {
			if (negated)
				return -1;
			positive = 1;
		}
	}
	return positive;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
num(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int
signers_parse_time(const char *s, int64_t *out)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	size_t l = strlen(s);
	struct tm tm;
	time_t t;
	int utc = 0, leap;

	if (l > 1 && strcasecmp(s + l - 1, "Z") == 0) {
		utc = 1;
		l--;
	} else if (l > 3 && strcasecmp(s + l - 3, "UTC") == 0) {
		utc = 1;
		l -= 3;
	}
	if ((l != 8 && l != 12 && l != 14) || !all_digits(s, l))
		return ERR_FORMAT;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = num(s, 4) - 1900;
	tm.tm_mon = num(s + 4, 2) - 1;
	tm.tm_mday = num(s + 6, 2);
	if (l >= 12) {
		tm.tm_hour = num(s + 8, 2);
		tm.tm_min = num(s + 10, 2);
	}
	if (l == 14)
		tm.tm_sec = num(s + 12, 2);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return ERR_FORMAT;
	leap = (tm.tm_year % 4 == 0 && (tm.tm_year + 1900) % 100 != 0) ||
	    (tm.tm_year + 1900) % 400 == 0;
	if (tm.tm_mday < 1 || tm.tm_mday > mdays[tm.tm_mon] +
	    (tm.tm_mon == 1 && leap))
		return ERR_FORMAT;
	if (utc)
		t = timegm(&tm);
	else {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t < 0)
		return ERR_FORMAT;
	*out = (int64_t)t;
	return 0;
}

/* misc.c opt_match(): case-insensitive "name=" prefix. */
static int
opt_match(const char **opts, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(*opts, name, n) == 0 && (*opts)[n] == '=') {
		*opts += n + 1;
		return 1;
	}
	return 0;
}

/* misc.c opt_flag() without negation. */
static int
opt_flag(const char **opts, const char *name)
{
	size_t n = strlen(name);

	if (strncasecmp(*opts, name, n) == 0) {
		*opts += n;
		return 1;
	}
	return 0;
}

/* misc.c opt_dequote(): "..." with \" as the only escape. */
static int
opt_dequote(const char **sp, char **out, const char *what, struct err *err)
{
	const char *s = *sp;
	char *ret;
	size_t i = 0;

	if (*s != '"')
		return err_set(err, ERR_FORMAT, "option %s: value must be "
		    "in double quotes", what);
	s++;
	if ((ret = malloc(strlen(s) + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "signers: out of memory");
	while (*s != '\0' && *s != '"') {
		if (s[0] == '\\' && s[1] == '"')
			s++;
		ret[i++] = *s++;
	}
	if (*s == '\0') {
		free(ret);
		return err_set(err, ERR_FORMAT, "option %s: missing closing "
		    "quote", what);
	}
	ret[i] = '\0';
	*sp = s + 1;
	*out = ret;
	return 0;
}

static int
opt_time(const char **opts, int64_t *out, const char *what, struct err *err)
{
	char *v = NULL;
	int rc;

	if (*out != 0)
		return err_set(err, ERR_FORMAT, "option %s given twice", what);
	if ((rc = opt_dequote(opts, &v, what, err)) != 0)
		return rc;
	if (signers_parse_time(v, out) != 0 || *out == 0) {
		char e[64];

		err_escape(e, sizeof(e), v, strlen(v));
		free(v);
		return err_set(err, ERR_FORMAT, "option %s: invalid time '%s' "
		    "(YYYYMMDD[HHMM[SS]][Z])", what, e);
	}
	free(v);
	return 0;
}

/* sshsig.c sshsigopt_parse() plus the felhom FIDO flags. */
static int
parse_options(const char *opts, struct signers_entry *e, struct err *err)
{
	int rc;

	while (*opts != '\0' && *opts != ' ' && *opts != '\t') {
		if (opt_match(&opts, "namespaces")) {
			if (e->namespaces != NULL)
				return err_set(err, ERR_FORMAT, "option "
				    "namespaces given twice");
			if ((rc = opt_dequote(&opts, &e->namespaces,
			    "namespaces", err)) != 0)
				return rc;
		} else if (opt_match(&opts, "valid-after")) {
			if ((rc = opt_time(&opts, &e->valid_after,
			    "valid-after", err)) != 0)
				return rc;
		} else if (opt_match(&opts, "valid-before")) {
			if ((rc = opt_time(&opts, &e->valid_before,
			    "valid-before", err)) != 0)
				return rc;
		} else if (opt_flag(&opts, "cert-authority")) {
			return err_set(err, ERR_UNSUPPORTED, "cert-authority: "
			    "certificates are not supported, list the plain "
			    "public keys instead");
		} else if (opt_flag(&opts, "no-touch-required")) {
			e->policy |= SSHSIG_POLICY_NO_TOUCH_REQUIRED;
		} else if (opt_flag(&opts, "verify-required")) {
			e->policy |= SSHSIG_POLICY_VERIFY_REQUIRED;
		} else {
			char x[64];
			size_t n = strcspn(opts, ",= \t");

			err_escape(x, sizeof(x), opts, n);
			return err_set(err, ERR_FORMAT, "unsupported option "
			    "'%s'", x);
		}
		if (*opts == '\0' || *opts == ' ' || *opts == '\t')
			break;
		if (*opts != ',')
			return err_set(err, ERR_FORMAT, "options: expected ',' "
			    "between options");
		opts++;
		if (*opts == '\0' || *opts == ' ' || *opts == '\t')
			return err_set(err, ERR_FORMAT, "options: trailing "
			    "','");
	}
	if (e->valid_after != 0 && e->valid_before != 0 &&
	    e->valid_before <= e->valid_after)
		return err_set(err, ERR_FORMAT, "valid-before is not after "
		    "valid-after");
	return 0;
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* sshkey.c sshkey_advance_past_options(): to the first unquoted blank. */
static const char *
past_options(const char *cp, int *unterminated)
{
	int quoted = 0;

	for (; *cp != '\0' && (quoted || !is_ws(*cp)); cp++) {
		if (cp[0] == '\\' && cp[1] == '"')
			cp++;
		else if (*cp == '"')
			quoted = !quoted;
	}
	*unterminated = quoted;
	return cp;
}

/*
 * A word in the key position is a key type when it names one (ours or
 * another SSH algorithm); options never start like that.
 */
static int
looks_like_keytype(const char *w, size_t n)
{
	static const char *const prefixes[] = { "ssh-", "ecdsa-", "sk-",
	    "rsa-", "webauthn-", NULL };
	size_t i;

	if (memchr(w, '=', n) != NULL || memchr(w, '"', n) != NULL)
		return 0;
	for (i = 0; prefixes[i] != NULL; i++)
		if (n > strlen(prefixes[i]) &&
		    strncmp(w, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

static char *
strndup_or_null(const char *s, size_t n)
{
	return n == 0 ? NULL : strndup(s, n);
}

int
signers_parse_line(const char *line, size_t len, const char *source,
    unsigned long lineno, enum signers_role role, unsigned policy,
    struct signers_entry **out, struct err *err)
{
	struct signers_entry *e = NULL;
	char *buf = NULL;
	const char *cp, *p, *w, *opts = NULL, *type, *b64;
	size_t wlen, optlen = 0, typelen, b64len;
	int rc, unterminated;

	*out = NULL;
	if (len > SIGNERS_LINE_MAX)
		return err_set(err, ERR_FORMAT, "line longer than %d bytes",
		    SIGNERS_LINE_MAX);
	if (memchr(line, '\0', len) != NULL)
		return err_set(err, ERR_FORMAT, "NUL byte in line");
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if ((buf = strndup(line, len)) == NULL)
		return err_set(err, ERR_NOMEM, "signers: out of memory");
	cp = buf + strspn(buf, " \t\r\n");
	if (*cp == '#' || *cp == '\0') {
		rc = 0;
		goto out;
	}
	if (memchr(cp, '\n', strlen(cp)) != NULL ||
	    memchr(cp, '\r', strlen(cp)) != NULL) {
		rc = err_set(err, ERR_FORMAT, "line break inside the line");
		goto out;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "signers: out of memory");
		goto out;
	}
	e->role = role;
	e->policy = policy;
	e->lineno = lineno;
	if ((e->source = strdup(source != NULL ? source : "-")) == NULL) {
		rc = err_set(err, ERR_NOMEM, "signers: out of memory");
		goto out;
	}

	/* principals: one word, or a "quoted" one (misc.c strdelimw). */
	if (*cp == '"') {
		if ((p = strchr(cp + 1, '"')) == NULL) {
			rc = err_set(err, ERR_FORMAT, "principals: missing "
			    "closing quote");
			goto out;
		}
		w = cp + 1;
		wlen = (size_t)(p - w);
		cp = p + 1;
		if (*cp != '\0' && !is_ws(*cp)) {
			rc = err_set(err, ERR_FORMAT, "principals: text after "
			    "the closing quote");
			goto out;
		}
	} else {
		w = cp;
		wlen = strcspn(cp, " \t");
		cp += wlen;
	}
	if (wlen == 0) {
		rc = err_set(err, ERR_FORMAT, "empty principals");
		goto out;
	}
	if ((e->principals = strndup(w, wlen)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "signers: out of memory");
		goto out;
	}
	cp += strspn(cp, " \t");
	if (*cp == '\0') {
		rc = err_set(err, ERR_FORMAT, "missing key after the "
		    "principals");
		goto out;
	}

	/* Options, when the next word is not a key type. */
	wlen = strcspn(cp, " \t");
	if (!looks_like_keytype(cp, wlen)) {
		opts = cp;
		cp = past_options(cp, &unterminated);
		if (unterminated) {
			rc = err_set(err, ERR_FORMAT, "options: unterminated "
			    "quote");
			goto out;
		}
		optlen = (size_t)(cp - opts);
		cp += strspn(cp, " \t");
		if (*cp == '\0') {
			rc = err_set(err, ERR_FORMAT, "missing key after the "
			    "options");
			goto out;
		}
		wlen = strcspn(cp, " \t");
	}

	/* keytype base64 [comment] */
	type = cp;
	typelen = wlen;
	cp += wlen;
	cp += strspn(cp, " \t");
	b64 = cp;
	b64len = strcspn(cp, " \t");
	cp += b64len;
	cp += strspn(cp, " \t");
	if (b64len == 0) {
		rc = err_set(err, ERR_FORMAT, "missing base64 key after the "
		    "key type");
		goto out;
	}
	if (sshsig_keytype_from_name(type, typelen) < 0) {
		char x[160];

		err_escape(x, sizeof(x), type, typelen);
		if (looks_like_keytype(type, typelen))
			rc = err_set(err, ERR_UNSUPPORTED, "key type '%s' is "
			    "not supported", x);
		else
			rc = err_set(err, ERR_FORMAT, "'%s' is not a key type",
			    x);
		goto out;
	}
	if ((rc = sshsig_key_from_text(type, typelen, b64, b64len, &e->key,
	    err)) != 0)
		goto out;
	if (opts != NULL) {
		if ((e->options = strndup(opts, optlen)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "signers: out of memory");
			goto out;
		}
		if ((rc = parse_options(e->options, e, err)) != 0)
			goto out;
	}
	if ((e->keytext = malloc(typelen + 1 + b64len + 1)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "signers: out of memory");
		goto out;
	}
	(void) snprintf(e->keytext, typelen + 1 + b64len + 1, "%.*s %.*s",
	    (int)typelen, type, (int)b64len, b64);
	wlen = strlen(cp);
	while (wlen > 0 && is_ws(cp[wlen - 1]))
		wlen--;
	if (wlen > 0 && (e->comment = strndup_or_null(cp, wlen)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "signers: out of memory");
		goto out;
	}
	*out = e;
	e = NULL;
	rc = 0;
out:
	signers_entry_free(e);
	free(buf);
	return rc;
}

struct warner {
	signers_warn_fn	 fn;
	void		*ctx;
};

static void
warnf(const struct warner *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warnf(const struct warner *w, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX + 256];
	va_list ap;

	if (w->fn == NULL)
		return;
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->fn(w->ctx, msg);
}

static int
read_all(int fd, const char *path, char **out, size_t *len_out,
    struct err *err)
{
	char *data;
	size_t len = 0;
	ssize_t n;

	if ((data = malloc(SIGNERS_FILE_MAX + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "%s: out of memory", path);
	for (;;) {
		n = read(fd, data + len, SIGNERS_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return err_set(err, ERR_IO, "%s: %s", path,
			    strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SIGNERS_FILE_MAX) {
			free(data);
			return err_set(err, ERR_TOO_LARGE, "%s: larger than "
			    "%d bytes", path, SIGNERS_FILE_MAX);
		}
	}
	data[len] = '\0';
	*out = data;
	*len_out = len;
	return 0;
}

int
signers_file_safe(const struct stat *st, uid_t euid, const char *path,
    struct err *err)
{
	if (!S_ISREG(st->st_mode))
		return err_set(err, ERR_IO, "%s: not a regular file", path);
	/* whoever owns or can write the file could add a signer. */
	if (st->st_uid != 0 && st->st_uid != euid)
		return err_set(err, ERR_PERMISSION, "%s: owned by uid %lu, "
		    "neither root nor the agent's user (uid %lu); run chown "
		    "root on it", path, (unsigned long)st->st_uid,
		    (unsigned long)euid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return err_set(err, ERR_PERMISSION, "%s: group- or world-"
		    "writable (mode %04o); run chmod go-w on it", path,
		    (unsigned)(st->st_mode & 07777));
	return 0;
}

int
signers_load_file(struct signers *set, const char *path,
    enum signers_role role, unsigned policy, unsigned flags,
    signers_warn_fn warn, void *warn_ctx, struct err *err)
{
	struct warner w = { warn, warn_ctx };
	struct signers_entry *e = NULL;
	struct err lerr;
	struct stat st;
	char *data = NULL;
	const char *line, *nl;
	size_t len = 0, start = set->n, i, j;
	unsigned long lineno = 0;
	int fd = -1, rc;

	/* a symlink's target is whoever controls the link. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NOFOLLOW)) < 0) {
		if (errno == ELOOP)
			rc = err_set(err, ERR_PERMISSION, "%s: is a symbolic "
			    "link; name the file itself", path);
		else
			rc = err_set(err, errno == ENOENT ? ERR_NOT_FOUND :
			    ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = signers_file_safe(&st, geteuid(), path, err)) != 0)
		goto out;
	if ((rc = read_all(fd, path, &data, &len, err)) != 0)
		goto out;
	for (line = data; line < data + len; line = nl + 1) {
		size_t ll;

		lineno++;
		nl = memchr(line, '\n', (size_t)(data + len - line));
		if (nl == NULL)
			nl = data + len;
		ll = (size_t)(nl - line);
		err_init(&lerr);
		rc = signers_parse_line(line, ll, path, lineno, role, policy,
		    &e, &lerr);
		if (rc == ERR_NOMEM) {
			rc = err_copy(err, &lerr);
			goto out;
		}
		if (rc != 0) {
			if (!(flags & SIGNERS_LENIENT)) {
				rc = err_set(err, rc, "%s:%lu: %s", path,
				    lineno, lerr.msg);
				goto out;
			}
			warnf(&w, "%s:%lu: %s; line skipped", path, lineno,
			    lerr.msg);
			continue;
		}
		if (e == NULL)
			continue;
		if ((rc = signers_add(set, e, err)) != 0) {
			e = NULL;
			goto out;
		}
		e = NULL;
	}
	/* sshsig.md §10: the least restricted of two lines wins. */
	for (i = start; i < set->n; i++)
		for (j = start; j < i; j++)
			if (sshsig_key_equal(set->v[i]->key, set->v[j]->key)) {
				warnf(&w, "%s:%lu: key %s is also on line "
				    "%lu; the least restricted line wins", path,
				    set->v[i]->lineno,
				    sshsig_key_fingerprint(set->v[i]->key),
				    set->v[j]->lineno);
				break;
			}
	rc = 0;
out:
	if (rc != 0) {
		while (set->n > start)
			signers_entry_free(set->v[--set->n]);
	}
	if (fd >= 0)
		(void) close(fd);
	free(data);
	return rc;
}

static int
reject(struct err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reject(struct err *err, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_setr(err, ERR_REJECTED, AUTHZ_UNKNOWN_SIGNER, 0, "%s",
	    msg);
}

int
signers_find(const struct signers *set, const struct signers_query *q,
    const struct signers_entry **out, struct err *err)
{
	const struct signers_entry *e, *miss = NULL;
	const char *why = NULL;
	char fp[SSHSIG_FP_LEN];
	size_t i, klen;
	const uint8_t *kb;

	for (i = 0; set != NULL && i < set->n; i++) {
		const char *r = NULL;

		e = set->v[i];
		if (q->role >= 0 && (int)e->role != q->role)
			continue;
		kb = sshsig_key_blob(e->key, &klen);
		if (klen != q->keylen || memcmp(kb, q->key, klen) != 0)
			continue;
		if (q->principal != NULL &&
		    signers_match_list(q->principal, e->principals) != 1)
			r = "not for this principal";
		else if (e->namespaces != NULL &&
		    signers_match_list(q->ns, e->namespaces) != 1)
			r = "its namespaces= option does not allow the "
			    "namespace";
		else if (e->valid_after != 0 && q->now < e->valid_after)
			r = "not valid yet (valid-after)";
		else if (e->valid_before != 0 && q->now > e->valid_before)
			r = "no longer valid (valid-before)";
		if (r == NULL) {
			*out = e;
			return 0;
		}
		if (miss == NULL) {
			miss = e;
			why = r;
		}
	}
	if (sshsig_fingerprint(q->key, q->keylen, fp, sizeof(fp)) != 0)
		(void) snprintf(fp, sizeof(fp), "(unknown)");
	if (miss != NULL)
		return reject(err, "key %s is listed (%s:%lu) but %s", fp,
		    miss->source, miss->lineno, why);
	if (q->role >= 0)
		return reject(err, "key %s is not a %s signer", fp,
		    signers_role_name(q->role));
	return reject(err, "key %s is not an allowed signer", fp);
}

int
signers_entry_line(const struct signers_entry *e, char **out,
    struct err *err)
{
	char opts[SIGNERS_LINE_MAX];
	size_t n = 0;
	unsigned have = 0;
	const char *q;
	char *s;
	int len;

	opts[0] = '\0';
	if (e->options != NULL) {
		struct signers_entry tmp;
		struct err ignore;

		/* Which FIDO flags the written options already carry. */
		memset(&tmp, 0, sizeof(tmp));
		err_init(&ignore);
		if (parse_options(e->options, &tmp, &ignore) == 0)
			have = tmp.policy;
		free(tmp.namespaces);
		n = (size_t)snprintf(opts, sizeof(opts), "%s", e->options);
	}
	if ((e->policy & SSHSIG_POLICY_NO_TOUCH_REQUIRED) &&
	    !(have & SSHSIG_POLICY_NO_TOUCH_REQUIRED) && n < sizeof(opts))
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s%s",
		    n > 0 ? "," : "", "no-touch-required");
	if ((e->policy & SSHSIG_POLICY_VERIFY_REQUIRED) &&
	    !(have & SSHSIG_POLICY_VERIFY_REQUIRED) && n < sizeof(opts))
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "%s%s",
		    n > 0 ? "," : "", "verify-required");
	if (n >= sizeof(opts))
		return err_set(err, ERR_TOO_LARGE, "signer line too long");
	/* Quoted when a bare word would not read back the same: blanks
	 * split it, a leading '#' makes the line a comment. */
	q = strpbrk(e->principals, " \t") != NULL ||
	    e->principals[0] == '#' ? "\"" : "";
	len = asprintf(&s, "%s%s%s%s%s %s%s%s", q, e->principals, q,
	    n > 0 ? " " : "", opts, e->keytext, e->comment != NULL ? " " : "",
	    e->comment != NULL ? e->comment : "");
	if (len < 0)
		return err_set(err, ERR_NOMEM, "signers: out of memory");
	*out = s;
	return 0;
}

int
signers_load_db(struct signers *set, struct db *db, struct err *err)
{
	struct signers_db_row *rows = NULL;
	size_t n = 0;
	int rc;

	if ((rc = signers_db_list(db, &rows, &n, err)) != 0)
		return rc;
	rc = signers_load_rows(set, rows, n, err);
	signers_db_rows_free(rows, n);
	return rc;
}

int
signers_load_rows(struct signers *set, const struct signers_db_row *rows,
    size_t n, struct err *err)
{
	struct signers_entry *e = NULL;
	struct err lerr;
	size_t i, start = set->n;
	int rc, role;

	for (i = 0; i < n; i++) {
		if ((role = signers_role_from_name(rows[i].role)) < 0) {
			rc = err_set(err, ERR_CORRUPT, "signers row %lld: "
			    "unknown role '%s'", (long long)rows[i].id,
			    rows[i].role);
			goto out;
		}
		err_init(&lerr);
		rc = signers_parse_line(rows[i].line, strlen(rows[i].line),
		    "db:signers", (unsigned long)rows[i].id,
		    (enum signers_role)role, 0, &e, &lerr);
		if (rc == 0 && e == NULL)
			rc = err_set(&lerr, ERR_FORMAT, "empty line");
		if (rc != 0) {
			rc = err_set(err, rc == ERR_NOMEM ? rc : ERR_CORRUPT,
			    "signers row %lld: %s", (long long)rows[i].id,
			    lerr.msg);
			goto out;
		}
		if ((rc = signers_add(set, e, err)) != 0)
			goto out;
		e = NULL;
	}
	rc = 0;
out:
	if (rc != 0)
		while (set->n > start)
			signers_entry_free(set->v[--set->n]);
	return rc;
}

int
signers_save_role(struct db *db, enum signers_role role,
    const struct signers *set, const char *source, int64_t now,
    struct err *err)
{
	struct signers_db_row *rows = NULL;
	size_t i, n = 0, cnt = signers_count_role(set, role);
	int rc;

	if (cnt > 0 && (rows = calloc(cnt, sizeof(*rows))) == NULL)
		return err_set(err, ERR_NOMEM, "signers: out of memory");
	for (i = 0; i < set->n; i++) {
		const struct signers_entry *e = set->v[i];
		struct signers_db_row *r;

		if (e->role != role)
			continue;
		r = &rows[n++];
		if ((rc = signers_entry_line(e, &r->line, err)) != 0)
			goto out;
		if ((r->keytype = strdup(sshsig_keytype_name(
		    (int)sshsig_key_type(e->key)))) == NULL ||
		    (r->fingerprint = strdup(sshsig_key_fingerprint(
		    e->key))) == NULL ||
		    (r->principals = strdup(e->principals)) == NULL ||
		    (r->source = strdup(source)) == NULL) {
			rc = err_set(err, ERR_NOMEM, "signers: out of memory");
			goto out;
		}
	}
	rc = signers_db_replace_role(db, signers_role_name((int)role), rows, n,
	    now, err);
out:
	signers_db_rows_free(rows, n);
	return rc;
}

int
signers_seed_db(struct db *db, const struct signers *set,
    const char *source_operational, const char *source_recovery,
    int64_t now, int *seeded_out, struct err *err)
{
	int64_t count = 0;
	int rc;

	if ((rc = db_begin(db, err)) != 0)
		return rc;
	if ((rc = signers_db_count(db, NULL, &count, err)) != 0)
		goto out;
	if (count > 0) {
		*seeded_out = 0;
		rc = db_commit(db, err);
		goto out;
	}
	if ((rc = signers_save_role(db, SIGNERS_ROLE_OPERATIONAL, set,
	    source_operational, now, err)) != 0 ||
	    (rc = signers_save_role(db, SIGNERS_ROLE_RECOVERY, set,
	    source_recovery, now, err)) != 0)
		goto out;
	if ((rc = db_commit(db, err)) != 0)
		goto out;
	*seeded_out = 1;
out:
	if (rc != 0)
		db_rollback(db);
	return rc;
}
