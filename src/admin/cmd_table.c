/*
 * cmd_table — felhom-admin's human tables: columns aligned by
 * display width (UTF-8 code points), text from PVE, the hub or a blob
 * shown with its control characters escaped (nothing it holds can move
 * the cursor), over-wide cells cut at a character boundary with "~".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admin/cmd.h"

struct cmd_table {
	size_t		 ncols;
	char		**headers;	/* ncols, sanitized */
	size_t		*cap;		/* ncols, 0: none */
	char		**cells;	/* nrows * ncols, sanitized */
	size_t		 nrows;
	size_t		 alloc;		/* rows allocated */
};

/* Length in code points of UTF-8 text (a stray byte counts one). */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * A printable copy: control characters (C0, DEL, C1 as UTF-8) and bytes
 * that are not UTF-8 become \xNN; NULL prints as "-".
 */
static char *
sanitize(const char *s)
{
	const unsigned char *p;
	char *out, *o;
	size_t n, k, i;

	if (s == NULL)
		s = "-";
	if ((out = malloc(strlen(s) * 4 + 1)) == NULL)
		return NULL;
	o = out;
	for (p = (const unsigned char *)s; *p != '\0'; ) {
		n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
		    (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		for (k = 1; k < n && (p[k] & 0xc0) == 0x80; k++)
			;
		if (n == 0 || k != n || *p < 0x20 || *p == 0x7f ||
		    (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)) {
			/* One escaped byte; the rest is looked at again. */
			o += sprintf(o, "\\x%02x", *p);
			p++;
			continue;
		}
		for (i = 0; i < n; i++)
			*o++ = (char)*p++;
	}
	*o = '\0';
	return out;
}

struct cmd_table *
cmd_table_new(size_t ncols, const char *const *headers)
{
	struct cmd_table *t;
	size_t i;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ncols = ncols;
	if ((t->headers = calloc(ncols, sizeof(*t->headers))) == NULL ||
	    (t->cap = calloc(ncols, sizeof(*t->cap))) == NULL)
		goto fail;
	for (i = 0; i < ncols; i++)
		if ((t->headers[i] = sanitize(headers[i])) == NULL)
			goto fail;
	return t;
fail:
	cmd_table_free(t);
	return NULL;
}

void
cmd_table_cap(struct cmd_table *t, size_t col, size_t max)
{
	if (col < t->ncols)
		t->cap[col] = max;
}

int
cmd_table_add(struct cmd_table *t, const char *const *cells)
{
	char **nc;
	size_t i, na;

	if (t->nrows == t->alloc) {
		na = t->alloc == 0 ? 16 : t->alloc * 2;
		if ((nc = realloc(t->cells, na * t->ncols *
		    sizeof(*nc))) == NULL)
			return ERR_NOMEM;
		t->cells = nc;
		t->alloc = na;
	}
	for (i = 0; i < t->ncols; i++) {
		if ((t->cells[t->nrows * t->ncols + i] =
		    sanitize(cells[i])) == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * t->ncols + i]);
			return ERR_NOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Prints s in w columns (cut at a code point with "~" when longer). */
static void
put_cell(FILE *f, const char *s, size_t w, int last)
{
	size_t n = width(s), shown = 0;
	const char *p;

	if (n <= w) {
		if (last)
			fprintf(f, "%s", s);
		else
			fprintf(f, "%s%*s", s, (int)(w - n), "");
		return;
	}
	for (p = s; *p != '\0'; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80) {
			if (shown + 1 >= w)
				break;
			shown++;
		}
		fputc(*p, f);
	}
	fputc('~', f);
}

void
cmd_table_print(const struct cmd_table *t, FILE *f)
{
	size_t *w, r, c, n;

	if ((w = calloc(t->ncols, sizeof(*w))) == NULL)
		return;
	for (c = 0; c < t->ncols; c++) {
		w[c] = width(t->headers[c]);
		for (r = 0; r < t->nrows; r++)
			if ((n = width(t->cells[r * t->ncols + c])) > w[c])
				w[c] = n;
		if (t->cap[c] > 0 && w[c] > t->cap[c])
			w[c] = t->cap[c] < width(t->headers[c]) ?
			    width(t->headers[c]) : t->cap[c];
	}
	for (c = 0; c < t->ncols; c++) {
		put_cell(f, t->headers[c], w[c], c + 1 == t->ncols);
		if (c + 1 < t->ncols)
			fputs("  ", f);
	}
	fputc('\n', f);
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			put_cell(f, t->cells[r * t->ncols + c], w[c],
			    c + 1 == t->ncols);
			if (c + 1 < t->ncols)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	free(w);
}

void
cmd_table_free(struct cmd_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; t->headers != NULL && i < t->ncols; i++)
		free(t->headers[i]);
	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->headers);
	free(t->cap);
	free(t->cells);
	free(t);
}

char *
cmd_cell(const json_t *v)
{
	if (v == NULL || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
