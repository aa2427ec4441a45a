/*
 * dbpath — why the database's files cannot be created or written, in
 * words an operator can act on (first-install problems, R-39): the
 * directory that does not exist, or the file (database, -wal, -shm,
 * .lock) owned by another user — typically one created by root before
 * the service user ran.
 */
#ifndef FELHOM_STORE_DBPATH_H
#define FELHOM_STORE_DBPATH_H

#include <stddef.h>

/*
 * Writes the first problem found for the database at dbpath into out
 * (cap bytes), as a sentence fragment starting with "the directory" or
 * with a file name; "" when nothing explains it.  Returns 1 when a
 * problem was found.
 */
int	dbpath_explain(const char *dbpath, char *out, size_t cap);

#endif
