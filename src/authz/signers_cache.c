/*
 * signers_cache — see signers_cache.h.
 */
#include <stdlib.h>
#include <string.h>

#include "authz/signers_cache.h"
#include "store/signers_db.h"

struct signers_cache {
	struct signers		*set;	/* NULL: nothing cached */
	struct signers_db_row	*rows;	/* what set was built from */
	size_t			 n;
	unsigned long		 loads;
};

struct signers_cache *
signers_cache_new(void)
{
	return calloc(1, sizeof(struct signers_cache));
}

static void
drop(struct signers_cache *c)
{
	signers_free(c->set);
	signers_db_rows_free(c->rows, c->n);
	c->set = NULL;
	c->rows = NULL;
	c->n = 0;
}

void
signers_cache_free(struct signers_cache *c)
{
	if (c == NULL)
		return;
	drop(c);
	free(c);
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* 1 when rows[0..n) are the rows the cached set was built from. */
static int
same_rows(const struct signers_cache *c, const struct signers_db_row *rows,
    size_t n)
{
	size_t i;

	if (c->set == NULL || n != c->n)
		return 0;
	for (i = 0; i < n; i++)
		if (rows[i].id != c->rows[i].id ||
		    !str_eq(rows[i].role, c->rows[i].role) ||
		    !str_eq(rows[i].line, c->rows[i].line))
			return 0;
	return 1;
}

int
signers_cache_get(struct signers_cache *c, struct db *db,
    const struct signers **set_out, struct err *err)
{
	struct signers_db_row *rows = NULL;
	struct signers *set;
	size_t n = 0;
	int rc;

	*set_out = NULL;
	if ((rc = signers_db_list(db, &rows, &n, err)) != 0) {
		drop(c);
		return rc;
	}
	if (same_rows(c, rows, n)) {
		signers_db_rows_free(rows, n);
		*set_out = c->set;
		return 0;
	}
	drop(c);
	if ((set = signers_new()) == NULL) {
		signers_db_rows_free(rows, n);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((rc = signers_load_rows(set, rows, n, err)) != 0) {
		signers_free(set);
		signers_db_rows_free(rows, n);
		return rc;
	}
	c->set = set;
	c->rows = rows;
	c->n = n;
	c->loads++;
	*set_out = set;
	return 0;
}

unsigned long
signers_cache_loads(const struct signers_cache *c)
{
	return c->loads;
}
