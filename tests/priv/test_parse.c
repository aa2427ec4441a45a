/*
 * test_parse — smartctl and sensors output as PVE hosts really print it
 * (R-08c, R-17; tests/fixtures/pve/smartctl, sensors): every fixture
 * reads to sensible values, the INVALID sensors ones tolerantly; random
 * damage never crashes either reader; the helper's frames round-trip
 * and oversize ones are refused before their body is read.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "priv/sensors.h"
#include "priv/smart.h"
#include "priv/wire.h"
#include "testutil.h"

/* ---- smartctl ----------------------------------------------------------- */

struct disk_vec {
	const char	*file;
	const char	*model;		/* NULL: null */
	const char	*serial;
	int		 passed;	/* 1, 0, -1: null */
	int		 temp;		/* -1000: null */
	long		 hours;		/* -1: null */
	int		 exit_status;
	const char	*error;		/* fragment, NULL: null */
};

static const struct disk_vec disks[] = {
	{ "nvme-samsung-980pro.pve-kernel.smartctl7.3.json",
	    "Samsung SSD 980 PRO with Heatsink 1TB", "S6WSNS0W603261X", 1, 58,
	    1742, 0, NULL },
	{ "nvme-kingston-snv3s.temperature-sensors-null.smartctl7.3.json",
	    "KINGSTON SNV3S1000G", "50026B768716CACC", 1, 34, 8940, 0, NULL },
	{ "nvme-failing-samsung.smartctl7.3.json",
	    "SAMSUNG MZWLL3T2HAJQ-00005", "REDACTED", 0, 40, 18376, 8, NULL },
	/* the packed raw value 193274904612 must not become the reading */
	{ "ata-hgst-he10.smartctl7.5.json", "HGST HUH721010ALE600",
	    "XXXXXXXX", 1, 36, 26890, 0, NULL },
	{ "ata-wd-red-wd20efrx.smartctl7.3.json", "WDC WD20EFRX-68EUZN0",
	    "REDACTED", 1, 34, 47657, 0, NULL },
	{ "ata-failing-hitachi.usb.smartctl7.1.json",
	    "Hitachi HDS721050DLE630", "MSK423Y20S3HBC", 0, 25, 65592, 216,
	    NULL },
	{ "open-failed.exit2.smartctl7.0.json", NULL, NULL, -1, -1000, -1, 2,
	    "Open failed" },
};

static json_t *
smart_file(const char *file, int exit_status)
{
	char rel[256], *text;
	size_t len;
	json_t *disk = NULL;
	struct err err;

	(void) snprintf(rel, sizeof(rel), "pve/smartctl/%s", file);
	text = tu_read_file(tu_fixture(rel), &len);
	ck_assert_ptr_nonnull(text);
	err_init(&err);
	ck_assert_msg(smart_parse("/dev/sdx", text, len, exit_status, &disk,
	    &err) == 0, "%s", err_msg(&err));
	free(text);
	return disk;
}

START_TEST(smartctl_fixtures_read_sensibly)
{
	const struct disk_vec *v = &disks[_i];
	json_t *d = smart_file(v->file, 0), *x;

	ck_assert_str_eq(json_string_value(json_object_get(d, "device")),
	    "/dev/sdx");
	x = json_object_get(d, "model");
	if (v->model == NULL)
		ck_assert(json_is_null(x));
	else
		ck_assert_str_eq(json_string_value(x), v->model);
	x = json_object_get(d, "serial");
	if (v->serial == NULL)
		ck_assert(json_is_null(x));
	else
		ck_assert_str_eq(json_string_value(x), v->serial);
	x = json_object_get(d, "smart_passed");
	if (v->passed < 0)
		ck_assert(json_is_null(x));
	else
		ck_assert_int_eq(json_is_true(x), v->passed);
	x = json_object_get(d, "temperature_c");
	if (v->temp == -1000)
		ck_assert(json_is_null(x));
	else
		ck_assert_int_eq(json_integer_value(x), v->temp);
	x = json_object_get(d, "power_on_hours");
	if (v->hours < 0)
		ck_assert(json_is_null(x));
	else
		ck_assert_int_eq(json_integer_value(x), v->hours);
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "exit_status")), v->exit_status);
	x = json_object_get(d, "error");
	if (v->error == NULL)
		ck_assert(json_is_null(x));
	else
		ck_assert_ptr_nonnull(strstr(json_string_value(x), v->error));
	json_decref(d);
}
END_TEST

