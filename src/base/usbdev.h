/*
 * usbdev — USB devices of the host as Linux's sysfs names them (R-08b):
 * the forms of a USB id and the lookups between an id and its device
 * node, shared by the privileged helper (which resolves an id before it
 * attaches the node), the hub's desired-state check (the same form) and
 * the engine (which node a guest's devN is).  Reading sysfs needs no
 * privilege.
 *
 * A USB id is "vvvv:pppp" (vendor:product in hex, as lsusb prints it)
 * or a bus-port name ("1-1.2": bus 1, port 1, port 2 of that hub; the
 * sysfs device name, stable while the device stays in its socket).  Its
 * node is "/dev/bus/usb/BBB/DDD" (bus and device number, three digits:
 * what PVE >= 8.1 takes as a devN path).
 */
#ifndef FELHOM_BASE_USBDEV_H
#define FELHOM_BASE_USBDEV_H

#include <stddef.h>

#include "base/err.h"

#define USBDEV_PATH_MAX	32	/* "/dev/bus/usb/BBB/DDD" and its NUL */
#define USBDEV_ID_MAX	32	/* the longest bus-port name and its NUL */

/* id in one of the two forms; ERR_INVALID naming it otherwise. */
int	usbdev_id_check(const char *id, struct err *err);
/* 1 when a and b name the same id (hex digits in either case). */
int	usbdev_id_same(const char *a, const char *b);
/* "/dev/bus/usb/BBB/DDD" exactly; ERR_INVALID otherwise. */
int	usbdev_path_check(const char *path, struct err *err);

/*
 * id → the node of the device plugged in now under sysfs_root ("/sys"),
 * into out (n >= USBDEV_PATH_MAX).  ERR_NOT_FOUND when none matches,
 * ERR_CONFLICT when a vendor:product matches several.
 */
int	usbdev_resolve(const char *sysfs_root, const char *id, char *out,
	    size_t n, struct err *err);

/*
 * node → the device plugged in there now: its vendor:product into vp
 * and its bus-port name into port (each USBDEV_ID_MAX).  ERR_NOT_FOUND
 * when no device has that bus and device number (unplugged, or
 * plugged in again under another number).
 */
int	usbdev_describe(const char *sysfs_root, const char *path,
	    char vp[USBDEV_ID_MAX], char port[USBDEV_ID_MAX], struct err *err);

#endif
