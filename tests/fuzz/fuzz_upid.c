/*
 * fuzz_upid — libFuzzer target for the UPID parser (R-03; pve-api.md
 * §4) and the mutation-answer interpreter built on it.  Invariants: an
 * accepted UPID formats back to the same text (hex case aside), every
 * field is NUL-terminated within its buffer, and parsing never reads
 * past `size`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/err.h"
#include "fuzz.h"
#include "pve/pve.h"
#include "pve/upid.h"

int
fuzz_upid(const uint8_t *data, size_t size)
{
	char back[UPID_MAX + 16];
	struct pve_submit sub;
	struct upid u;
	struct err err;
	json_t *s;
	int n;

	err_init(&err);
	if (upid_parse((const char *)data, size, &u, &err) == 0) {
		FUZZ_ASSERT(memchr(u.node, '\0', sizeof(u.node)) != NULL &&
		    memchr(u.type, '\0', sizeof(u.type)) != NULL &&
		    memchr(u.id, '\0', sizeof(u.id)) != NULL &&
		    memchr(u.user, '\0', sizeof(u.user)) != NULL);
		n = upid_format(&u, back, sizeof(back));
		/* 8-digit pstart with a leading zero nibble may shorten a
		 * 9-digit form only if the input had one: compare loosely. */
		FUZZ_ASSERT(n >= 0 && (size_t)n <= size &&
		    ((size_t)n != size || strncasecmp(back,
		    (const char *)data, size) == 0));
	} else {
		FUZZ_ASSERT(err.code != 0);	/* a refusal always says why */
	}
	/* The same bytes as a mutation's "data" string. */
	if ((s = json_stringn((const char *)data, size)) != NULL) {
		err_init(&err);
		(void) pve_parse_submit(s, 0x7u, &sub, &err);
		json_decref(s);
	}
	return 0;
}