START_TEST(smartctl_ata_temperature_from_the_raw_string)
{
	static const char doc[] = "{\"smartctl\":{\"exit_status\":0},"
	    "\"model_name\":\"X\",\"ata_smart_attributes\":{\"table\":["
	    "{\"id\":194,\"name\":\"Temperature_Celsius\",\"raw\":{\"value\":"
	    "193274904612,\"string\":\"36 (Min/Max 21/45)\"}}]}}";
	json_t *d = NULL;

	ck_assert_int_eq(smart_parse("/dev/sda", doc, strlen(doc), 0, &d,
	    NULL), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(d,
	    "temperature_c")), 36);
	ck_assert(json_is_null(json_object_get(d, "smart_passed")));
	ck_assert(json_is_null(json_object_get(d, "power_on_hours")));
	json_decref(d);
}
END_TEST

START_TEST(smartctl_without_json_says_why)
{
	static const char text[] = "smartctl 6.6 2016-05-31\n=== START OF "
	    "INFORMATION SECTION ===\n";
	json_t *d = NULL;

	ck_assert_int_eq(smart_parse("/dev/sda", text, strlen(text), 1, &d,
	    NULL), 0);
	ck_assert(json_is_null(json_object_get(d, "temperature_c")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d,
	    "error")), "smartmontools 7"));
	json_decref(d);
	d = NULL;
	ck_assert_int_eq(smart_parse("/dev/sda", "", 0, 2, &d, NULL), 0);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(d,
	    "error")), "no JSON"));
	json_decref(d);
}
END_TEST

/* ---- sensors ------------------------------------------------------------ */

struct reading {
	const char	*chip, *label;
	double		 temp;
};

static json_t *
sensors_file(const char *file)
{
	char rel[256], *text;
	size_t len;
	json_t *list = NULL;
	struct err err;

	(void) snprintf(rel, sizeof(rel), "pve/sensors/%s", file);
	text = tu_read_file(tu_fixture(rel), &len);
	ck_assert_ptr_nonnull(text);
	err_init(&err);
	ck_assert_msg(sensors_parse(text, len, &list, &err) == 0, "%s: %s",
	    file, err_msg(&err));
	free(text);
	return list;
}

static void
expect(const json_t *list, const struct reading *want, size_t n)
{
	const json_t *r;
	size_t i;

	ck_assert_uint_eq(json_array_size(list), n);
	for (i = 0; i < n; i++) {
		r = json_array_get(list, i);
		ck_assert_str_eq(json_string_value(json_object_get(r, "chip")),
		    want[i].chip);
		ck_assert_str_eq(json_string_value(json_object_get(r,
		    "label")), want[i].label);
		ck_assert(fabs(json_real_value(json_object_get(r, "temp_c")) -
		    want[i].temp) < 0.001);
	}
}

START_TEST(sensors_pve_host)
{
	static const struct reading want[] = {
		{ "nvme-pci-0100", "Composite", 36.85 },
		{ "nvme-pci-0100", "Sensor 1", 36.85 },
		{ "nvme-pci-0100", "Sensor 2", 41.85 },
		{ "k10temp-pci-00c3", "Tctl", 51.625 },
		{ "k10temp-pci-00c3", "Tccd1", 48.75 },
		{ "k10temp-pci-00c3", "Tccd2", 45.0 },
	};
	json_t *l = sensors_file("sensors-j.amd-k10temp-nvme.pve-host.json");

	expect(l, want, sizeof(want) / sizeof(want[0]));
	json_decref(l);
}
END_TEST

START_TEST(sensors_only_temperatures)
{
	static const struct reading want[] = {
		{ "nvme-pci-0b00", "Composite", 27.85 },
		{ "amdgpu-pci-0c00", "edge", 32.0 },
		{ "k10temp-pci-00c3", "Tctl", 38.875 },
	};
	json_t *l = sensors_file("sensors-j.amd-nvme-amdgpu.wildcard.json");

	/* voltages (in0_input) and power (power1_input) are not reported */
	expect(l, want, sizeof(want) / sizeof(want[0]));
	json_decref(l);
}
END_TEST

