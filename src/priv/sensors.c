/*
 * sensors — a tolerant reader of `sensors -j` (R-08c; pve-api.md §6.3
 * quirks 1 to 5).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "priv/sensors.h"

#define SENSORS_DEPTH_MAX	16
#define SENSORS_NAME_MAX	128
/* Readings outside this are lm-sensors placeholders ("not set"). */
#define SENSORS_TEMP_MIN	(-60.0)
#define SENSORS_TEMP_MAX	250.0

struct scan {
	const char	*p, *end;
	int		 line;
	json_t		*out;		/* readings */
	char		 chip[SENSORS_NAME_MAX];
	char		 label[SENSORS_NAME_MAX];
	int		 have;		/* the feature has its reading */
	int		 nomem;
	char		 why[96];	/* first syntax problem */
};

static void
bad(struct scan *s, const char *what)
{
	if (s->why[0] == '\0')
		(void) snprintf(s->why, sizeof(s->why), "%s at line %d", what,
		    s->line);
}

/* Whitespace, and whole "ERROR: ..." lines a merged stderr left. */
static void
skip_ws(struct scan *s)
{
	for (;;) {
		while (s->p < s->end && isspace((unsigned char)*s->p)) {
			if (*s->p == '\n')
				s->line++;
			s->p++;
		}
		if (s->end - s->p >= 6 && memcmp(s->p, "ERROR:", 6) == 0) {
			while (s->p < s->end && *s->p != '\n')
				s->p++;
			continue;
		}
		return;
	}
}

/* A string into out (truncated to n - 1 bytes; escapes simplified). */
static int
read_string(struct scan *s, char *out, size_t n)
{
	size_t len = 0;
	char c;

	if (s->p >= s->end || *s->p != '"') {
		bad(s, "expected a string");
		return -1;
	}
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		c = *s->p++;
		if (c == '\n') {
			bad(s, "unterminated string");
			return -1;
		}
		if (c == '\\' && s->p < s->end) {
			c = *s->p++;
			if (c == 'u') {
				s->p += s->end - s->p >= 4 ? 4 : s->end - s->p;
				c = '?';
			} else if (c == 'n' || c == 't' || c == 'r')
				c = ' ';
		}
		if (len + 1 < n)
			out[len++] = c;
	}
	if (s->p >= s->end) {
		bad(s, "unterminated string");
		return -1;
	}
	s->p++;
	out[len] = '\0';
	return 0;
}

static int
read_number(struct scan *s, double *out)
{
	char buf[64], *endp;
	size_t n = 0;

	while (s->p + n < s->end && n + 1 < sizeof(buf) &&
	    strchr("+-0123456789.eE", s->p[n]) != NULL)
		n++;
	memcpy(buf, s->p, n);
	buf[n] = '\0';
	*out = strtod(buf, &endp);
	if (n == 0 || endp != buf + n) {
		bad(s, "expected a number");
		return -1;
	}
	s->p += n;
	return 0;
}

/* temp<N>_input */
static int
is_temp_input(const char *key)
{
	const char *p;

	if (strncmp(key, "temp", 4) != 0)
		return 0;
	for (p = key + 4; isdigit((unsigned char)*p); p++)
		;
	return p > key + 4 && strcmp(p, "_input") == 0;
}

static void
reading(struct scan *s, double v)
{
	json_t *o;

	if (s->have || !isfinite(v) || v <= SENSORS_TEMP_MIN ||
	    v >= SENSORS_TEMP_MAX || json_array_size(s->out) >= SENSORS_MAX)
		return;
	s->have = 1;
	o = json_pack("{s:s,s:s,s:f}", "chip", s->chip, "label", s->label,
	    "temp_c", v);
	if (o == NULL || json_array_append_new(s->out, o) != 0)
		s->nomem = 1;
}

static int read_value(struct scan *s, int depth, const char *key);

/*
 * An object at depth (0: the document, keyed by chip; 1: a chip, keyed
 * by feature label; 2: a feature, keyed by subfeature).  Commas are
 * optional and a trailing one is accepted.
 */
static int
read_object(struct scan *s, int depth)
{
	char key[SENSORS_NAME_MAX];

	s->p++;		/* '{' */
	for (;;) {
		skip_ws(s);
		if (s->p >= s->end) {
			bad(s, "unterminated object");
			return -1;
		}
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (read_string(s, key, sizeof(key)) != 0)
			return -1;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':') {
			bad(s, "expected ':'");
			return -1;
		}
		s->p++;
		skip_ws(s);
		if (depth == 0)
			(void) snprintf(s->chip, sizeof(s->chip), "%s", key);
		else if (depth == 1) {
			(void) snprintf(s->label, sizeof(s->label), "%s", key);
			s->have = 0;
		}
		if (read_value(s, depth + 1, key) != 0)
			return -1;
	}
}

static int
read_array(struct scan *s, int depth)
{
	s->p++;		/* '[' */
	for (;;) {
		skip_ws(s);
		if (s->p >= s->end) {
			bad(s, "unterminated array");
			return -1;
		}
		if (*s->p == ']') {
			s->p++;
			return 0;
		}
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (read_value(s, depth + 1, "") != 0)
			return -1;
	}
}

static int
read_value(struct scan *s, int depth, const char *key)
{
	char tmp[SENSORS_NAME_MAX];
	double v;

	if (depth > SENSORS_DEPTH_MAX) {
		bad(s, "nested too deep");
		return -1;
	}
	skip_ws(s);
	if (s->p >= s->end) {
		bad(s, "value missing");
		return -1;
	}
	switch (*s->p) {
	case '{':
		return read_object(s, depth);
	case '[':
		return read_array(s, depth);
	case '"':
		return read_string(s, tmp, sizeof(tmp));
	case 't':
	case 'f':
	case 'n':
		while (s->p < s->end && isalpha((unsigned char)*s->p))
			s->p++;
		return 0;
	default:
		if (read_number(s, &v) != 0)
			return -1;
		if (depth == 3 && is_temp_input(key))
			reading(s, v);
		return 0;
	}
}

int
sensors_parse(const char *text, size_t len, json_t **out, struct err *err)
{
	struct scan s;
	int docs = 0, rc = 0;

	memset(&s, 0, sizeof(s));
	s.p = text;
	s.end = text + len;
	s.line = 1;
	if ((s.out = json_array()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	/* Several documents back to back (several chip arguments). */
	for (;;) {
		skip_ws(&s);
		if (s.p >= s.end)
			break;
		if (*s.p != '{') {
			bad(&s, "expected '{'");
			break;
		}
		if (read_object(&s, 0) != 0)
			break;
		docs++;
	}
	if (s.nomem)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	else if (docs == 0 && json_array_size(s.out) == 0)
		rc = err_set(err, ERR_FORMAT, "sensors printed nothing "
		    "readable: %s", s.why[0] != '\0' ? s.why : "empty output");
	if (rc != 0) {
		json_decref(s.out);
		return rc;
	}
	*out = s.out;
	return 0;
}
