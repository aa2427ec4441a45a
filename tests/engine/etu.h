/*
 * etu — helpers shared by the engine's test suites: a fresh migrated
 * database, ops in a given state, and the row-coverage record (every
 * row of the transition table must be exercised by some test).
 */
#ifndef FELHOM_TESTS_ETU_H
#define FELHOM_TESTS_ETU_H

#include <stdint.h>

#include "engine/sm.h"
#include "store/db.h"
#include "store/ops.h"

/* Opens (creating, migrating) <dir>/state.db; fails the test otherwise. */
struct db *etu_db_open(const char *dir);

/* Creates an op in state new; fails the test otherwise. */
int64_t	etu_op(struct db *db, int64_t vmid, enum ops_kind kind,
	    enum ops_class class, const char *params_json, const char *key,
	    int64_t now);

/* The op's state, as an enum. */
enum sm_state etu_state(struct db *db, int64_t id);

/* Steps the op or fails the test. */
void	etu_step(struct db *db, int64_t id, enum sm_state from,
	    enum sm_event ev, const struct sm_args *args);

/*
 * Coverage: with etu_cover_file set (by main), appends the distinct
 * (from, event) pairs of db's journal to it (one "from event" per line).
 */
extern const char *etu_cover_file;
void	etu_cover(struct db *db);

#endif
