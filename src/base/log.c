/*
 * log — the only writer of diagnostics.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/err.h"
#include "base/journald.h"
#include "base/log.h"

#define LOG_LINE_MAX	8192
#define LOG_SECRETS_MAX	16
#define LOG_JOURNAL_FIELDS_MAX	16	/* caller fields per entry */

/* Process log configuration: set at start-up, read everywhere. */
static struct {
	enum log_level	 level;
	enum log_format	 format;
	FILE		*sink;
	int		 journal;	/* stderr is the journal */
	int		 checked;
	char		*secrets[LOG_SECRETS_MAX];
	int		 journal_fd;	/* native protocol socket, -1 */
	const char	*journal_path;	/* NULL: the system's */
} log_cfg = { LOG_LEVEL_INFO, LOG_FORMAT_TEXT, NULL, 0, 0, { NULL }, -1,
    NULL };

static const char *const level_names[LOG_LEVEL__COUNT] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_NOTICE] = "notice",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) ==
    LOG_LEVEL__COUNT, "level_names");

/* syslog priorities for the journald "<N>" prefix (sd-daemon.h). */
static const int level_prio[LOG_LEVEL__COUNT] = {
	[LOG_LEVEL_ERROR] = 3,
	[LOG_LEVEL_WARN] = 4,
	[LOG_LEVEL_NOTICE] = 5,
	[LOG_LEVEL_INFO] = 6,
	[LOG_LEVEL_DEBUG] = 7,
};

static const char *const format_names[LOG_FORMAT__COUNT] = {
	[LOG_FORMAT_TEXT] = "text",
	[LOG_FORMAT_JSON] = "json",
};

