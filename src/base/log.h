/*
 * log — the only writer of diagnostics (R-37 structured logs, R-06/R-21:
 * secrets never printed).
 *
 * Under systemd (stderr is the journal, detected through
 * $JOURNAL_STREAM) every line is a journal entry of its own through the
 * native protocol (base/journald): MESSAGE, PRIORITY, CODE_FILE/LINE/FUNC
 * and each field as a journal field (OP_ID, VMID, UPID, CODE, ...); if
 * the journal cannot be reached, the text line with a "<N>" priority
 * prefix goes to stderr instead.  Elsewhere two formats: `text` (one
 * line: time, level, message, key=value fields) and `json` (one object a
 * line).  Fields marked secret print as "<redacted>".  Every string
 * registered with log_add_secret() is additionally masked wherever it
 * appears in a line, so a secret that leaks into a message by mistake is
 * still never written.
 *
 * The configuration (level, format, sink, secrets) is process state, set
 * at start-up.
 */
#ifndef FELHOM_BASE_LOG_H
#define FELHOM_BASE_LOG_H

#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_NOTICE,	/* normal but significant: a retry */
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL__COUNT
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
	LOG_FORMAT__COUNT
};

struct log_field {
	const char	*key;
	const char	*value;		/* NULL prints as "" */
	int		 secret;	/* 1: value is never printed */
};

#define LOG_F(k, v)		((struct log_field){ (k), (v), 0 })
#define LOG_SECRET(k, v)	((struct log_field){ (k), (v), 1 })

/* Sets level, format and sink (NULL = stderr). */
void	log_setup(enum log_level level, enum log_format format, FILE *sink);

/* Parses "error|warn|notice|info|debug" / "text|json"; -1 when unknown. */
int	log_level_parse(const char *s);
int	log_format_parse(const char *s);
const char *log_level_name(enum log_level level);

/*
 * Registers a secret to mask in every line (copied; strings shorter than
 * 4 bytes are ignored to avoid masking common text).  Returns 0, or
 * ERR_NOMEM.
 */
int	log_add_secret(const char *secret);
/* Forgets all registered secrets (wiped). */
void	log_clear_secrets(void);

int	log_enabled(enum log_level level);

void	log_write(enum log_level level, const char *file, int line,
	    const char *func, const struct log_field *fields, size_t nfields,
	    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#define log_error(...) \
	log_write(LOG_LEVEL_ERROR, __FILE__, __LINE__, __func__, NULL, 0, \
	    __VA_ARGS__)
#define log_warn(...) \
	log_write(LOG_LEVEL_WARN, __FILE__, __LINE__, __func__, NULL, 0, \
	    __VA_ARGS__)
#define log_notice(...) \
	log_write(LOG_LEVEL_NOTICE, __FILE__, __LINE__, __func__, NULL, 0, \
	    __VA_ARGS__)
#define log_info(...) \
	log_write(LOG_LEVEL_INFO, __FILE__, __LINE__, __func__, NULL, 0, \
	    __VA_ARGS__)
#define log_debug(...) \
	log_write(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __func__, NULL, 0, \
	    __VA_ARGS__)
/* With fields: log_fields(LOG_LEVEL_INFO, f, n, "fmt", ...). */
#define log_fields(lvl, f, n, ...) \
	log_write((lvl), __FILE__, __LINE__, __func__, (f), (n), __VA_ARGS__)

#endif
