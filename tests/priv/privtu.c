/*
 * privtu — the helper rig shared by the priv and engine suites.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "privtu.h"
#include "testutil.h"

const char *
ptu_path(const struct ptu_rig *rig, const char *rel)
{
	static char slots[8][512];
	static unsigned next;
	char *s = slots[next++ % 8];

	(void) snprintf(s, 512, "%s/%s", rig->dir, rel);
	return s;
}

static void
mkdir_p(const char *path)
{
	char buf[512], *p;

	(void) snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void) mkdir(buf, 0755);
			*p = '/';
		}
	(void) mkdir(buf, 0755);
}

static void
write_attr(const char *path, const char *value)
{
	ck_assert_int_eq(tu_write_file(path, value, strlen(value), 0644), 0);
}

void
ptu_usb(const struct ptu_rig *rig, const char *name, const char *vendor,
    const char *product, int bus, int dev)
{
	char d[512], f[600], v[16];

	(void) snprintf(d, sizeof(d), "%s/sys/bus/usb/devices/%s", rig->dir,
	    name);
	mkdir_p(d);
	(void) snprintf(f, sizeof(f), "%s/idVendor", d);
	write_attr(f, vendor);
	(void) snprintf(f, sizeof(f), "%s/idProduct", d);
	write_attr(f, product);
	(void) snprintf(f, sizeof(f), "%s/busnum", d);
	(void) snprintf(v, sizeof(v), "%d\n", bus);
	write_attr(f, v);
	(void) snprintf(f, sizeof(f), "%s/devnum", d);
	(void) snprintf(v, sizeof(v), "%d\n", dev);
	write_attr(f, v);
}

static void
link_fake(const struct ptu_rig *rig, const char *tool)
{
	char rel[64];

	(void) snprintf(rel, sizeof(rel), "tools/fakes/%s", tool);
	ck_assert_int_eq(symlink(tu_source(rel), ptu_path(rig, tool)), 0);
}

static json_t *
fakes_json(const struct ptu_rig *rig, const struct tu_sim *sim)
{
	json_t *smart = json_pack("{s:s,s:s,s:s,s:s}",
	    "/dev/sda", tu_fixture("pve/smartctl/"
		"ata-wd-red-wd20efrx.smartctl7.3.json"),
	    "/dev/sdb", tu_fixture("pve/smartctl/"
		"ata-failing-hitachi.usb.smartctl7.1.json"),
	    "/dev/nvme0n1", tu_fixture("pve/smartctl/"
		"nvme-samsung-980pro.pve-kernel.smartctl7.3.json"),
	    "/dev/nvme1n1", tu_fixture("pve/smartctl/"
		"nvme-kingston-snv3s.temperature-sensors-null.smartctl7.3."
		"json"));

	return json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:s}",
	    "record", rig->record,
	    "sim", "base", sim->base, "ca_file", sim->ca_file != NULL ?
		sim->ca_file : "", "node", tu_sim_str(sim, "node"),
	    "smartctl", smart,
	    "sensors", tu_fixture("pve/sensors/"
		"sensors-j.amd-k10temp-nvme.pve-host.json"));
}

void
ptu_rig_start(struct ptu_rig *rig, const struct tu_sim *sim,
    uid_t agent_uid)
{
	const char *argv[6];
	json_t *fk, *cfg;
	char uid[24];

	memset(rig, 0, sizeof(*rig));
	rig->dir = tu_tmpdir();
	ck_assert_ptr_nonnull(rig->dir);
	(void) snprintf(rig->socket, sizeof(rig->socket), "%s/priv.sock",
	    rig->dir);
	(void) snprintf(rig->record, sizeof(rig->record), "%s/calls.jsonl",
	    rig->dir);
	(void) snprintf(rig->config, sizeof(rig->config), "%s/config.json",
	    rig->dir);
	mkdir_p(ptu_path(rig, "roots/media/films"));
	mkdir_p(ptu_path(rig, "roots/backup"));
	mkdir_p(ptu_path(rig, "outside/secret"));
	mkdir_p(ptu_path(rig, "sys/bus/usb/devices"));
	mkdir_p(ptu_path(rig, "sys/block"));
	ck_assert_int_eq(symlink(ptu_path(rig, "outside/secret"),
	    ptu_path(rig, "roots/media/escape")), 0);
	ptu_usb(rig, "1-1.2", "046d", "c52b", 1, 4);
	link_fake(rig, "pct");
	link_fake(rig, "pvesm");
	link_fake(rig, "smartctl");
	link_fake(rig, "sensors");
	fk = fakes_json(rig, sim);
	ck_assert_ptr_nonnull(fk);
	ck_assert_int_eq(json_dump_file(fk, ptu_path(rig, "fakes.json"), 0),
	    0);
	json_decref(fk);
	(void) snprintf(uid, sizeof(uid), "%u", (unsigned)agent_uid);
	cfg = json_pack("{s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i}}",
	    "priv", "socket", rig->socket, "agent_user", uid,
	    "bind_roots", ptu_path(rig, "roots"),
	    "pct", ptu_path(rig, "pct"), "pvesm", ptu_path(rig, "pvesm"),
	    "smartctl", ptu_path(rig, "smartctl"),
	    "sensors", ptu_path(rig, "sensors"),
	    "sysfs_root", ptu_path(rig, "sys"),
	    "vmid_min", 100, "vmid_max", 9999);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(json_dump_file(cfg, rig->config, 0), 0);
	(void) chmod(rig->config, 0600);
	json_decref(cfg);
	argv[0] = tu_bin("felhom-privhelper");
	argv[1] = "--config";
	argv[2] = rig->config;
	argv[3] = "--listen";
	argv[4] = NULL;
	ck_assert_msg(tu_sim_start(argv, &rig->helper) == 0,
	    "felhom-privhelper did not start");
}

void
ptu_rig_stop(struct ptu_rig *rig)
{
	if (rig->dir == NULL)
		return;
	tu_sim_stop(&rig->helper);
	tu_rmrf(rig->dir);
	free(rig->dir);
	rig->dir = NULL;
}

json_t *
ptu_calls(const struct ptu_rig *rig)
{
	json_t *arr = json_array(), *v;
	char *text, *line, *save = NULL;
	size_t len;

	ck_assert_ptr_nonnull(arr);
	if ((text = tu_read_file(rig->record, &len)) == NULL)
		return arr;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		v = json_loads(line, 0, NULL);
		ck_assert_ptr_nonnull(v);
		ck_assert_int_eq(json_array_append_new(arr, v), 0);
	}
	free(text);
	return arr;
}

size_t
ptu_ncalls(const struct ptu_rig *rig, const char *tool)
{
	json_t *calls = ptu_calls(rig), *c;
	size_t i, n = 0;

	json_array_foreach(calls, i, c)
		if (tool == NULL || strcmp(json_string_value(json_object_get(c,
		    "tool")), tool) == 0)
			n++;
	json_decref(calls);
	return n;
}

void
ptu_calls_clear(const struct ptu_rig *rig)
{
	(void) unlink(rig->record);
}
