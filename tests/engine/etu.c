/*
 * etu — helpers shared by the engine's test suites.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "etu.h"
#include "store/journal.h"

const char *etu_cover_file;

struct db *
etu_db_open(const char *dir)
{
	struct db *db = NULL;
	struct err err;
	char path[4096];

	err_init(&err);
	(void) snprintf(path, sizeof(path), "%s/state.db", dir);
	ck_assert_msg(db_open(path, DB_OPEN_CREATE | DB_OPEN_MIGRATE |
	    DB_OPEN_NO_BACKUP, &db, &err) == 0, "db_open: %s", err_msg(&err));
	return db;
}

int64_t
etu_op(struct db *db, int64_t vmid, enum ops_kind kind, enum ops_class class,
    const char *params_json, const char *key, int64_t now)
{
	struct ops_new n;
	struct err err;
	json_error_t jerr;
	json_t *params = NULL;
	int64_t id = 0;

	err_init(&err);
	if (params_json != NULL) {
		params = json_loads(params_json, 0, &jerr);
		ck_assert_ptr_nonnull(params);
	}
	memset(&n, 0, sizeof(n));
	n.vmid = vmid;
	n.kind = kind;
	n.source = OPS_SOURCE_ADMIN;
	n.class = class;
	n.params = params;
	n.why = "test";
	n.idem_key = key;
	n.now = now;
	ck_assert_msg(ops_create(db, &n, &id, &err) == 0, "ops_create: %s",
	    err_msg(&err));
	json_decref(params);
	return id;
}

enum sm_state
etu_state(struct db *db, int64_t id)
{
	char state[OPS_STATE_MAX];
	int s;

	ck_assert_int_eq(ops_get_state(db, id, state, NULL), 0);
	s = sm_state_parse(state);
	ck_assert_int_ge(s, 0);
	return (enum sm_state)s;
}

void
etu_step(struct db *db, int64_t id, enum sm_state from, enum sm_event ev,
    const struct sm_args *args)
{
	struct err err;
	int rc;

	err_init(&err);
	rc = sm_step(db, id, from, ev, args, NULL, &err);
	ck_assert_msg(rc == 0, "sm_step %s by %s: %s", sm_state_name(from),
	    sm_event_name(ev), err_msg(&err));
}

void
etu_cover(struct db *db)
{
	json_t *rows = NULL, *r;
	size_t i;
	FILE *f;

	if (etu_cover_file == NULL || db == NULL ||
	    journal_list(db, 0, &rows, NULL) != 0)
		return;
	if ((f = fopen(etu_cover_file, "a")) != NULL) {
		json_array_foreach(rows, i, r)
			fprintf(f, "%s %s\n",
			    json_string_value(json_object_get(r, "from")),
			    json_string_value(json_object_get(r, "event")));
		(void) fclose(f);
	}
	json_decref(rows);
}
