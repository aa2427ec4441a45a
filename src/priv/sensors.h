/*
 * sensors — `sensors -j` output → the report's temperatures (R-08c,
 * R-17; pve-api.md §6.3).
 *
 * lm-sensors 3.6 prints JSON that is not always JSON, so this is a small
 * tolerant reader of its shape (objects of objects of numbers) rather
 * than a strict parser: "ERROR: ..." lines interleaved by a merged
 * stderr are skipped; several documents printed back to back are read
 * one after the other; a feature label repeated inside a chip keeps
 * every occurrence; a trailing comma before "}" is accepted; an empty
 * feature object ("temp1": {}) gives nothing.  Placeholder readings
 * ("-273.150", "65261.850") are dropped.
 */
#ifndef FELHOM_PRIV_SENSORS_H
#define FELHOM_PRIV_SENSORS_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

#define SENSORS_OUT_MAX	(256 * 1024)	/* sensors stdout kept */
#define SENSORS_MAX	512		/* readings kept */

/*
 * The temperatures in text (len bytes) as a new array of {"chip",
 * "label", "temp_c"} (caller decrefs *out), in the order printed.
 * ERR_FORMAT when nothing of the text could be read as sensors output
 * (the message says where), ERR_NOMEM.
 */
int	sensors_parse(const char *text, size_t len, json_t **out,
	    struct err *err);

#endif
