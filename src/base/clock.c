/*
 * clock — time as a seam and RFC 3339 UTC helpers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/err.h"

static int64_t
sys_now(void *ctx)
{
	struct timespec ts;

	(void) ctx;
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static int64_t
sys_mono_ms(void *ctx)
{
	struct timespec ts;

	(void) ctx;
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct clock system_clock = { sys_now, sys_mono_ms, NULL };

const struct clock *
clock_system(void)
{
	return &system_clock;
}

int64_t
clock_now(const struct clock *c)
{
	if (c == NULL)
		c = &system_clock;
	return c->now(c->ctx);
}

int64_t
clock_mono_ms(const struct clock *c)
{
	if (c == NULL)
		c = &system_clock;
	return c->mono_ms(c->ctx);
}

void
clock_format_rfc3339(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		(void) snprintf(out, n, "1970-01-01T00:00:00Z");
		return;
	}
	(void) strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
digits(const char *s, size_t n, int *out)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_FORMAT;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
clock_parse_rfc3339(const char *s, int64_t *out)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int y, mo, d, h, mi, se, leap, dim;

	if (s == NULL || strlen(s) != 20)
		return ERR_FORMAT;
	if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return ERR_FORMAT;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
	    digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return ERR_FORMAT;
	if (y < 1970 || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59)
		return ERR_FORMAT;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	dim = mdays[mo - 1] + (mo == 2 && leap);
	if (d < 1 || d > dim)
		return ERR_FORMAT;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}
