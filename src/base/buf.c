/*
 * buf — bounds-checked byte reader and growable writer (R-10 parsing).
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"

void
buf_reader_init(struct buf_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data == NULL ? 0 : len;
	r->off = 0;
}

size_t
buf_remaining(const struct buf_reader *r)
{
	return r->len - r->off;
}

int
buf_peek_u8(const struct buf_reader *r, uint8_t *out)
{
	if (buf_remaining(r) < 1)
		return ERR_TRUNCATED;
	*out = r->data[r->off];
	return 0;
}

int
buf_get_u8(struct buf_reader *r, uint8_t *out)
{
	int rc;

	if ((rc = buf_peek_u8(r, out)) != 0)
		return rc;
	r->off++;
	return 0;
}

int
buf_peek_u32(const struct buf_reader *r, uint32_t *out)
{
	const uint8_t *p;

	if (buf_remaining(r) < 4)
		return ERR_TRUNCATED;
	p = r->data + r->off;
	*out = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return 0;
}

int
buf_get_u32(struct buf_reader *r, uint32_t *out)
{
	int rc;

	if ((rc = buf_peek_u32(r, out)) != 0)
		return rc;
	r->off += 4;
	return 0;
}

int
buf_get_u64(struct buf_reader *r, uint64_t *out)
{
	const uint8_t *p;
	uint64_t v = 0;
	size_t i;

	if (buf_remaining(r) < 8)
		return ERR_TRUNCATED;
	p = r->data + r->off;
	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	*out = v;
	r->off += 8;
	return 0;
}

int
buf_skip(struct buf_reader *r, size_t n)
{
	if (buf_remaining(r) < n)
		return ERR_TRUNCATED;
	r->off += n;
	return 0;
}

int
buf_get_bytes_direct(struct buf_reader *r, size_t n, const uint8_t **out)
{
	if (buf_remaining(r) < n)
		return ERR_TRUNCATED;
	*out = r->data + r->off;
	r->off += n;
	return 0;
}

int
buf_get_string_direct(struct buf_reader *r, size_t max, const uint8_t **out,
    size_t *len_out)
{
	uint32_t n;
	int rc;

	if ((rc = buf_peek_u32(r, &n)) != 0)
		return rc;
	if (n > max)
		return ERR_TOO_LARGE;
	if (buf_remaining(r) - 4 < n)
		return ERR_TRUNCATED;
	r->off += 4;
	*out = r->data + r->off;
	*len_out = n;
	r->off += n;
	return 0;
}

int
buf_get_cstring(struct buf_reader *r, size_t max, char **out)
{
	struct buf_reader save = *r;
	const uint8_t *p;
	size_t n;
	char *s;
	int rc;

	if ((rc = buf_get_string_direct(r, max, &p, &n)) != 0)
		return rc;
	if (n > 0 && memchr(p, '\0', n) != NULL) {
		*r = save;
		return ERR_FORMAT;
	}
	if ((s = malloc(n + 1)) == NULL) {
		*r = save;
		return ERR_NOMEM;
	}
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	return 0;
}

int
buf_get_string_reader(struct buf_reader *r, size_t max,
    struct buf_reader *out)
{
	const uint8_t *p;
	size_t n;
	int rc;

	if ((rc = buf_get_string_direct(r, max, &p, &n)) != 0)
		return rc;
	buf_reader_init(out, p, n);
	/* An empty view still needs a non-NULL base for later getters. */
	if (n == 0)
		out->data = p;
	return 0;
}

int
buf_expect(struct buf_reader *r, const void *magic, size_t n)
{
	if (buf_remaining(r) < n)
		return ERR_TRUNCATED;
	if (n > 0 && memcmp(r->data + r->off, magic, n) != 0)
		return ERR_FORMAT;
	r->off += n;
	return 0;
}

int
buf_end(const struct buf_reader *r)
{
	return buf_remaining(r) == 0 ? 0 : ERR_FORMAT;
}

void
buf_writer_init(struct buf_writer *w, size_t max)
{
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
}

void
buf_writer_reset(struct buf_writer *w)
{
	if (w == NULL)
		return;
	if (w->data != NULL) {
		explicit_bzero(w->data, w->cap);
		free(w->data);
	}
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
}

static int
buf_reserve(struct buf_writer *w, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n > w->max || w->len > w->max - n)
		return ERR_TOO_LARGE;
	need = w->len + n;
	if (need <= w->cap && w->data != NULL)
		return 0;
	cap = w->cap < 64 ? 64 : w->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > w->max)
		cap = w->max > need ? w->max : need;
	if ((p = malloc(cap)) == NULL)
		return ERR_NOMEM;
	if (w->data != NULL) {
		memcpy(p, w->data, w->len);
		explicit_bzero(w->data, w->cap);
		free(w->data);
	}
	w->data = p;
	w->cap = cap;
	return 0;
}

int
buf_put_bytes(struct buf_writer *w, const void *p, size_t n)
{
	int rc;

	if ((rc = buf_reserve(w, n)) != 0)
		return rc;
	if (n > 0)
		memcpy(w->data + w->len, p, n);
	w->len += n;
	return 0;
}

int
buf_put_u8(struct buf_writer *w, uint8_t v)
{
	return buf_put_bytes(w, &v, 1);
}

int
buf_put_u32(struct buf_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	return buf_put_bytes(w, b, sizeof(b));
}

int
buf_put_u64(struct buf_writer *w, uint64_t v)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	return buf_put_bytes(w, b, sizeof(b));
}

int
buf_put_string(struct buf_writer *w, const void *p, size_t n)
{
	size_t save = w->len;
	int rc;

	if (n > UINT32_MAX)
		return ERR_TOO_LARGE;
	if ((rc = buf_reserve(w, n + 4)) != 0)
		return rc;
	if ((rc = buf_put_u32(w, (uint32_t)n)) != 0 ||
	    (rc = buf_put_bytes(w, p, n)) != 0) {
		w->len = save;
		return rc;
	}
	return 0;
}

int
buf_put_cstring(struct buf_writer *w, const char *s)
{
	return buf_put_string(w, s, strlen(s));
}

int
buf_writer_steal(struct buf_writer *w, uint8_t **out, size_t *len_out)
{
	int rc;

	if (w->data == NULL && (rc = buf_reserve(w, 1)) != 0)
		return rc;
	*out = w->data;
	*len_out = w->len;
	w->data = NULL;
	w->len = 0;
	w->cap = 0;
	return 0;
}
