/*
 * lxcopt — the LXC config option names of PVE's update API.
 */
#include <stddef.h>
#include <string.h>

#include "authz/lxcopt.h"

/*
 * pve-container src/PVE/LXC/Config.pm, $confdesc: the plain keys.
 * json_config_properties() drops `parent` and `snaptime` (internal to
 * snapshots), so the update API does not take them.
 */
static const char *const plain[] = {
	"arch", "cmode", "console", "cores", "cpulimit", "cpuunits",
	"debug", "description", "entrypoint", "env", "features",
	"hookscript", "hostname", "lock", "memory", "nameserver", "onboot",
	"ostype", "protection", "rootfs", "searchdomain", "startup", "swap",
	"tags", "template", "timezone", "tty", "unprivileged", NULL
};

/* The indexed families and their counts ($MAX_LXC_NETWORKS, ...). */
static const struct {
	const char	*prefix;
	unsigned	 count;
} indexed[] = {
	{ "net", 32 },		/* $MAX_LXC_NETWORKS */
	{ "mp", 256 },		/* $MAX_MOUNT_POINTS */
	{ "unused", 256 },	/* $MAX_UNUSED_DISKS */
	{ "dev", 256 },		/* $MAX_DEVICES */
};

/* "<prefix>N", N canonical decimal (no sign, no leading zero) < count. */
static int
is_indexed(const char *key, const char *prefix, unsigned count)
{
	size_t n = strlen(prefix);
	const char *p;
	unsigned v = 0;

	if (strncmp(key, prefix, n) != 0 || key[n] == '\0')
		return 0;
	p = key + n;
	if (p[0] == '0' && p[1] != '\0')
		return 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned)(*p - '0');
		if (v >= count)
			return 0;
	}
	return 1;
}

int
lxcopt_is_option(const char *key)
{
	size_t i;

	if (key == NULL)
		return 0;
	for (i = 0; plain[i] != NULL; i++)
		if (strcmp(plain[i], key) == 0)
			return 1;
	for (i = 0; i < sizeof(indexed) / sizeof(indexed[0]); i++)
		if (is_indexed(key, indexed[i].prefix, indexed[i].count))
			return 1;
	return 0;
}