START_TEST(sensors_stderr_interleaved_is_read)
{
	static const struct reading want[] = {
		{ "coretemp-isa-0000", "Package id 0", 51.0 },
		{ "coretemp-isa-0000", "Core 0", 40.0 },
		{ "coretemp-isa-0000", "Core 1", 40.0 },
		{ "coretemp-isa-0000", "Core 2", 40.0 },
		{ "coretemp-isa-0000", "Core 3", 40.0 },
		{ "acpitz-acpi-0", "temp1", 27.8 },
		{ "nvme-pci-0400", "Composite", 35.85 },
		{ "nvme-pci-0400", "Sensor 1", 35.85 },
		{ "nvme-pci-0400", "Sensor 2", 37.85 },
	};
	json_t *l = sensors_file(
	    "sensors-j.intel-coretemp.stderr-interleaved.INVALID.txt");

	/* the unreadable iwlwifi temp1 gives nothing, the rest is there */
	expect(l, want, sizeof(want) / sizeof(want[0]));
	json_decref(l);
}
END_TEST

START_TEST(sensors_concatenated_documents_are_read)
{
	static const struct reading want[] = {
		{ "k10temp-pci-00c3", "Tctl", 25.5 },
		{ "drivetemp-scsi-0-0", "temp1", 22.0 },
	};
	json_t *l = sensors_file(
	    "sensors-Aj.multiple-chip-args.concatenated.INVALID.txt");

	expect(l, want, sizeof(want) / sizeof(want[0]));
	json_decref(l);
}
END_TEST

START_TEST(sensors_repeated_labels_and_trailing_commas)
{
	/* Meliox/PVE-mods #113 (repeated SODIMM), lm-sensors #513. */
	static const char text[] = "{\"jc42-i2c-0-18\":{\"Adapter\":\"SMBus\","
	    "\"SODIMM\":{\"temp1_input\":41.250,},\"SODIMM\":{\"temp2_input\":"
	    "43.500},},\"ignored-chip\":{\"Adapter\":\"x\",},}";
	static const struct reading want[] = {
		{ "jc42-i2c-0-18", "SODIMM", 41.25 },
		{ "jc42-i2c-0-18", "SODIMM", 43.5 },
	};
	json_t *l = NULL;

	ck_assert_int_eq(sensors_parse(text, strlen(text), &l, NULL), 0);
	expect(l, want, 2);
	json_decref(l);
}
END_TEST

START_TEST(sensors_placeholders_are_dropped)
{
	static const char text[] = "{\"x\":{\"a\":{\"temp1_input\":-273.150},"
	    "\"b\":{\"temp2_input\":65261.850},\"c\":{\"temp3_max\":80.0},"
	    "\"d\":{\"temp4_input\":30.5,\"temp4_max\":80}}}";
	static const struct reading want[] = { { "x", "d", 30.5 } };
	json_t *l = NULL;

	ck_assert_int_eq(sensors_parse(text, strlen(text), &l, NULL), 0);
	expect(l, want, 1);
	json_decref(l);
}
END_TEST

START_TEST(sensors_garbage_is_a_format_error)
{
	static const char tail[] = "{\"c\":{\"t\":{\"temp1_input\":20}}}"
	    "{\"d\":";
	static const char *const bad[] = { "", "No sensors found!\n",
	    "[1,2]", "{\"a\":", "\"x\"" };
	json_t *l = NULL;
	struct err err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_init(&err);
		ck_assert_int_eq(sensors_parse(bad[i], strlen(bad[i]), &l,
		    &err), ERR_FORMAT);
		ck_assert_ptr_nonnull(strstr(err.msg, "nothing readable"));
	}
	/* What was read before a broken tail is kept. */
	ck_assert_int_eq(sensors_parse(tail, strlen(tail), &l, NULL), 0);
	ck_assert_uint_eq(json_array_size(l), 1);
	json_decref(l);
}
END_TEST

/* Random damage to real outputs: never a crash, never a leak (ASan). */
START_TEST(parsers_survive_random_damage)
{
	static const char *const files[] = {
		"pve/sensors/sensors-j.amd-k10temp-nvme.pve-host.json",
		"pve/sensors/sensors-j.intel-coretemp.stderr-interleaved."
		    "INVALID.txt",
		"pve/smartctl/nvme-kingston-snv3s.temperature-sensors-null."
		    "smartctl7.3.json",
		"pve/smartctl/ata-hgst-he10.smartctl7.5.json",
	};
	unsigned seed = 12345;
	size_t f, len, k, cut;
	char *orig, *buf;
	json_t *out;
	int round;

	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		orig = tu_read_file(tu_fixture(files[f]), &len);
		ck_assert_ptr_nonnull(orig);
		buf = malloc(len + 1);
		ck_assert_ptr_nonnull(buf);
		for (round = 0; round < 300; round++) {
			memcpy(buf, orig, len);
			for (k = 0; k < 1 + (size_t)(rand_r(&seed) % 8); k++)
				buf[(size_t)rand_r(&seed) % len] =
				    (char)(rand_r(&seed) % 256);
			cut = (size_t)rand_r(&seed) % (len + 1);
			out = NULL;
			(void) sensors_parse(buf, cut, &out, NULL);
			json_decref(out);
			out = NULL;
			(void) smart_parse("/dev/sda", buf, cut, 0, &out,
			    NULL);
			json_decref(out);
		}
		free(buf);
		free(orig);
	}
}
END_TEST

