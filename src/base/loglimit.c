/*
 * loglimit — a repeating condition logged on change, then at a capped
 * rate (issue 17).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/loglimit.h"

#define LOGLIMIT_LINE_MAX	2048

void
loglimit_init(struct loglimit *ll, int64_t interval_ms)
{
	memset(ll, 0, sizeof(*ll));
	ll->interval_ms = interval_ms > 0 ? interval_ms : LOGLIMIT_INTERVAL_MS;
}

int
loglimit_check(struct loglimit *ll, int64_t now_ms, const char *key,
    uint64_t *held_out)
{
	int64_t iv = ll->interval_ms > 0 ? ll->interval_ms :
	    LOGLIMIT_INTERVAL_MS;

	if (key == NULL)
		key = "";
	if (ll->key[0] == '\0' || strncmp(ll->key, key,
	    sizeof(ll->key) - 1) != 0) {
		/* A change: told at once, whatever was held of the last. */
		(void) snprintf(ll->key, sizeof(ll->key), "%s", key);
		ll->last_ms = now_ms;
		ll->held = 0;
		*held_out = 0;
		return 1;
	}
	if (now_ms - ll->last_ms >= iv) {
		*held_out = ll->held;
		ll->held = 0;
		ll->last_ms = now_ms;
		return 1;
	}
	ll->held++;
	return 0;
}

uint64_t
loglimit_end(struct loglimit *ll)
{
	uint64_t held = ll->held;

	ll->key[0] = '\0';
	ll->held = 0;
	return held;
}

int
loglimit_write(struct loglimit *ll, int64_t now_ms, const char *key,
    enum log_level level, const char *file, int line, const char *func,
    const char *fmt, ...)
{
	char msg[LOGLIMIT_LINE_MAX];
	int64_t last = ll->last_ms;
	uint64_t held;
	va_list ap;

	if (!loglimit_check(ll, now_ms, key, &held))
		return 0;
	if (!log_enabled(level))
		return 1;
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held == 0)
		log_write(level, file, line, func, NULL, 0, "%s", msg);
	else
		log_write(level, file, line, func, NULL, 0, "%s (repeated %"
		    PRIu64 " time%s in the last %" PRId64 " s)", msg, held,
		    held == 1 ? "" : "s", (now_ms - last) / 1000);
	return 1;
}
