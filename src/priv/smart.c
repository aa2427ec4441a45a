/*
 * smart — tolerant reading of smartctl's JSON (R-08c; pve-api.md §6.3).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/err.h"
#include "priv/smart.h"

/* A temperature a disk can report; placeholders and packed values not. */
#define SMART_TEMP_MIN	(-40)
#define SMART_TEMP_MAX	150

static json_t *
str_or_null(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n;

	if (s == NULL)
		return json_null();
	/* smartctl pads some strings; the report keeps them trimmed. */
	while (*s == ' ')
		s++;
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n > 0 ? json_stringn(s, n) : json_null();
}

static int
temp_ok(json_int_t t)
{
	return t >= SMART_TEMP_MIN && t <= SMART_TEMP_MAX;
}

/* Attribute 194 (Temperature_Celsius): "36 (Min/Max 21/45)" → 36. */
static int
ata_temp(const json_t *doc, json_int_t *out)
{
	const json_t *tab = json_object_get(json_object_get(doc,
	    "ata_smart_attributes"), "table"), *a;
	const char *raw;
	char *end;
	long v;
	size_t i;

	json_array_foreach(tab, i, a) {
		if (json_integer_value(json_object_get(a, "id")) != 194)
			continue;
		raw = json_string_value(json_object_get(json_object_get(a,
		    "raw"), "string"));
		if (raw == NULL)
			return -1;
		v = strtol(raw, &end, 10);
		if (end == raw || !temp_ok(v))
			return -1;
		*out = v;
		return 0;
	}
	return -1;
}

static json_t *
temperature(const json_t *doc)
{
	const json_t *v;
	json_int_t t;

	v = json_object_get(json_object_get(doc, "temperature"), "current");
	if (json_is_integer(v) && temp_ok(json_integer_value(v)))
		return json_integer(json_integer_value(v));
	v = json_object_get(json_object_get(doc,
	    "nvme_smart_health_information_log"), "temperature");
	if (json_is_integer(v) && temp_ok(json_integer_value(v)))
		return json_integer(json_integer_value(v));
	if (ata_temp(doc, &t) == 0)
		return json_integer(t);
	return json_null();
}

static json_t *
power_on_hours(const json_t *doc)
{
	const json_t *v;

	v = json_object_get(json_object_get(doc, "power_on_time"), "hours");
	if (!json_is_integer(v))
		v = json_object_get(json_object_get(doc,
		    "nvme_smart_health_information_log"), "power_on_hours");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer(json_integer_value(v));
	return json_null();
}

/* smartctl's first error message, else a description of the bits. */
static json_t *
error_text(const json_t *doc, int exit_status)
{
	const json_t *msgs = json_object_get(json_object_get(doc, "smartctl"),
	    "messages"), *m;
	const char *s, *sev;
	char buf[160];
	size_t i;

	if ((exit_status & 0x3) == 0)
		return json_null();
	json_array_foreach(msgs, i, m) {
		s = json_string_value(json_object_get(m, "string"));
		sev = json_string_value(json_object_get(m, "severity"));
		if (s != NULL && (sev == NULL || strcmp(sev, "error") == 0)) {
			err_escape(buf, sizeof(buf), s, strlen(s));
			return json_string(buf);
		}
	}
	(void) snprintf(buf, sizeof(buf), "smartctl exit status %d: %s",
	    exit_status, exit_status & 0x1 ? "command line not accepted" :
	    "device could not be opened");
	return json_string(buf);
}

int
smart_parse(const char *device, const char *text, size_t len,
    int exit_status, json_t **out, struct err *err)
{
	json_error_t jerr;
	json_t *doc, *disk, *passed, *js;
	char buf[160];

	doc = json_loadb(text, len, 0, &jerr);
	if (doc != NULL && !json_is_object(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc == NULL) {
		(void) snprintf(buf, sizeof(buf), "smartctl printed no JSON "
		    "(exit status %d)%s", exit_status, len == 0 ? "" :
		    ": is smartmontools 7 or newer installed?");
		disk = json_pack("{s:s,s:n,s:n,s:n,s:n,s:n,s:i,s:s}",
		    "device", device, "model", "serial", "smart_passed",
		    "temperature_c", "power_on_hours", "exit_status",
		    exit_status, "error", buf);
		if (disk == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		*out = disk;
		return 0;
	}
	/* The document's own exit status wins (it is the same bit mask). */
	js = json_object_get(json_object_get(doc, "smartctl"), "exit_status");
	if (json_is_integer(js))
		exit_status = (int)json_integer_value(js);
	passed = json_object_get(json_object_get(doc, "smart_status"),
	    "passed");
	disk = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:i,s:o}",
	    "device", device,
	    "model", str_or_null(json_object_get(doc, "model_name") != NULL ?
		json_object_get(doc, "model_name") :
		json_object_get(doc, "scsi_model_name")),
	    "serial", str_or_null(json_object_get(doc, "serial_number")),
	    "smart_passed", json_is_boolean(passed) ?
		json_boolean(json_is_true(passed)) : json_null(),
	    "temperature_c", (exit_status & 0x3) != 0 ? json_null() :
		temperature(doc),
	    "power_on_hours", (exit_status & 0x3) != 0 ? json_null() :
		power_on_hours(doc),
	    "exit_status", exit_status,
	    "error", error_text(doc, exit_status));
	json_decref(doc);
	if (disk == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	*out = disk;
	return 0;
}
