/*
 * exec_restore — the storage, explicit volumes and host-path mount points
 * of a restore (pve-api.md §5.11, §6.2).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/exec_restore.h"
#include "pve/pve.h"

/* "rootfs" or "mp<digits>". */
static int
mount_key(const char *k)
{
	size_t i;

	if (strcmp(k, "rootfs") == 0)
		return 1;
	if (strncmp(k, "mp", 2) != 0 || k[2] == '\0')
		return 0;
	for (i = 2; k[i] != '\0'; i++)
		if (!isdigit((unsigned char)k[i]))
			return 0;
	return 1;
}

/*
 * The volume of a mount point property string: the first element
 * without '=' (the default key), or the value of "volume=".
 */
static int
mp_volume(const char *value, char *out, size_t n)
{
	const char *p = value, *end;
	size_t len;

	while (*p != '\0') {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len > 7 && strncmp(p, "volume=", 7) == 0) {
			p += 7;
			len -= 7;
			goto found;
		}
		if (memchr(p, '=', len) == NULL && len > 0)
			goto found;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return -1;
found:
	if (len >= n)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

int
exec_rootfs_storage(const json_t *conf, char *out, size_t n,
    struct err *err)
{
	const char *v = json_string_value(json_object_get(conf, "rootfs"));
	char vol[512], *colon;

	if (v == NULL)
		return err_set(err, ERR_NOT_FOUND, "the config has no rootfs");
	if (mp_volume(v, vol, sizeof(vol)) != 0 || vol[0] == '/' ||
	    (colon = strchr(vol, ':')) == NULL || colon == vol ||
	    (size_t)(colon - vol) >= n)
		return err_set(err, ERR_FORMAT, "rootfs '%.80s' is not a "
		    "volume on a storage", v);
	memcpy(out, vol, (size_t)(colon - vol));
	out[colon - vol] = '\0';
	return 0;
}

int
exec_host_mounts(const json_t *conf, json_t **out, struct err *err)
{
	const char *k;
	json_t *v, *m;
	char vol[512];

	if ((m = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	json_object_foreach((json_t *)(uintptr_t)conf, k, v) {
		if (!mount_key(k) || strcmp(k, "rootfs") == 0 ||
		    !json_is_string(v))
			continue;
		/* classify_mountpoint: '/dev/...' device, '/...' bind. */
		if (mp_volume(json_string_value(v), vol, sizeof(vol)) != 0 ||
		    vol[0] != '/')
			continue;
		if (json_object_set(m, k, v) != 0) {
			json_decref(m);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
	}
	*out = m;
	return 0;
}

/* PVE::JSONSchema parse_size: "8G", "512M", "1.5T", bytes. */
static int
parse_size(const char *s, double *bytes)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0 || !isdigit((unsigned char)s[0]))
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'K':
		v *= 1024.0;
		end++;
		break;
	case 'M':
		v *= 1024.0 * 1024.0;
		end++;
		break;
	case 'G':
		v *= 1024.0 * 1024.0 * 1024.0;
		end++;
		break;
	case 'T':
		v *= 1024.0 * 1024.0 * 1024.0 * 1024.0;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0')
		return -1;
	*bytes = v;
	return 0;
}

/*
 * One mount point as create_vm's storage-only branch rewrites it:
 * "STORAGE:<size / 1 GiB>" followed by its options except volume and
 * size.
 */
static int
restore_volume(const char *key, const char *value, const char *storage,
    char **out, struct err *err)
{
	const char *p = value, *end;
	char size[64] = "", opts[1024] = "", gib[48];
	size_t len, o = 0;
	double bytes;
	int first = 1;

	while (*p != '\0') {
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len > 5 && strncmp(p, "size=", 5) == 0) {
			if (len - 5 >= sizeof(size))
				return err_set(err, ERR_FORMAT, "%s: size too "
				    "long", key);
			memcpy(size, p + 5, len - 5);
			size[len - 5] = '\0';
		} else if (len > 0 && !(len > 7 &&
		    strncmp(p, "volume=", 7) == 0) &&
		    !(first && memchr(p, '=', len) == NULL)) {
			if (o + len + 2 >= sizeof(opts))
				return err_set(err, ERR_FORMAT, "%s: options "
				    "too long", key);
			opts[o++] = ',';
			memcpy(opts + o, p, len);
			o += len;
			opts[o] = '\0';
		}
		if (memchr(p, '=', len) == NULL)
			first = 0;
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (size[0] == '\0' || parse_size(size, &bytes) != 0)
		return err_set(err, ERR_FORMAT, "%s of the backup has no "
		    "usable size (PVE: unable to detect disk size)", key);
	/* create_disks takes GiB; Perl prints the quotient as is. */
	(void) snprintf(gib, sizeof(gib), "%.15g",
	    bytes / (1024.0 * 1024.0 * 1024.0));
	if ((*out = malloc(strlen(storage) + strlen(gib) + o + 2)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	(void) sprintf(*out, "%s:%s%s", storage, gib, opts);
	return 0;
}

int
exec_restore_volumes(const json_t *conf, const char *storage, json_t **out,
    struct err *err)
{
	const char *k;
	json_t *v, *vols;
	char vol[512], *s = NULL;
	int rc;

	if ((vols = json_object()) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	json_object_foreach((json_t *)(uintptr_t)conf, k, v) {
		if (!mount_key(k) || !json_is_string(v))
			continue;
		if (mp_volume(json_string_value(v), vol, sizeof(vol)) != 0) {
			rc = err_set(err, ERR_FORMAT, "%s of the backup has "
			    "no volume", k);
			goto fail;
		}
		if (vol[0] == '/')
			continue;	/* a host path: the helper's */
		if ((rc = restore_volume(k, json_string_value(v), storage, &s,
		    err)) != 0)
			goto fail;
		if (json_object_set_new(vols, k, json_string(s)) != 0) {
			free(s);
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto fail;
		}
		free(s);
	}
	if (json_object_get(vols, "rootfs") == NULL) {
		rc = err_set(err, ERR_FORMAT, "the backup's rootfs is not a "
		    "volume (PVE: rootfs configuration could not be "
		    "recovered)");
		goto fail;
	}
	*out = vols;
	return 0;
fail:
	json_decref(vols);
	return rc;
}

void
exec_mount_keys(const json_t *mounts, char *out, size_t n)
{
	const char *k;
	json_t *v;
	size_t o = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)(uintptr_t)mounts, k, v) {
		int w = snprintf(out + o, n - o, "%s%s", o > 0 ? "," : "", k);

		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
}

void
exec_restore_plan_reset(struct exec_restore_plan *p)
{
	if (p == NULL)
		return;
	free(p->storage);
	json_decref(p->volumes);
	json_decref(p->mounts);
	memset(p, 0, sizeof(*p));
}

int
exec_restore_plan(struct pve_client *c, const char *node, const char *archive,
    const char *storage, struct exec_restore_plan *out, struct err *err)
{
	struct exec_restore_plan p;
	json_t *conf = NULL;
	int rc;

	memset(&p, 0, sizeof(p));
	if (storage == NULL)
		return err_set(err, ERR_INVALID, "a restore needs a target "
		    "storage (PVE would default to 'local')");
	if ((p.storage = strdup(storage)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = pve_backup_config(c, node, archive, &conf, err)) != 0 ||
	    (rc = exec_host_mounts(conf, &p.mounts, err)) != 0)
		goto fail;
	/*
	 * §5.11: storage-only mode dies on a host path for a token; with
	 * the volumes given the backup's mount points are left out.
	 */
	if (json_object_size(p.mounts) > 0 &&
	    (rc = exec_restore_volumes(conf, storage, &p.volumes, err)) != 0)
		goto fail;
	json_decref(conf);
	*out = p;
	return 0;
fail:
	json_decref(conf);
	exec_restore_plan_reset(&p);
	return rc;
}
