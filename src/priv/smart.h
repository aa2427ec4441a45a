/*
 * smart — `smartctl --json -a DEV` output → one disk of the report
 * (R-08c, R-17; pve-api.md §6.3).
 *
 * Read tolerantly, as smartctl really prints it: the exit status is a
 * bit mask (bits 0-1 mean no data; the others describe a disk that was
 * read, failing or not); ATA raw attribute values can be packed, so the
 * temperature comes from temperature.current (then the NVMe health log,
 * then the leading number of attribute 194's raw string); NVMe sensor
 * arrays may hold null; keys absent on older versions are null.
 */
#ifndef FELHOM_PRIV_SMART_H
#define FELHOM_PRIV_SMART_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

#define SMART_OUT_MAX	(1024 * 1024)	/* smartctl stdout kept */

/*
 * Builds {"device", "model", "serial", "smart_passed", "temperature_c",
 * "power_on_hours", "exit_status", "error"} from smartctl's stdout (len
 * bytes) and exit status; every value may be null, "error" says why
 * data is missing (smartctl's own message when it gave one).  Only
 * ERR_NOMEM fails; *out is the caller's.
 */
int	smart_parse(const char *device, const char *text, size_t len,
	    int exit_status, json_t **out, struct err *err);

#endif
