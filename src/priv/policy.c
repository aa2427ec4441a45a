/*
 * policy — the helper's argument checks (R-08).  Nothing reaches a
 * program's argv without passing one of these.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/usbdev.h"
#include "priv/policy.h"

static const char *const feature_flags[] = {
	"nesting", "keyctl", "fuse", "mknod", "force_rw_sys", NULL
};

/* For messages: the value with control characters escaped, truncated. */
static const char *
shown(const char *s, char *buf, size_t n)
{
	err_escape(buf, n, s, strlen(s));
	return buf;
}

void
policy_reset(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nroots; i++)
		free(p->roots[i]);
	free(p->sysfs_root);
	memset(p, 0, sizeof(*p));
}

int
policy_init(struct policy *p, const char *roots_csv, int64_t vmid_min,
    int64_t vmid_max, const char *sysfs_root, struct err *err)
{
	char *copy = NULL, *tok, *save = NULL, *canon;
	struct stat st;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	p->vmid_min = vmid_min;
	p->vmid_max = vmid_max;
	if ((p->sysfs_root = strdup(sysfs_root != NULL ? sysfs_root :
	    "/sys")) == NULL || (copy = strdup(roots_csv != NULL ?
	    roots_csv : "")) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (tok[0] != '/') {
			rc = err_set(err, ERR_CONFIG, "priv.bind_roots: "
			    "'%s' is not an absolute path", tok);
			goto out;
		}
		if (p->nroots == POLICY_ROOTS_MAX) {
			rc = err_set(err, ERR_CONFIG, "priv.bind_roots: more "
			    "than %d roots", POLICY_ROOTS_MAX);
			goto out;
		}
		if ((canon = realpath(tok, NULL)) == NULL ||
		    stat(canon, &st) != 0 || !S_ISDIR(st.st_mode)) {
			free(canon);
			rc = err_set(err, ERR_CONFIG, "priv.bind_roots: "
			    "'%s' is not an existing directory", tok);
			goto out;
		}
		if (strcmp(canon, "/") == 0) {
			free(canon);
			rc = err_set(err, ERR_CONFIG, "priv.bind_roots: '/' "
			    "would allow every host path");
			goto out;
		}
		p->roots[p->nroots++] = canon;
	}
out:
	free(copy);
	if (rc != 0)
		policy_reset(p);
	return rc;
}

int
policy_vmid(const struct policy *p, int64_t vmid, struct err *err)
{
	if (vmid < p->vmid_min || vmid > p->vmid_max)
		return err_set(err, ERR_INVALID, "vmid %" PRId64 " is outside "
		    "the helper's range %" PRId64 " … %" PRId64, vmid,
		    p->vmid_min, p->vmid_max);
	return 0;
}

/*
 * The end of a run of min … max characters of class cls at s, or NULL
 * when the run is shorter or longer.
 */
static const char *
run_of(const char *s, int (*cls)(int), size_t min, size_t max)
{
	size_t n = 0;

	while (s[n] != '\0' && cls((unsigned char)s[n]) && n <= max)
		n++;
	return n >= min && n <= max ? s + n : NULL;
}

static int
is_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int
policy_disk(const char *dev, struct err *err)
{
	const char *p;
	char b[80];

	if (strncmp(dev, "/dev/sd", 7) == 0 &&
	    (p = run_of(dev + 7, is_lower, 1, 4)) != NULL && *p == '\0')
		return 0;
	if (strncmp(dev, "/dev/nvme", 9) == 0 &&
	    (p = run_of(dev + 9, is_digit, 1, 4)) != NULL && *p == 'n' &&
	    (p = run_of(p + 1, is_digit, 1, 4)) != NULL && *p == '\0')
		return 0;
	return err_set(err, ERR_INVALID, "device '%s' is not a disk the "
	    "helper reads (/dev/sd[a-z]+ or /dev/nvme[0-9]+n[0-9]+)",
	    shown(dev, b, sizeof(b)));
}

int
policy_usb_id(const char *id, struct err *err)
{
	return usbdev_id_check(id, err);
}

int
policy_usb_path(const char *path, struct err *err)
{
	return usbdev_path_check(path, err);
}

int
policy_usb_resolve(const struct policy *p, const char *id, char *out,
    size_t n, struct err *err)
{
	return usbdev_resolve(p->sysfs_root, id, out, n, err);
}

static int
path_char(int c)
{
	return isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-' ||
	    c == '@' || c == '+';
}

