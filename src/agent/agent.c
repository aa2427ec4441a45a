/*
 * agent — start-up and the daemon loop.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/selftest.h"
#include "agent/selftest_hub.h"
#include "base/crash.h"
#include "base/err.h"
#include "base/log.h"
#include "store/db.h"

int
agent_list_crashpoints(FILE *f)
{
#ifdef FELHOM_TESTING
	return crash_list(f);
#else
	fprintf(f, "(this build has no crash points: configure with "
	    "-DFELHOM_TESTING=ON)\n");
	return 0;
#endif
}

/* Exit status for a database that cannot be used (distinct per cause). */
static int
db_exit_code(int rc)
{
	switch (rc) {
	case ERR_CORRUPT:
	case ERR_FOREIGN:
		return EX_DATAERR;
	case ERR_VERSION:
		return EX_CONFIG;
	case ERR_LOCKED:
	case ERR_BUSY:
		return EX_TEMPFAIL;
	default:
		return EX_CANTCREAT;
	}
}

int
agent_main(const struct config *cfg, const struct agent_options *ao)
{
	struct db *db = NULL;
	struct err err;
	int lockfd = -1, rc, version;

	if (ao->selftest != NULL && strcmp(ao->selftest, "read") == 0)
		return selftest_read(cfg);
	if (ao->selftest != NULL && strcmp(ao->selftest, "task") == 0)
		return selftest_task(cfg, ao->guest);
	if (ao->selftest != NULL && strcmp(ao->selftest, "hub") == 0)
		return selftest_hub(cfg);
	err_init(&err);
	if ((rc = db_lock_agent(cfg->database, &lockfd, &err)) != 0) {
		log_error("%s", err_msg(&err));
		return db_exit_code(rc);
	}
	if ((rc = db_open(cfg->database, DB_OPEN_CREATE | DB_OPEN_MIGRATE,
	    &db, &err)) != 0 || (rc = db_schema_version(db, &version,
	    &err)) != 0) {
		log_error("database: %s", err_msg(&err));
		(void) close(lockfd);
		db_close(db);
		return db_exit_code(rc);
	}
	log_info("felhom-agent %s: database %s at schema %d", FELHOM_VERSION,
	    cfg->database, version);
	db_close(db);
	(void) close(lockfd);
	return 0;
}
