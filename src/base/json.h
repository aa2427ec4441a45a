/*
 * json — strict helpers over Jansson.
 *
 * Inputs are size-capped before parsing; duplicate keys are rejected
 * where asked.  Getters name the offending path in their messages:
 * "hub.url: expected string".  `ctx` is the dotted path of the object
 * being read ("" for the root), `key` the member.
 *
 * Values returned through `const char **` and `json_t **` are borrowed
 * from the object and live as long as it does.
 */
#ifndef FELHOM_BASE_JSON_H
#define FELHOM_BASE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define JSONX_DUPLICATES	0x1	/* reject duplicate keys */

/*
 * Parses exactly len bytes (no trailing data) into *out (caller
 * json_decref()s it).  Over cap → ERR_TOO_LARGE; bad JSON → ERR_FORMAT
 * with Jansson's line/column.  `what` names the input in messages.
 */
int	jsonx_parse(const char *data, size_t len, size_t cap, int flags,
	    const char *what, json_t **out, struct err *err);

/* Reads and parses a file (see jsonx_parse). */
int	jsonx_parse_file(const char *path, size_t cap, int flags,
	    json_t **out, struct err *err);

/*
 * Required getters: absent, null or wrong type is ERR_FORMAT naming
 * ctx.key.  Optional getters: absent or null leaves *out as given and
 * returns 0 with *present (if non-NULL) set to 0.
 */
int	jsonx_req_string(const json_t *obj, const char *ctx, const char *key,
	    const char **out, struct err *err);
int	jsonx_opt_string(const json_t *obj, const char *ctx, const char *key,
	    const char **out, int *present, struct err *err);
int	jsonx_req_int(const json_t *obj, const char *ctx, const char *key,
	    int64_t min, int64_t max, int64_t *out, struct err *err);
int	jsonx_opt_int(const json_t *obj, const char *ctx, const char *key,
	    int64_t min, int64_t max, int64_t *out, int *present,
	    struct err *err);
int	jsonx_req_bool(const json_t *obj, const char *ctx, const char *key,
	    int *out, struct err *err);
int	jsonx_opt_bool(const json_t *obj, const char *ctx, const char *key,
	    int *out, int *present, struct err *err);
int	jsonx_req_object(const json_t *obj, const char *ctx, const char *key,
	    json_t **out, struct err *err);
int	jsonx_opt_object(const json_t *obj, const char *ctx, const char *key,
	    json_t **out, int *present, struct err *err);
int	jsonx_req_array(const json_t *obj, const char *ctx, const char *key,
	    json_t **out, struct err *err);
int	jsonx_opt_array(const json_t *obj, const char *ctx, const char *key,
	    json_t **out, int *present, struct err *err);

/*
 * Refuses any member of obj not in the NULL-terminated allowed list:
 * ERR_FORMAT "ctx.key: unknown key".
 */
int	jsonx_only_keys(const json_t *obj, const char *ctx,
	    const char *const *allowed, struct err *err);

/*
 * PVE-style lenient readers (numbers as strings, 0/1 booleans): accept an
 * integer, or a string holding one; a real, or a string holding a finite
 * one (not "nan", "inf"); a boolean, 0/1 integer or "0"/"1" string.
 * Return ERR_FORMAT otherwise.
 */
int	jsonx_loose_int(const json_t *v, int64_t *out);
int	jsonx_loose_real(const json_t *v, double *out);
int	jsonx_loose_bool(const json_t *v, int *out);

/*
 * Serializes compactly with sorted keys into a malloc'ed string (caller
 * frees).  Returns NULL on allocation failure.
 */
char	*jsonx_dump(const json_t *v);

#endif