/* Absolute, safe characters, no "." or ".." component, no "//". */
static int
path_form(const char *path, const char *what, struct err *err)
{
	const char *p, *c;
	char b[80];
	size_t n = strlen(path);

	if (n == 0 || path[0] != '/')
		return err_set(err, ERR_INVALID, "%s '%s' is not an absolute "
		    "path", what, shown(path, b, sizeof(b)));
	if (n > POLICY_PATH_MAX)
		return err_set(err, ERR_INVALID, "%s is %zu bytes long, over "
		    "%d", what, n, POLICY_PATH_MAX);
	for (p = path; *p != '\0'; p++)
		if (!path_char((unsigned char)*p))
			return err_set(err, ERR_INVALID, "%s '%s' holds the "
			    "character 0x%02x: only letters, digits and "
			    ". _ - @ + / are allowed", what,
			    shown(path, b, sizeof(b)), (unsigned char)*p);
	for (p = path + 1; ; p = c + 1) {
		c = strchr(p, '/');
		if (c == NULL)
			c = p + strlen(p);
		if ((c - p == 1 && p[0] == '.') ||
		    (c - p == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(err, ERR_INVALID, "%s '%s' has a '%.*s' "
			    "component (path traversal)", what,
			    shown(path, b, sizeof(b)), (int)(c - p), p);
		if (c - p == 0 && *c != '\0')
			return err_set(err, ERR_INVALID, "%s '%s' has an empty "
			    "component", what, shown(path, b, sizeof(b)));
		if (*c == '\0')
			break;
	}
	return 0;
}

/* 1 when canon is root or below it. */
static int
under(const char *canon, const char *root)
{
	size_t n = strlen(root);

	return strncmp(canon, root, n) == 0 &&
	    (canon[n] == '\0' || canon[n] == '/');
}

int
policy_host_path(const struct policy *p, const char *path, char **canon_out,
    struct err *err)
{
	struct stat st;
	char *canon = NULL, b[80];
	size_t i;
	int rc;

	if ((rc = path_form(path, "host path", err)) != 0)
		return rc;
	/* Resolve every symlink, then check the result again. */
	if ((canon = realpath(path, NULL)) == NULL)
		return err_set(err, ERR_INVALID, "host path '%s': %s", path,
		    strerror(errno));
	if ((rc = path_form(canon, "resolved host path", err)) != 0)
		goto out;
	for (i = 0; i < p->nroots; i++)
		if (under(canon, p->roots[i]))
			break;
	if (i == p->nroots) {
		rc = err_set(err, ERR_INVALID, "host path '%s' resolves to "
		    "'%s', outside the bind roots (priv.bind_roots)", path,
		    shown(canon, b, sizeof(b)));
		goto out;
	}
	if (stat(canon, &st) != 0 || !S_ISDIR(st.st_mode)) {
		rc = err_set(err, ERR_INVALID, "host path '%s' is not a "
		    "directory", path);
		goto out;
	}
	*canon_out = canon;
	canon = NULL;
out:
	free(canon);
	return rc;
}

int
policy_guest_path(const char *path, struct err *err)
{
	int rc;

	if ((rc = path_form(path, "guest path", err)) != 0)
		return rc;
	if (strcmp(path, "/") == 0)
		return err_set(err, ERR_INVALID, "guest path '/': the root "
		    "file system cannot be a bind mount");
	return 0;
}

int
policy_key(const char *key, const char *which, struct err *err)
{
	size_t n = strlen(which);
	const char *p;
	char b[40];
	long v;

	if (strncmp(key, which, n) == 0 &&
	    (p = run_of(key + n, is_digit, 1, 3)) != NULL && *p == '\0' &&
	    (key[n] != '0' || key[n + 1] == '\0') &&
	    (v = strtol(key + n, NULL, 10)) >= 0 && v <= 255)
		return 0;
	return err_set(err, ERR_INVALID, "key '%s' is not %s0 … %s255",
	    shown(key, b, sizeof(b)), which, which);
}

int
policy_feature(const char *name, struct err *err)
{
	char b[40];
	size_t i;

	for (i = 0; feature_flags[i] != NULL; i++)
		if (strcmp(feature_flags[i], name) == 0)
			return 0;
	return err_set(err, ERR_INVALID, "feature '%s' is not one of nesting, "
	    "keyctl, fuse, mknod, force_rw_sys, mount",
	    shown(name, b, sizeof(b)));
}

int
policy_mount_types(const char *value, struct err *err)
{
	const char *p = value;
	char b[80];

	/* PVE features mount=nfs;cifs: file system names. */
	for (;;) {
		if ((p = run_of(p, is_lower, 1, 16)) == NULL)
			break;
		while (is_digit((unsigned char)*p))
			p++;
		if (*p == '\0')
			return 0;
		if (*p != ';')
			break;
		p++;
	}
	return err_set(err, ERR_INVALID, "feature mount='%s': expected file "
	    "system names joined by ';'", shown(value, b, sizeof(b)));
}

int
policy_storage(const char *id, struct err *err)
{
	size_t n = strlen(id), i;
	char b[80];

	/* pve-storage-id: [a-z][a-z0-9\-\_\.]*[a-z0-9] */
	if (n >= 2 && n <= 64 && is_lower((unsigned char)id[0]) &&
	    (is_lower((unsigned char)id[n - 1]) ||
	    is_digit((unsigned char)id[n - 1]))) {
		for (i = 1; i < n; i++)
			if (!is_lower((unsigned char)id[i]) &&
			    !is_digit((unsigned char)id[i]) && id[i] != '-' &&
			    id[i] != '_' && id[i] != '.')
				break;
		if (i == n)
			return 0;
	}
	return err_set(err, ERR_INVALID, "storage '%s' is not a PVE storage "
	    "id", shown(id, b, sizeof(b)));
}

int
policy_volid(const char *volid, const char *field, struct err *err)
{
	const char *colon = strchr(volid, ':'), *p;
	char sid[72], b[80];
	size_t n = strlen(volid);

	if (colon == NULL || (size_t)(colon - volid) >= sizeof(sid) ||
	    n > 255)
		goto bad;
	memcpy(sid, volid, (size_t)(colon - volid));
	sid[colon - volid] = '\0';
	if (policy_storage(sid, NULL) != 0 || colon[1] == '\0' ||
	    colon[1] == '/' || colon[1] == '-')
		goto bad;
	for (p = colon + 1; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-/:+@", *p) ==
		    NULL)
			goto bad;
	if (strstr(volid, "..") != NULL || strstr(volid, "//") != NULL)
		goto bad;
	return 0;
bad:
	return err_set(err, ERR_INVALID, "%s '%s' is not a volume id "
	    "(storage:content/name)", field, shown(volid, b, sizeof(b)));
}

int
policy_hostname(const char *name, struct err *err)
{
	const char *p = name, *dot;
	char b[80];
	size_t len;

	if (strlen(name) == 0 || strlen(name) > 253)
		goto bad;
	for (;;) {
		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (len == 0 || len > 63 || p[0] == '-' || p[len - 1] == '-')
			goto bad;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)p[i]) && p[i] != '-')
				goto bad;
		if (dot == NULL)
			return 0;
		p = dot + 1;
	}
