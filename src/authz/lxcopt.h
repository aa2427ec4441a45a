/*
 * lxcopt — the container option names PUT /nodes/{node}/lxc/{vmid}/config
 * accepts as settings (R-27; pve-api.md §5.6, §5.7): the keys of
 * pve-container's LXC config schema ($confdesc in
 * src/PVE/LXC/Config.pm, as json_config_properties() hands it to the
 * update API, i.e. without `parent` and `snaptime`), with the indexed
 * families netN (0-31), mpN and unusedN (0-255) and devN (0-255).
 *
 * The request-level parameters of that call — `delete`, `revert`,
 * `digest`, `node`, `vmid` — are not options: a set_config op can never
 * name them as a setting.  An op blob's `set` and `delete` are checked
 * against this list, and so is the form the executor builds.
 */
#ifndef FELHOM_AUTHZ_LXCOPT_H
#define FELHOM_AUTHZ_LXCOPT_H

/* 1 when key (exactly, case-sensitive as PVE's schema) is an option. */
int	lxcopt_is_option(const char *key);

#endif