static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(fileno(stderr), &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_setup(enum log_level level, enum log_format format, FILE *sink)
{
	log_cfg.level = level;
	log_cfg.format = format;
	log_cfg.sink = sink;
	log_cfg.journal = sink == NULL && stderr_is_journal();
	log_cfg.checked = 1;
#ifdef FELHOM_TESTING
	/* Tests receive the journal entries on a socket of their own. */
	log_cfg.journal_path = getenv("FELHOM_TEST_JOURNAL_SOCKET");
#endif
}

int
log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < LOG_LEVEL__COUNT; i++)
		if (s != NULL && strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_format_parse(const char *s)
{
	int i;

	for (i = 0; i < LOG_FORMAT__COUNT; i++)
		if (s != NULL && strcmp(s, format_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((int)level < 0 || level >= LOG_LEVEL__COUNT)
		return "unknown";
	return level_names[level];
}

int
log_add_secret(const char *secret)
{
	size_t i;

	if (secret == NULL || strlen(secret) < 4)
		return 0;
	for (i = 0; i < LOG_SECRETS_MAX; i++) {
		if (log_cfg.secrets[i] != NULL &&
		    strcmp(log_cfg.secrets[i], secret) == 0)
			return 0;
		if (log_cfg.secrets[i] == NULL) {
			if ((log_cfg.secrets[i] = strdup(secret)) == NULL)
				return ERR_NOMEM;
			return 0;
		}
	}
	return ERR_TOO_LARGE;
}

void
log_clear_secrets(void)
{
	size_t i;

	for (i = 0; i < LOG_SECRETS_MAX; i++) {
		if (log_cfg.secrets[i] == NULL)
			continue;
		explicit_bzero(log_cfg.secrets[i], strlen(log_cfg.secrets[i]));
		free(log_cfg.secrets[i]);
		log_cfg.secrets[i] = NULL;
	}
}

int
log_enabled(enum log_level level)
{
	return level <= log_cfg.level;
}

/* Replaces every registered secret in line (in place) by "<redacted>". */
static void
mask_secrets(char *line, size_t cap)
{
	static const char red[] = "<redacted>";
	size_t i, slen, rlen = sizeof(red) - 1;
	char *p;

	for (i = 0; i < LOG_SECRETS_MAX; i++) {
		const char *s = log_cfg.secrets[i];

		if (s == NULL)
			continue;
		slen = strlen(s);
		while ((p = strstr(line, s)) != NULL) {
			size_t tail = strlen(p + slen);

			if ((size_t)(p - line) + rlen + tail + 1 > cap) {
				/* No room to expand: blank the secret. */
				memset(p, '*', slen);
				continue;
			}
			memmove(p + rlen, p + slen, tail + 1);
			memcpy(p, red, rlen);
		}
	}
}

static void
append(char *buf, size_t cap, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (*off >= cap - 1)
		return;
	if (n > cap - 1 - *off)
		n = cap - 1 - *off;
	memcpy(buf + *off, s, n);
	*off += n;
	buf[*off] = '\0';
}

/*
 * Appends message text with every control character escaped (C0, DEL,
 * and C1 as UTF-8 "\xc2\x80".."\xc2\x9f"): a line is one line, so peer
 * text inside a message (a PVE exit status with a newline) cannot forge
 * another line or a journal priority prefix.  Other bytes are kept.
 */
static void
append_text(char *buf, size_t cap, size_t *off, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	char e[9];

	for (; *p != '\0'; p++) {
		if (*p == '\n')
			append(buf, cap, off, "\\n");
		else if (*p == '\r')
			append(buf, cap, off, "\\r");
		else if (*p == '\t')
			append(buf, cap, off, "\\t");
		else if (*p < 0x20 || *p == 0x7f) {
			e[0] = '\\';
			e[1] = 'x';
			e[2] = hex[*p >> 4];
			e[3] = hex[*p & 0xf];
			e[4] = '\0';
			append(buf, cap, off, e);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			(void) snprintf(e, sizeof(e), "\\xc2\\x%02x", p[1]);
			append(buf, cap, off, e);
			p++;
		} else {
			e[0] = (char)*p;
			e[1] = '\0';
			append(buf, cap, off, e);
		}
	}
}

static int
needs_quotes(const char *v)
{
	if (*v == '\0')
		return 1;
	for (; *v != '\0'; v++)
		if (*v == ' ' || *v == '"' || *v == '=' ||
		    (unsigned char)*v < 0x20)
			return 1;
	return 0;
}

static void
append_value(char *buf, size_t cap, size_t *off, const char *v)
{
	char esc[1024];

	if (!needs_quotes(v)) {
		append(buf, cap, off, v);
		return;
	}
	err_escape(esc, sizeof(esc), v, strlen(v));
	append(buf, cap, off, "\"");
	for (const char *p = esc; *p != '\0'; p++) {
		char c[3] = { *p, '\0', '\0' };

		if (*p == '"') {
			c[0] = '\\';
			c[1] = '"';
		}
		append(buf, cap, off, c);
	}
	append(buf, cap, off, "\"");
}

/*
 * Under systemd: one journal entry with the message, its priority, where
 * it was logged and every field as a field of its own (OP_ID, VMID,
 * UPID, CODE, ...), secrets masked as on stderr.  0 when sent.
 */
static int
log_journal(enum log_level level, const char *file, int line,
    const char *func, const struct log_field *fields, size_t nfields,
    char *msg, size_t msgcap)
{
	struct journald_field jf[8 + LOG_JOURNAL_FIELDS_MAX];
	char prio[4], lineno[16], vals[LOG_JOURNAL_FIELDS_MAX][1024];
	size_t i, n = 0;
	int saved = errno, rc;

	mask_secrets(msg, msgcap);
	(void) snprintf(prio, sizeof(prio), "%d", level_prio[level]);
	(void) snprintf(lineno, sizeof(lineno), "%d", line);
	jf[n++] = (struct journald_field){ "MESSAGE", msg };
	jf[n++] = (struct journald_field){ "PRIORITY", prio };
	jf[n++] = (struct journald_field){ "SYSLOG_IDENTIFIER",
	    program_invocation_short_name };
	jf[n++] = (struct journald_field){ "CODE_FILE", file };
	jf[n++] = (struct journald_field){ "CODE_LINE", lineno };
	jf[n++] = (struct journald_field){ "CODE_FUNC", func };
	for (i = 0; i < nfields && i < LOG_JOURNAL_FIELDS_MAX; i++) {
		(void) snprintf(vals[i], sizeof(vals[i]), "%s",
		    fields[i].secret ? "<redacted>" :
		    fields[i].value != NULL ? fields[i].value : "");
		mask_secrets(vals[i], sizeof(vals[i]));
		jf[n++] = (struct journald_field){ fields[i].key, vals[i] };
	}
	rc = journald_send(&log_cfg.journal_fd, log_cfg.journal_path, jf, n,
	    NULL);
	errno = saved;
	return rc == 0 ? 0 : -1;
}

void
log_write(enum log_level level, const char *file, int line, const char *func,
    const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], out[LOG_LINE_MAX + 64], ts[32];
	FILE *sink = log_cfg.sink != NULL ? log_cfg.sink : stderr;
	struct tm tm;
	time_t now;
	va_list ap;
	size_t i, off = 0;

	if (!log_enabled(level))
		return;
	if (!log_cfg.checked) {
		log_cfg.journal = stderr_is_journal();
		log_cfg.checked = 1;
	}
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Under systemd the journal gets real fields; stderr if it fails. */
	if (log_cfg.journal && log_journal(level, file, line, func, fields,
	    nfields, msg, sizeof(msg)) == 0)
		return;

	now = time(NULL);
	(void) gmtime_r(&now, &tm);
	(void) strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (log_cfg.format == LOG_FORMAT_JSON) {
		json_t *o = json_object();
		char *s;

		if (o == NULL)
			return;
		(void) json_object_set_new(o, "ts", json_string(ts));
		(void) json_object_set_new(o, "level",
		    json_string(level_names[level]));
		(void) json_object_set_new(o, "msg",
		    json_stringn_nocheck(msg, strlen(msg)));
		for (i = 0; i < nfields; i++)
			(void) json_object_set_new(o, fields[i].key,
			    json_string(fields[i].secret ? "<redacted>" :
			    fields[i].value != NULL ? fields[i].value : ""));
		if (level == LOG_LEVEL_DEBUG) {
			(void) json_object_set_new(o, "code_file",
			    json_string(file));
			(void) json_object_set_new(o, "code_line",
			    json_integer(line));
			(void) json_object_set_new(o, "code_func",
			    json_string(func));
		}
		s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		if (s == NULL)
			return;
		(void) snprintf(out, sizeof(out), "%s", s);
		free(s);
	} else {
		char pre[64];

		if (log_cfg.journal)
			(void) snprintf(pre, sizeof(pre), "<%d>",
			    level_prio[level]);
		else
			(void) snprintf(pre, sizeof(pre), "%s %-5s ", ts,
			    level_names[level]);
		out[0] = '\0';
		append(out, sizeof(out), &off, pre);
		append_text(out, sizeof(out), &off, msg);
		for (i = 0; i < nfields; i++) {
			append(out, sizeof(out), &off, " ");
			append(out, sizeof(out), &off, fields[i].key);
			append(out, sizeof(out), &off, "=");
			append_value(out, sizeof(out), &off,
			    fields[i].secret ? "<redacted>" :
			    fields[i].value != NULL ? fields[i].value : "");
		}
		if (level == LOG_LEVEL_DEBUG) {
			char where[256];

			(void) snprintf(where, sizeof(where),
			    " code=%s:%d:%s", file, line, func);
			append(out, sizeof(out), &off, where);
		}
	}
	mask_secrets(out, sizeof(out));
	(void) fprintf(sink, "%s\n", out);
	(void) fflush(sink);
}
