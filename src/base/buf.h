/*
 * buf — bounds-checked byte reader and growable writer (R-10 parsing).
 *
 * The reader is a const cursor over caller-owned bytes.  Every getter
 * checks the remaining length before reading; on failure it returns a
 * negative ERR_* (ERR_TRUNCATED when the input ends early, ERR_TOO_LARGE
 * when a length prefix exceeds the caller's maximum, ERR_FORMAT for a
 * value of the wrong form) and leaves the cursor where it was.  It never
 * reads past its end: untrusted SSHSIG blobs are parsed through it.
 *
 * Borrowed views (`_direct`) point into the reader's bytes and stay valid
 * as long as those bytes do.  Copies (`_cstring`) are malloc'ed; the
 * caller frees them.
 *
 * The writer grows up to a maximum fixed at init; a write past it fails
 * with ERR_TOO_LARGE and leaves the contents unchanged.
 */
#ifndef FELHOM_BASE_BUF_H
#define FELHOM_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf_reader {
	const uint8_t	*data;	/* start of input, borrowed */
	size_t		 len;	/* total length */
	size_t		 off;	/* cursor */
};

void	buf_reader_init(struct buf_reader *r, const void *data, size_t len);
size_t	buf_remaining(const struct buf_reader *r);

int	buf_get_u8(struct buf_reader *r, uint8_t *out);
int	buf_get_u32(struct buf_reader *r, uint32_t *out);	/* big-endian */
int	buf_get_u64(struct buf_reader *r, uint64_t *out);	/* big-endian */
int	buf_peek_u8(const struct buf_reader *r, uint8_t *out);
int	buf_peek_u32(const struct buf_reader *r, uint32_t *out);
int	buf_skip(struct buf_reader *r, size_t n);

/* n raw bytes as a borrowed view. */
int	buf_get_bytes_direct(struct buf_reader *r, size_t n,
	    const uint8_t **out);

/*
 * A u32-length-prefixed string as a borrowed view; a length over max is
 * ERR_TOO_LARGE, one past the end ERR_TRUNCATED.
 */
int	buf_get_string_direct(struct buf_reader *r, size_t max,
	    const uint8_t **out, size_t *len_out);

/*
 * A u32-length-prefixed string copied into a NUL-terminated heap string;
 * an embedded NUL is ERR_FORMAT.  Caller frees *out.
 */
int	buf_get_cstring(struct buf_reader *r, size_t max, char **out);

/* A u32-length-prefixed string as a nested reader over its bytes. */
int	buf_get_string_reader(struct buf_reader *r, size_t max,
	    struct buf_reader *out);

/* Consumes exactly the n bytes of magic, or ERR_FORMAT (cursor unmoved). */
int	buf_expect(struct buf_reader *r, const void *magic, size_t n);

/* 0 when every byte was consumed, ERR_FORMAT on trailing data. */
int	buf_end(const struct buf_reader *r);

struct buf_writer {
	uint8_t	*data;	/* heap, owned; NULL until the first write */
	size_t	 len;	/* bytes written */
	size_t	 cap;	/* allocated */
	size_t	 max;	/* hard limit */
};

void	buf_writer_init(struct buf_writer *w, size_t max);
/* Frees the contents (wiped first: they may hold key material). */
void	buf_writer_reset(struct buf_writer *w);
int	buf_put_u8(struct buf_writer *w, uint8_t v);
int	buf_put_u32(struct buf_writer *w, uint32_t v);
int	buf_put_u64(struct buf_writer *w, uint64_t v);
int	buf_put_bytes(struct buf_writer *w, const void *p, size_t n);
/* u32 length prefix, then the bytes. */
int	buf_put_string(struct buf_writer *w, const void *p, size_t n);
int	buf_put_cstring(struct buf_writer *w, const char *s);

/*
 * Hands the contents to the caller (who frees them) and resets the
 * writer.  *len_out gets the length.  An empty writer yields a valid
 * 1-byte allocation so the result is never NULL on success.
 */
int	buf_writer_steal(struct buf_writer *w, uint8_t **out, size_t *len_out);

#endif
