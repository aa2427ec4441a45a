/*
 * exec_restore — what a restore sends (pve-api.md §5.11): the target
 * storage, the volumes given explicitly when the backup holds host-path
 * mount points a token cannot restore, and those mount points for the
 * privileged helper.  Read from the guest configs PVE gives (GET
 * .../config, or the backup's own via .../vzdump/extractconfig); the
 * config parts are pure and tested on their own.
 */
#ifndef FELHOM_ENGINE_EXEC_RESTORE_H
#define FELHOM_ENGINE_EXEC_RESTORE_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "pve/pve.h"

/*
 * The storage of conf's rootfs ("local-lvm:vm-101-disk-0,size=8G" →
 * "local-lvm") into out.  ERR_NOT_FOUND when conf has no rootfs,
 * ERR_FORMAT when it is not a volume on a storage (a host path).
 */
int	exec_rootfs_storage(const json_t *conf, char *out, size_t n,
	    struct err *err);

/*
 * The host-path (bind) and device mount points of conf (mpN whose volume
 * is an absolute path; pve-container LXC/Config.pm classify_mountpoint)
 * as a new object {"mp0": "/srv/data,mp=/data"}, empty when none.
 */
int	exec_host_mounts(const json_t *conf, json_t **out, struct err *err);

/*
 * The volumes of conf to restore explicitly on storage, as PVE's
 * storage-only mode would make them: rootfs and every volume mpN as
 * "STORAGE:SIZE_GiB" plus their options (mp, backup, acl, ...; not the
 * old volume or its size).  A new object; ERR_FORMAT naming the key when
 * a volume has no size (PVE: "unable to detect disk size").
 */
int	exec_restore_volumes(const json_t *conf, const char *storage,
	    json_t **out, struct err *err);

/* A comma list of mounts' keys ("mp0,mp3") for messages. */
void	exec_mount_keys(const json_t *mounts, char *out, size_t n);

/* How one restore is sent. */
struct exec_restore_plan {
	char		*storage;	/* the target storage */
	json_t		*volumes;	/* explicit rootfs/mpN, or NULL:
					   storage-only mode */
	json_t		*mounts;	/* host-path mount points of the
					   backup to put back ({} none) */
};

void	exec_restore_plan_reset(struct exec_restore_plan *p);

/*
 * The plan of restoring archive onto storage (copied): reads the
 * backup's config; when it holds host-path mount points the volumes are
 * given explicitly (PVE leaves the backup's mount points out then) and
 * `mounts` lists what the helper must put back.
 */
int	exec_restore_plan(struct pve_client *c, const char *node,
	    const char *archive, const char *storage,
	    struct exec_restore_plan *out, struct err *err);

#endif
