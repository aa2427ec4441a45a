/*
 * health — disks and temperatures through the helper (R-08c, R-17).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/health.h"
#include "base/log.h"
#include "priv/policy.h"
#include "priv/priv.h"

struct health {
	struct priv_client	*priv;		/* borrowed, may be NULL */
	char			*sysfs_root;
	int64_t			 ttl_ms;
	int64_t			 read_at;	/* monotonic ms, 0: never */
	json_t			*disks;
	json_t			*sensors;
};

int
health_new(struct priv_client *priv, const char *sysfs_root, int64_t ttl_ms,
    struct health **out, struct err *err)
{
	struct health *h;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->sysfs_root = strdup(sysfs_root != NULL ? sysfs_root :
	    "/sys")) == NULL) {
		free(h);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	h->priv = priv;
	h->ttl_ms = ttl_ms;
	*out = h;
	return 0;
}

void
health_free(struct health *h)
{
	if (h == NULL)
		return;
	json_decref(h->disks);
	json_decref(h->sensors);
	free(h->sysfs_root);
	free(h);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole disks under <sysfs>/block, sorted: "/dev/sda", ... */
static size_t
list_disks(const struct health *h, char names[][48], size_t max)
{
	char dir[4096], *sorted[HEALTH_DISKS_MAX];
	char tmp[HEALTH_DISKS_MAX][48];
	struct dirent *de;
	size_t n = 0, i;
	DIR *d;

	(void) snprintf(dir, sizeof(dir), "%s/block", h->sysfs_root);
	if ((d = opendir(dir)) == NULL) {
		log_warn("%s: cannot list the disks, ignoring", dir);
		return 0;
	}
	while ((de = readdir(d)) != NULL && n < max) {
		(void) snprintf(tmp[n], sizeof(tmp[n]), "/dev/%.40s",
		    de->d_name);
		/* The helper's own rule: partitions, dm, loop, zram out. */
		if (policy_disk(tmp[n], NULL) == 0)
			n++;
	}
	(void) closedir(d);
	for (i = 0; i < n; i++)
		sorted[i] = tmp[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_str);
	for (i = 0; i < n; i++)
		(void) snprintf(names[i], 48, "%s", sorted[i]);
	return n;
}

/* The helper's disk object → the report's key set. */
static json_t *
report_disk(const json_t *d)
{
	return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}",
	    "device", json_object_get(d, "device"),
	    "model", json_object_get(d, "model"),
	    "serial", json_object_get(d, "serial"),
	    "smart_passed", json_object_get(d, "smart_passed"),
	    "temperature_c", json_object_get(d, "temperature_c"),
	    "power_on_hours", json_object_get(d, "power_on_hours"));
}

static int
refresh(struct health *h, struct err *err)
{
	char names[HEALTH_DISKS_MAX][48];
	json_t *disks = json_array(), *sensors = NULL, *d, *o;
	struct err xe;
	size_t n, i;
	int rc;

	if (disks == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	n = list_disks(h, names, HEALTH_DISKS_MAX);
	for (i = 0; i < n; i++) {
		d = NULL;
		err_init(&xe);
		if ((rc = priv_smart(h->priv, names[i], &d, &xe)) != 0) {
			if (rc == ERR_NOMEM)
				goto nomem;
			log_warn("SMART of %s unreadable: %s, leaving it out",
			    names[i], err_msg(&xe));
			continue;
		}
		if (!json_is_null(json_object_get(d, "error")))
			log_warn("SMART of %s: %s", names[i],
			    json_string_value(json_object_get(d, "error")));
		o = report_disk(d);
		json_decref(d);
		if (o == NULL || json_array_append_new(disks, o) != 0)
			goto nomem;
	}
	err_init(&xe);
	if ((rc = priv_sensors(h->priv, &sensors, &xe)) != 0) {
		if (rc == ERR_NOMEM)
			goto nomem;
		log_warn("temperatures unreadable: %s, reporting none",
		    err_msg(&xe));
		if ((sensors = json_array()) == NULL)
			goto nomem;
	}
	json_decref(h->disks);
	json_decref(h->sensors);
	h->disks = disks;
	h->sensors = sensors;
	return 0;
nomem:
	json_decref(disks);
	json_decref(sensors);
	return err_set(err, ERR_NOMEM, "out of memory");
}

int
health_read(struct health *h, int64_t now_mono_ms, json_t **disks_out,
    json_t **sensors_out, struct err *err)
{
	int rc;

	if (h == NULL || h->priv == NULL) {
		*disks_out = json_array();
		*sensors_out = json_array();
		goto check;
	}
	if (h->disks == NULL || h->ttl_ms == 0 ||
	    now_mono_ms - h->read_at >= h->ttl_ms) {
		if ((rc = refresh(h, err)) != 0)
			return rc;
		h->read_at = now_mono_ms;
	}
	*disks_out = json_deep_copy(h->disks);
	*sensors_out = json_deep_copy(h->sensors);
check:
	if (*disks_out == NULL || *sensors_out == NULL) {
		json_decref(*disks_out);
		json_decref(*sensors_out);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}
