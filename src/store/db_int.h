/*
 * db_int — the connection's insides, shared by db.c (open, checks,
 * migrations, statements) and db_txn.c (transactions and the tick's
 * group commit).  Nothing outside src/store/db*.c includes it.
 */
#ifndef FELHOM_STORE_DB_INT_H
#define FELHOM_STORE_DB_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define DB_STMT_CACHE		64

struct db_stmt {
	const char	*sql;		/* the caller's string literal */
	sqlite3_stmt	*stmt;
};

struct db {
	sqlite3		*h;
	char		*path;
	int		 flags;
	int		 in_txn;	/* a caller's transaction is open */
	int		 group;		/* a group is on (db_group_begin) */
	int		 outer;		/* the group's transaction is open */
	int		 lost;		/* a group's commit failed since the
					   last flush: what it released must
					   not leave (db_group_flush) */
	int		 archive_move;	/* 1: during an archive move */
	int64_t		 vm_steps;	/* test hook: VM steps run */
	int		 busy_ms;	/* how long a writer waits */
	volatile sig_atomic_t *abort_flag;	/* set: stopping */
	struct db_stmt	 cache[DB_STMT_CACHE];
	size_t		 ncache;
};

#endif
