/*
 * health — the host's disks (SMART) and temperatures for the report
 * read through the privileged helper (R-08c): the agent never
 * runs smartctl or sensors itself.
 *
 * The disks are the whole-disk block devices of sysfs (sd[a-z]+,
 * nvme[0-9]+n[0-9]+); each is one `smart` request.  SMART data changes
 * slowly and reading it can wake a sleeping disk, so a reading is kept
 * for a while (the ttl) and reused by the reports in between.
 */
#ifndef FELHOM_AGENT_HEALTH_H
#define FELHOM_AGENT_HEALTH_H

#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "priv/priv.h"

#define HEALTH_TTL_MS		(10 * 60 * 1000)
#define HEALTH_DISKS_MAX	64
#define HEALTH_CALL_TIMEOUT_MS	60000

struct health;

/*
 * A reader over priv (borrowed; NULL: no helper, every list stays
 * empty), listing disks under sysfs_root (copied; "/sys"), reusing a
 * reading for ttl_ms (0: read every time).  Caller frees (NULL-safe).
 */
int	health_new(struct priv_client *priv, const char *sysfs_root,
	    int64_t ttl_ms, struct health **out, struct err *err);
void	health_free(struct health *h);

/*
 * The report's host.disks ([{device, model, serial, smart_passed,
 * temperature_c, power_on_hours}]) and host.sensors ([{chip, label,
 * temp_c}]) as new references.  A disk or the sensors the helper cannot
 * read are left out, with a warning; never fails but on allocation
 * failure (ERR_NOMEM).
 */
int	health_read(struct health *h, int64_t now_mono_ms, json_t **disks_out,
	    json_t **sensors_out, struct err *err);

#endif