bad:
	return err_set(err, ERR_INVALID, "hostname '%s' is not a DNS name",
	    shown(name, b, sizeof(b)));
}

int
policy_tag(const char *tag, struct err *err)
{
	size_t n = strlen(tag), i;
	char b[80];

	/* PVE tags: [a-z0-9_][a-z0-9_+.-]* */
	if (n == 0 || n > 64 || tag[0] == '-' || tag[0] == '+' ||
	    tag[0] == '.')
		goto bad;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)tag[i]) && tag[i] != '_' &&
		    tag[i] != '-' && tag[i] != '+' && tag[i] != '.')
			goto bad;
	return 0;
bad:
	return err_set(err, ERR_INVALID, "tag '%s' is not a PVE tag",
	    shown(tag, b, sizeof(b)));
}

int
policy_description(const char *text, struct err *err)
{
	const unsigned char *p;

	if (strlen(text) > POLICY_DESC_MAX)
		return err_set(err, ERR_INVALID, "description of %zu bytes, "
		    "over %d", strlen(text), POLICY_DESC_MAX);
	for (p = (const unsigned char *)text; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return err_set(err, ERR_INVALID, "description holds "
			    "the control character 0x%02x", *p);
	return 0;
}

/* The volume of a mount point value: "VOL,..." or "volume=VOL,...". */
static int
mp_parts(const char *value, char *vol, size_t vn, char *mp, size_t mn)
{
	const char *p = value, *c, *eq;
	size_t len;

	vol[0] = mp[0] = '\0';
	for (;;) {
		c = strchr(p, ',');
		len = c != NULL ? (size_t)(c - p) : strlen(p);
		eq = memchr(p, '=', len);
		if (eq == NULL && p == value) {
			if (len >= vn)
				return -1;
			memcpy(vol, p, len);
			vol[len] = '\0';
		} else if (eq != NULL && (size_t)(eq - p) == 6 &&
		    strncmp(p, "volume", 6) == 0) {
			if (len - 7 >= vn)
				return -1;
			memcpy(vol, eq + 1, len - 7);
			vol[len - 7] = '\0';
		} else if (eq != NULL && (size_t)(eq - p) == 2 &&
		    strncmp(p, "mp", 2) == 0) {
			if (len - 3 >= mn)
				return -1;
			memcpy(mp, eq + 1, len - 3);
			mp[len - 3] = '\0';
		}
		if (c == NULL)
			return 0;
		p = c + 1;
	}
}

/* One "key: value" line of a backed-up config. */
static int
backup_line(const struct policy *p, const char *key, const char *value,
    struct err *err)
{
	char vol[POLICY_PATH_MAX + 2], mp[POLICY_PATH_MAX + 2], *canon = NULL;
	int rc;

	if (strcmp(key, "rootfs") == 0 || policy_key(key, "mp", NULL) == 0) {
		if (mp_parts(value, vol, sizeof(vol), mp, sizeof(mp)) != 0)
			return err_set(err, ERR_INVALID, "%s: value too long",
			    key);
		if (vol[0] != '/')
			return 0;	/* a storage volume */
		if (strncmp(vol, "/dev/", 5) == 0)
			return err_set(err, ERR_INVALID, "%s: device mount "
			    "point %s: restore it by hand", key, vol);
		if (strcmp(key, "rootfs") == 0)
			return err_set(err, ERR_INVALID, "rootfs on the host "
			    "path %s: restore it by hand", vol);
		if ((rc = policy_host_path(p, vol, &canon, err)) == 0)
			rc = policy_guest_path(mp, err);
		free(canon);
		if (rc != 0 && err != NULL)
			(void) err_prefix(err, "%s: ", key);
		return rc;
	}
	if (policy_key(key, "dev", NULL) == 0) {
		/* "[path=]/dev/bus/usb/BBB/DDD[,options]" */
		const char *v = strncmp(value, "path=", 5) == 0 ? value + 5 :
		    value;
		size_t n = strcspn(v, ",");

		if (n >= sizeof(vol))
			return err_set(err, ERR_INVALID, "%s: value too long",
			    key);
		memcpy(vol, v, n);
		vol[n] = '\0';
		if ((rc = policy_usb_path(vol, err)) != 0 && err != NULL)
			(void) err_prefix(err, "%s: ", key);
		return rc;
	}
	if (strncmp(key, "lxc.", 4) != 0)
		return 0;
	if (strcmp(key, "lxc.cgroup2.devices.allow") == 0 ||
	    strcmp(key, "lxc.cgroup.devices.allow") == 0) {
		/* "c 189:* rwm", "c 189:3 rw": USB character devices */
		if (strncmp(value, "c 189:", 6) == 0 &&
		    strspn(value + 6, "*0123456789") > 0 &&
		    strchr(value + 6, ' ') != NULL &&
		    strspn(strchr(value + 6, ' ') + 1, "rwm") ==
		    strlen(strchr(value + 6, ' ') + 1))
			return 0;
	} else if (strcmp(key, "lxc.mount.entry") == 0) {
		if (strncmp(value, "/dev/bus/usb/", 13) == 0 &&
		    strstr(value, "..") == NULL)
			return 0;
	}
	return err_set(err, ERR_INVALID, "%s: %.80s: raw lxc keys other "
	    "than the USB passthrough recipe are restored by hand", key,
	    value);
}

int
policy_backup_config(const struct policy *p, const char *text, size_t len,
    struct err *err)
{
	const char *line = text, *end = text + len, *nl, *colon;
	char key[64], value[1024];
	size_t klen, vlen;
	int rc, n = 0;

	for (; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		n++;
		if (nl == line || line[0] == '#')
			continue;
		if (line[0] == '[')
			break;		/* snapshots: not restored */
		colon = memchr(line, ':', (size_t)(nl - line));
		if (colon == NULL)
			return err_set(err, ERR_INVALID, "backup config line "
			    "%d is not 'key: value'", n);
		klen = (size_t)(colon - line);
		vlen = (size_t)(nl - colon - 1);
		while (vlen > 0 && colon[1] == ' ') {
			colon++;
			vlen--;
		}
		while (vlen > 0 && (colon[vlen] == '\r' || colon[vlen] == ' '))
			vlen--;
		if (klen >= sizeof(key) || vlen >= sizeof(value))
			return err_set(err, ERR_INVALID, "backup config line "
			    "%d is too long", n);
		memcpy(key, line, klen);
		key[klen] = '\0';
		memcpy(value, colon + 1, vlen);
		value[vlen] = '\0';
		if ((rc = backup_line(p, key, value, err)) != 0) {
			if (err != NULL)
				(void) err_prefix(err, "backup config: ");
			return rc;
		}
	}
	return 0;
}
