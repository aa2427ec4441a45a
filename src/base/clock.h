/*
 * clock — time as a seam (tests pass a fake) and RFC 3339 UTC helpers.
 */
#ifndef FELHOM_BASE_CLOCK_H
#define FELHOM_BASE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t (*clock_now_fn)(void *ctx);

struct clock {
	clock_now_fn	 now;		/* wall clock, unix seconds */
	clock_now_fn	 mono_ms;	/* monotonic, milliseconds */
	void		*ctx;
};

/* The system clocks (CLOCK_REALTIME, CLOCK_MONOTONIC). */
const struct clock *clock_system(void);

int64_t	clock_now(const struct clock *c);
int64_t	clock_mono_ms(const struct clock *c);

#define CLOCK_RFC3339_LEN 21	/* "YYYY-MM-DDTHH:MM:SSZ" + NUL */

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out (>= CLOCK_RFC3339_LEN). */
void	clock_format_rfc3339(int64_t t, char *out, size_t n);

/*
 * Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (UTC, no fraction, no offset),
 * validating every field (month days, leap years).  ERR_FORMAT otherwise.
 */
int	clock_parse_rfc3339(const char *s, int64_t *out);

#endif
