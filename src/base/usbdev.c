/*
 * usbdev — USB ids and device nodes through sysfs (R-08b).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/usbdev.h"

/* For messages: the value with control characters escaped, truncated. */
static const char *
shown(const char *s, char *buf, size_t n)
{
	err_escape(buf, n, s, strlen(s));
	return buf;
}

/* End of a run of min..max characters of class cls at s, or NULL. */
static const char *
run_of(const char *s, int (*cls)(int), size_t min, size_t max)
{
	size_t n = 0;

	while (s[n] != '\0' && cls((unsigned char)s[n]) && n <= max)
		n++;
	return n >= min && n <= max ? s + n : NULL;
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(int c)
{
	return isxdigit(c);
}

int
usbdev_id_check(const char *id, struct err *err)
{
	const char *p;
	char b[80];
	int depth = 0;

	/* vendor:product, as lsusb prints it */
	if ((p = run_of(id, is_hex, 4, 4)) != NULL && *p == ':' &&
	    (p = run_of(p + 1, is_hex, 4, 4)) != NULL && *p == '\0')
		return 0;
	/* bus-port[.port...], the sysfs device name (1-1.2); USB hubs
	 * nest at most 7 deep */
	if ((p = run_of(id, is_digit, 1, 3)) != NULL && *p == '-' &&
	    (p = run_of(p + 1, is_digit, 1, 3)) != NULL) {
		while (*p == '.' && depth++ < 7 &&
		    (p = run_of(p + 1, is_digit, 1, 3)) != NULL)
			;
		if (p != NULL && *p == '\0')
			return 0;
	}
	return err_set(err, ERR_INVALID, "USB id '%s' is neither "
	    "vendor:product (hhhh:hhhh) nor bus-port (1-1.2)",
	    shown(id, b, sizeof(b)));
}

int
usbdev_id_same(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int
usbdev_path_check(const char *path, struct err *err)
{
	const char *p;
	char b[80];

	if (strncmp(path, "/dev/bus/usb/", 13) == 0 &&
	    (p = run_of(path + 13, is_digit, 3, 3)) != NULL && *p == '/' &&
	    (p = run_of(p + 1, is_digit, 3, 3)) != NULL && *p == '\0')
		return 0;
	return err_set(err, ERR_INVALID, "device '%s' is not a USB device "
	    "node (/dev/bus/usb/BBB/DDD)", shown(path, b, sizeof(b)));
}

/* Reads a small sysfs attribute (first line, trimmed) into out. */
static int
sysfs_attr(const char *dir, const char *name, char *out, size_t n)
{
	char path[PATH_MAX];
	FILE *f;
	size_t len;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(out, (int)n, f) == NULL) {
		(void) fclose(f);
		return -1;
	}
	(void) fclose(f);
	len = strcspn(out, "\r\n");
	out[len] = '\0';
	return 0;
}

/* One device of <sysfs>/bus/usb/devices. */
struct dev {
	const char	*name;			/* bus-port */
	char		 vp[USBDEV_ID_MAX];	/* vendor:product */
	char		 path[USBDEV_PATH_MAX];	/* its node */
};

/*
 * Reads device name under dir into *d; -1 for an interface, a root hub
 * without ids, or unreadable attributes.
 */
static int
dev_read(const char *dir, const char *name, struct dev *d)
{
	char sub[PATH_MAX], v[16], pr[16], bus[16], dev[16];
	long b, dv;

	/* devices only: "1-1.2"; not interfaces ("1-1.2:1.0") */
	if (name[0] == '.' || strchr(name, ':') != NULL)
		return -1;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, name) >=
	    sizeof(sub))
		return -1;
	if (sysfs_attr(sub, "idVendor", v, sizeof(v)) != 0 ||
	    sysfs_attr(sub, "idProduct", pr, sizeof(pr)) != 0 ||
	    sysfs_attr(sub, "busnum", bus, sizeof(bus)) != 0 ||
	    sysfs_attr(sub, "devnum", dev, sizeof(dev)) != 0)
		return -1;
	b = strtol(bus, NULL, 10);
	dv = strtol(dev, NULL, 10);
	if (b < 1 || b > 999 || dv < 1 || dv > 999)
		return -1;
	d->name = name;
	(void) snprintf(d->vp, sizeof(d->vp), "%.4s:%.4s", v, pr);
	(void) snprintf(d->path, sizeof(d->path), "/dev/bus/usb/%03ld/%03ld",
	    b, dv);
	return 0;
}

/*
 * Calls match(d, arg) for each device; the one matching device is
 * copied into *found.  Returns the number of matches, or -1 when the
 * directory cannot be listed (err set).
 */
static int
scan(const char *sysfs_root, int (*match)(const struct dev *, const char *),
    const char *arg, struct dev *found, char *port, struct err *err)
{
	char dir[PATH_MAX];
	struct dirent *de;
	struct dev d;
	int matches = 0;
	DIR *dh;

	(void) snprintf(dir, sizeof(dir), "%s/bus/usb/devices",
	    sysfs_root != NULL ? sysfs_root : "/sys");
	if ((dh = opendir(dir)) == NULL) {
		(void) err_set(err, ERR_NOT_FOUND, "USB device %s: cannot "
		    "list %s: %s", arg, dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(dh)) != NULL) {
		if (dev_read(dir, de->d_name, &d) != 0 || !match(&d, arg))
			continue;
		if (matches++ == 0) {
			*found = d;
			(void) snprintf(port, USBDEV_ID_MAX, "%s", d.name);
		}
	}
	(void) closedir(dh);
	return matches;
}

static int
match_id(const struct dev *d, const char *id)
{
	return strchr(id, ':') != NULL ? usbdev_id_same(d->vp, id) :
	    strcmp(d->name, id) == 0;
}

static int
match_path(const struct dev *d, const char *path)
{
	return strcmp(d->path, path) == 0;
}

int
usbdev_resolve(const char *sysfs_root, const char *id, char *out, size_t n,
    struct err *err)
{
	char port[USBDEV_ID_MAX];
	struct dev d;
	int m, rc;

	if ((rc = usbdev_id_check(id, err)) != 0)
		return rc;
	if ((m = scan(sysfs_root, match_id, id, &d, port, err)) < 0)
		return ERR_NOT_FOUND;
	if (m == 0)
		return err_set(err, ERR_NOT_FOUND, "USB device %s is not "
		    "plugged in", id);
	if (m > 1)
		return err_set(err, ERR_CONFLICT, "USB id %s matches %d "
		    "devices: name it by bus-port instead", id, m);
	if (strlen(d.path) >= n)
		return err_set(err, ERR_INTERNAL, "USB path buffer too small");
	memcpy(out, d.path, strlen(d.path) + 1);
	return 0;
}

int
usbdev_describe(const char *sysfs_root, const char *path,
    char vp[USBDEV_ID_MAX], char port[USBDEV_ID_MAX], struct err *err)
{
	struct dev d;
	int rc, m;

	if ((rc = usbdev_path_check(path, err)) != 0)
		return rc;
	if ((m = scan(sysfs_root, match_path, path, &d, port, err)) < 0)
		return ERR_NOT_FOUND;
	if (m == 0)
		return err_set(err, ERR_NOT_FOUND, "no USB device is plugged "
		    "in at %s", path);
	(void) snprintf(vp, USBDEV_ID_MAX, "%s", d.vp);
	return 0;
}
