/*
 * fuzz_config — libFuzzer target for the agent configuration (R-38;
 * docs/configuration.md): the JSON file and its FELHOM_AGENT_*
 * environment overrides, through config_load_text() — the strict loader
 * and the same validation config_load() applies to the file.
 *
 * Input: the file's text, optionally followed by a NUL byte and the
 * environment, one NAME=VALUE per line.  The environment given is only
 * that (never the process's own), so the target is deterministic.
 *
 * Invariants: a refusal is ERR_CONFIG with a message (never ERR_NOMEM
 * for bad input); an accepted configuration is printable with both
 * secrets redacted.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/config.h"
#include "base/err.h"
#include "fuzz.h"

/* Most environment lines taken from one input. */
#define FUZZ_ENV_MAX	64

/* A secret in the printed configuration: "<redacted>" or null. */
static int
redacted(const json_t *cfg, const char *section, const char *key)
{
	const json_t *v = json_object_get(json_object_get(cfg, section), key);

	return json_is_null(v) || (json_is_string(v) &&
	    strcmp(json_string_value(v), "<redacted>") == 0);
}

int
fuzz_config(const uint8_t *data, size_t size)
{
	char *text, *env[FUZZ_ENV_MAX + 1], *line, *nl;
	struct config *cfg = NULL;
	struct err err;
	size_t tl, n = 0;
	json_t *j;
	int rc;

	/* One copy: the text, its NUL, the environment lines. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';
	tl = strlen(text);
	for (line = text + tl + 1; tl < size && line <= text + size &&
	    n < FUZZ_ENV_MAX; line = nl + 1) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		env[n++] = line;
		if (nl == NULL)
			break;
	}
	env[n] = NULL;

	err_init(&err);
	rc = config_load_text(text, "fuzz.json", env, &cfg, &err);
	FUZZ_ASSERT(rc == 0 || (rc == ERR_CONFIG && err.code == ERR_CONFIG &&
	    err.msg[0] != '\0'));
	if (rc == 0) {
		FUZZ_ASSERT(cfg->host_id != NULL && cfg->pve_url != NULL &&
		    cfg->pve_token_id != NULL &&
		    cfg->pve_token_secret != NULL);
		j = config_to_json(cfg);
		FUZZ_ASSERT(j != NULL);
		FUZZ_ASSERT(redacted(j, "pve", "token_secret") &&
		    redacted(j, "hub", "token"));
		json_decref(j);
		config_free(cfg);
	}
	free(text);
	return 0;
}
