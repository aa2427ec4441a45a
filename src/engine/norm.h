/*
 * norm — the one place PVE round-trip quirks are normalized.
 *
 * PVE answers a config read with values in its own forms: a description
 * with a trailing newline per comment line, tags as one ";"-joined
 * string (or "," and spaces in hand-edited files), booleans as 0/1,
 * defaults as absent keys, feature flags as "nesting=1,keyctl=1".  The
 * reconciler compares the hub's desired spec with the normalized form
 * built here, so none of these ever read as drift, and writes back
 * through norm_spec_to_params() in the forms PVE accepts
 * (reference/pve-api.md §8, §1.2).
 *
 * Managed keys (hub-contract.md, desired spec): hostname, cores,
 * memory_mib, swap_mib, onboot, description, tags, features, and
 * bind_mounts ([{host_path, path, read_only}]: host directories attached
 * through the privileged helper, R-08b; compared as a set) and
 * usb_devices (USB ids, "vvvv:pppp" or bus-port: devices passed through
 * by the helper as devN, R-08b; compared as a set through sysfs).
 * Report-only keys: unprivileged, rootfs, mounts, net.
 */
#ifndef FELHOM_ENGINE_NORM_H
#define FELHOM_ENGINE_NORM_H

#include <jansson.h>

#include "base/err.h"

/* PVE schema defaults for keys absent from a config. */
#define NORM_DEFAULT_MEMORY_MIB	512
#define NORM_DEFAULT_SWAP_MIB	512

/*
 * PVE LXC config (the `data` object of GET .../config) → a new spec
 * object (caller decrefs *out) with every key of the report's
 * guests[].spec:
 *   hostname (string, null when unset), cores (integer, null when unset:
 *   no limit), memory_mib, swap_mib (integers, schema default when unset),
 *   onboot, unprivileged (booleans, false when unset), description
 *   (string, trailing newlines removed, "" when unset), tags (sorted,
 *   lower-cased, unique array), features (object: flags as booleans,
 *   "mount" as its string), rootfs ({volume, size} or null), mounts
 *   ([{key, volume, path, size}] by mount point number), net
 *   ([{name, bridge, ip, hwaddr}] by interface number), bind_mounts
 *   (the mounts whose volume is a host directory: [{key, host_path,
 *   path, read_only}]; not part of the report's key set), usb_devices
 *   (every devN: [{key, path}], by device number; norm_usb_observe adds
 *   the id and port of a USB node; not part of the report's key set).
 * A value of the wrong type is ERR_FORMAT naming the key.
 */
int	norm_spec_from_config(const json_t *config, json_t **out,
	    struct err *err);

/*
 * 1 when the desired value of a managed key equals the actual value
 * (normalized spec value, or a raw PVE form; NULL or null = unset, read
 * as PVE's default), 0 otherwise.  Unknown keys compare exactly.
 */
int	norm_value_equal(const char *key, const json_t *desired,
	    const json_t *actual);

/*
 * The PVE config parameters that bring the actual spec to the desired
 * one: for each key of desired_spec that differs (norm_value_equal) from
 * actual_spec (NULL = nothing known: every key), its PUT parameter as a
 * string — memory_mib → "memory", swap_mib → "swap", onboot → "1"/"0",
 * tags → "a;b", features → "keyctl=1,nesting=1" (keeping a "mount" entry
 * of the actual config).  An empty description or tag list becomes an
 * entry of "delete" (a comma list).  *out is a new JSON object of
 * strings (caller decrefs), empty when nothing differs.  A desired value
 * of the wrong type or an unknown key is ERR_FORMAT.
 */
int	norm_spec_to_params(const json_t *desired_spec,
	    const json_t *actual_spec, json_t **out, struct err *err);

/*
 * 1 when config (the `data` of GET .../config) already holds every value
 * of set_config params {"set": {PVE key: value}, "delete": [key]}, 0
 * otherwise: the read-back that confirms a synchronous set-config whose
 * answer was lost.
 */
int	norm_config_applied(const json_t *params, const json_t *config);

/*
 * Normalized forms, for callers that compare or print one value.  Each
 * returns a new reference (caller decrefs) or NULL on ERR_FORMAT /
 * allocation failure.
 */
/* Array or PVE string → sorted, lower-cased, unique array of strings. */
json_t	*norm_tags(const json_t *v);
/* PVE "k=1,k2=0" string or object → object with flags as booleans. */
json_t	*norm_features(const json_t *v);
/* String with trailing newlines removed; NULL/null → "". */
json_t	*norm_description(const json_t *v);

/* 1 when key is one of the managed spec keys. */
int	norm_key_managed(const char *key);

/* Appends name to the "delete" comma list of flat params (ERR_NOMEM). */
int	norm_add_delete(json_t *params, const char *name);

/* Bind mounts (norm_bind.c). */
/* A config's host-directory mpN → [{key, host_path, path, read_only}]. */
int	norm_binds_from_config(const json_t *config, json_t **out,
	    struct err *err);
/* 1 when the two lists hold the same mounts (order and keys aside). */
int	norm_binds_equal(const json_t *desired, const json_t *actual);
/*
 * Into flat params: "mpN": "HOST,mp=PATH[,ro=1]" for each desired mount
 * not attached yet (the lowest free N) or attached with other options,
 * and a delete of each attached host mount no longer desired.
 */
int	norm_binds_params(json_t *params, const json_t *desired,
	    const json_t *actual_spec, struct err *err);

/* USB devices (norm_usb.c). */
/*
 * The devN value of a USB device still to be attached: "usb:" and its
 * id.  Not a PVE form: the privileged helper resolves the id through
 * sysfs when it attaches, and writes "devN: /dev/bus/usb/BBB/DDD"
 * (exec_priv_split_config).
 */
#define NORM_USB_PREFIX	"usb:"
/* A config's devN → [{key, path}] by device number. */
int	norm_usb_from_config(const json_t *config, json_t **out,
	    struct err *err);
/*
 * Adds "id" (vendor:product) and "port" (bus-port) to each entry of
 * spec.usb_devices whose node is a USB device plugged in now under
 * sysfs_root (reads sysfs; an unplugged one gets neither and matches
 * no desired id).  ERR_NOMEM only.
 */
int	norm_usb_observe(json_t *spec, const char *sysfs_root);
/* 1 when the desired ids name exactly the attached USB devices. */
int	norm_usb_equal(const json_t *ids, const json_t *actual);
/*
 * Into flat params: "devN": "usb:ID" (the lowest free N) for each
 * desired id no attached device answers to, and a delete of each
 * attached USB device no desired id names.
 */
int	norm_usb_params(json_t *params, const json_t *ids,
	    const json_t *actual_spec, struct err *err);

#endif