/* ---- frames ------------------------------------------------------------ */

static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

START_TEST(frames_round_trip)
{
	static const char msg[] = "{\"type\":\"sensors\"}";
	int sv[2];
	char *body = NULL;
	size_t len = 0;

	pair(sv);
	ck_assert_int_eq(wire_write(sv[0], msg, strlen(msg), wire_now_ms() +
	    1000, NULL), 0);
	ck_assert_int_eq(wire_read(sv[1], WIRE_REQUEST_MAX, wire_now_ms() +
	    1000, &body, &len, NULL), 0);
	ck_assert_uint_eq(len, strlen(msg));
	ck_assert_str_eq(body, msg);
	free(body);
	(void) close(sv[0]);
	(void) close(sv[1]);
}
END_TEST

START_TEST(frames_oversize_and_short_are_refused)
{
	unsigned char hdr[4] = { 0x00, 0x10, 0x00, 0x00 };	/* 1 MiB */
	struct err err;
	int sv[2];
	char *body = NULL;
	size_t len;

	pair(sv);
	ck_assert_int_eq(write(sv[0], hdr, 4), 4);
	err_init(&err);
	ck_assert_int_eq(wire_read(sv[1], WIRE_REQUEST_MAX, wire_now_ms() +
	    1000, &body, &len, &err), ERR_TOO_LARGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "over the limit of 65536"));
	(void) close(sv[0]);
	(void) close(sv[1]);
	/* A header promising more than arrives. */
	pair(sv);
	hdr[1] = 0;
	hdr[3] = 10;
	ck_assert_int_eq(write(sv[0], hdr, 4), 4);
	ck_assert_int_eq(write(sv[0], "{}", 2), 2);
	(void) close(sv[0]);
	err_init(&err);
	ck_assert_int_eq(wire_read(sv[1], WIRE_REQUEST_MAX, wire_now_ms() +
	    1000, &body, &len, &err), ERR_TRUNCATED);
	(void) close(sv[1]);
	/* Nothing at all: the deadline. */
	pair(sv);
	err_init(&err);
	ck_assert_int_eq(wire_read(sv[1], WIRE_REQUEST_MAX, wire_now_ms() +
	    200, &body, &len, &err), ERR_TIMEOUT);
	(void) close(sv[0]);
	(void) close(sv[1]);
}
END_TEST

START_TEST(request_names)
{
	int i;

	for (i = 0; i < WIRE_REQ__COUNT; i++)
		ck_assert_int_eq(wire_req_parse(wire_req_name(
		    (enum wire_req)i)), i);
	ck_assert_int_eq(wire_req_parse("shell"), -1);
	ck_assert_int_eq(wire_code_parse("permission"), ERR_PERMISSION);
	ck_assert_int_eq(wire_code_parse("bogus"), ERR_INTERNAL);
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, smartctl_fixtures_read_sensibly, 0,
	    sizeof(disks) / sizeof(disks[0]));
	tcase_add_test(tc, smartctl_ata_temperature_from_the_raw_string);
	tcase_add_test(tc, smartctl_without_json_says_why);
	tcase_add_test(tc, sensors_pve_host);
	tcase_add_test(tc, sensors_only_temperatures);
	tcase_add_test(tc, sensors_stderr_interleaved_is_read);
	tcase_add_test(tc, sensors_concatenated_documents_are_read);
	tcase_add_test(tc, sensors_repeated_labels_and_trailing_commas);
	tcase_add_test(tc, sensors_placeholders_are_dropped);
	tcase_add_test(tc, sensors_garbage_is_a_format_error);
	tcase_add_test(tc, parsers_survive_random_damage);
	tcase_add_test(tc, frames_round_trip);
	tcase_add_test(tc, frames_oversize_and_short_are_refused);
	tcase_add_test(tc, request_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
