/*
 * policy — what the privileged helper accepts: every argument of
 * every request is checked here before anything runs.
 *
 * The rules, each a function below:
 *   vmid          an integer in the configured range;
 *   disk          /dev/sd[a-z]+ or /dev/nvme[0-9]+n[0-9]+, nothing else;
 *   usb id        hhhh:hhhh (vendor:product, hex) or bus-port
 *                 (1-1.2: the sysfs name); resolved to /dev/bus/usb/B/D
 *                 through sysfs;
 *   host path     absolute, of [A-Za-z0-9._@+-/] only (no shell or PVE
 *                 property-string metacharacters), no "." or ".."
 *                 component; then resolved (realpath: every symlink
 *                 followed) and checked again: an existing directory
 *                 inside one of the configured roots;
 *   guest path    the mount point inside the container: absolute, the
 *                 same character set, no "." or "..", not "/";
 *   features      flags from a fixed list (nesting, keyctl, fuse, mknod,
 *                 force_rw_sys) and "mount" with file system names;
 *   names         storage ids, volume ids, hostnames, tags, descriptions
 *                 by PVE's own formats; nothing passed as an argument
 *                 may start with "-".
 * Each failure is ERR_INVALID with a message naming the field and the
 * rule it broke.
 */
#ifndef FELHOM_PRIV_POLICY_H
#define FELHOM_PRIV_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define POLICY_ROOTS_MAX	16
#define POLICY_PATH_MAX		255	/* longest host or guest path */
#define POLICY_DESC_MAX		8192

struct policy {
	int64_t	 vmid_min, vmid_max;
	char	*roots[POLICY_ROOTS_MAX];	/* canonical, owned */
	size_t	 nroots;
	char	*sysfs_root;			/* "/sys" normally; owned */
};

/*
 * Fills p from a comma-separated list of bind roots (each must exist and
 * is stored canonical), the vmid range and the sysfs root.  Caller
 * resets p with policy_reset.  ERR_CONFIG naming the bad root.
 */
int	policy_init(struct policy *p, const char *roots_csv, int64_t vmid_min,
	    int64_t vmid_max, const char *sysfs_root, struct err *err);
void	policy_reset(struct policy *p);

int	policy_vmid(const struct policy *p, int64_t vmid, struct err *err);
int	policy_disk(const char *dev, struct err *err);
/* hhhh:hhhh or bus-port, checked in form only. */
int	policy_usb_id(const char *id, struct err *err);
/*
 * An id (policy_usb_id) → "/dev/bus/usb/BBB/DDD" of the device plugged
 * in now (sysfs busnum/devnum), into out (n >= 32).  ERR_NOT_FOUND when
 * none matches, ERR_CONFLICT when a vendor:product matches several.
 */
int	policy_usb_resolve(const struct policy *p, const char *id, char *out,
	    size_t n, struct err *err);
/* "/dev/bus/usb/BBB/DDD" exactly (three digits each). */
int	policy_usb_path(const char *path, struct err *err);
/*
 * A host path for a bind mount → its canonical form (caller frees
 * *canon_out), an existing directory inside a root.
 */
int	policy_host_path(const struct policy *p, const char *path,
	    char **canon_out, struct err *err);
int	policy_guest_path(const char *path, struct err *err);
/* mp0 … mp255 (which = "mp") or dev0 … dev255 (which = "dev"). */
int	policy_key(const char *key, const char *which, struct err *err);
/* A feature flag name of the fixed list (not "mount"). */
int	policy_feature(const char *name, struct err *err);
/* The value of the "mount" feature: fs names joined by ';'. */
int	policy_mount_types(const char *value, struct err *err);
int	policy_storage(const char *id, struct err *err);
/* "storage:content/name" of a template or backup (PBS forms too). */
int	policy_volid(const char *volid, const char *field, struct err *err);
int	policy_hostname(const char *name, struct err *err);
int	policy_tag(const char *tag, struct err *err);
/* Printable text and newlines, at most POLICY_DESC_MAX bytes. */
int	policy_description(const char *text, struct err *err);

/*
 * The guest config stored in a backup (`pvesm extractconfig` text, len
 * bytes) checked before a root restore brings it back: every bind mount
 * point must pass policy_host_path and policy_guest_path, a device
 * mount point is refused, devN must be a USB device node, and of the
 * raw lxc.* keys only the USB passthrough recipe (cgroup2 allow of
 * character major 189, a mount entry of /dev/bus/usb/...) is accepted.
 * Snapshot sections ("[name]") are not restored and not checked.
 * ERR_INVALID naming the first offending line.
 */
int	policy_backup_config(const struct policy *p, const char *text,
	    size_t len, struct err *err);

#endif
