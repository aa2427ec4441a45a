/*
 * pve_int — what the files of src/pve/ share and nobody else sees: the
 * client struct, the request plumbing and argument checks.
 */
#ifndef FELHOM_PVE_PVE_INT_H
#define FELHOM_PVE_PVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "net/https.h"
#include "pve/pve.h"

#define PVE_DEFAULT_CAP		(8u * 1024 * 1024)

/*
 * One cached config (async.c): the "data" object as compact JSON text,
 * one allocation (issue 15: a parsed object is thousands of small
 * blocks that fragment the heap; 200 of them were ~330 KiB live).
 */
struct pve_cached {
	long		 vmid;
	char		*text;		/* the "data" object, compact JSON */
	size_t		 len;
	int64_t		 at_ms;		/* monotonic, when read */
};

/* One request of a pass and its answer (memo.c, issue 17). */
struct pve_memo;

struct pve_client {
	struct https_client	*https;
	struct pve_memo		*memo;		/* NULL: none kept */
	size_t			 nmemo, amemo;
	char			*scope;		/* the pass's, NULL: blocking */
	enum https_prio		 scope_prio;
	uint64_t		 pass;		/* passes begun */
	int			 pass_pending;	/* a call of it pends */
	uint64_t		 answer_gen;	/* cfg_gen when the last
						   answer's request left */
	struct pve_cached	*cache;		/* configs, issue 15 */
	size_t			 ncache, acache;
	char			*cache_pool;	/* pve_config_compact */
	size_t			 cache_pool_len;
	uint64_t		 cfg_gen;	/* bumped by every change */
	int64_t			 config_ttl_ms;
	uint64_t		 config_reads, config_hits;
	char			*base;		/* URL, no trailing '/' */
	char			*token_id;	/* not secret */
	char			*auth;		/* header value; secret */
	size_t			 body_cap;
	volatile sig_atomic_t	*abort_flag;
	struct pve_fault	 fault;		/* of the last failed call */
};

/*
 * Caches vmid's config "data" read while the change generation was gen
 * (not when a change happened since).
 */
void	pve_config_store(struct pve_client *c, long vmid, uint64_t gen,
	    json_t *data);

/*
 * Inside a pass (memo.c): the answer of this request if it came, else
 * ERR_PENDING (the request sent once); *handled 0 when the caller must
 * make the request itself (no pass).  Sets c->answer_gen.
 */
int	pve_memo_call(struct pve_client *c, const struct https_request *req,
	    const char *method, const char *path, struct https_response *resp,
	    int *handled, struct err *err);
/* Frees every entry (pve_client_free). */
void	pve_memo_free(struct pve_client *c);

/*
 * Moves the cached texts into one block (issue 15: texts stored one by
 * one among a fan-out's freed buffers kept their pages resident).
 * Called after a batch of reads; out of memory: left as they are.
 */
void	pve_config_compact(struct pve_client *c);

/* Starts a call: forgets the previous fault. */
void	pve_fault_clear(struct pve_client *c);

/*
 * METHOD base+path[?query] with an optional form body.  On a 2xx answer
 * *root_out (caller decrefs) gets the parsed envelope, which is an
 * object holding "data".  A status >= 400 is classified
 * (pve_classify_error) into err and c->fault, prefixed with
 * "pve: METHOD path: ".
 */
int	pve_call(struct pve_client *c, const char *method, const char *path,
	    const char *query, const char *form, json_t **root_out,
	    struct err *err);

/* As pve_call, returning the envelope's "data" (borrowed from root). */
json_t	*pve_data(json_t *root);

/* Fills the request fields for a GET of path (batch use). */
int	pve_build_url(const struct pve_client *c, const char *path,
	    const char *query, char **out, struct err *err);

/* Interprets a finished https answer into *root_out (see pve_call). */
int	pve_answer(struct pve_client *c, const char *method, const char *path,
	    const struct https_response *resp, struct pve_fault *fault,
	    json_t **root_out, struct err *err);

/* Argument checks (ERR_INVALID): keep paths free of injected segments. */
int	pve_check_node(const char *node, struct err *err);
int	pve_check_vmid(long vmid, struct err *err);
int	pve_check_snapname(const char *name, struct err *err);
int	pve_check_storage(const char *storage, struct err *err);

/* Percent-encodes s (all but [A-Za-z0-9-._~]) into a new string. */
char	*pve_pct_encode(const char *s);

/*
 * Field readers shared by the parsers (parse*.c): `ctx` names the object
 * in messages.  Absent or null: *out = NULL / dflt, ERR_FORMAT only when
 * required.  Numbers and booleans are read loosely (strings, 0/1).
 */
json_t	*pve_member(const json_t *o, const char *key);
int	pve_get_str(const json_t *o, const char *ctx, const char *key,
	    int required, const char **out, struct err *err);
int	pve_get_int(const json_t *o, const char *ctx, const char *key,
	    int required, int64_t dflt, int64_t *out, struct err *err);
int	pve_get_real(const json_t *o, const char *ctx, const char *key,
	    double dflt, double *out, struct err *err);
int	pve_get_bool(const json_t *o, const char *ctx, const char *key,
	    int dflt, int *out, struct err *err);
int	pve_need_array(const json_t *data, const char *what, struct err *err);
int	pve_need_object(const json_t *data, const char *what,
	    struct err *err);

/*
 * Reads one element of a list into *item (zeroed, item_size bytes); `o`
 * is known to be an object and `ctx` names it ("backups[3]").
 */
typedef int (*pve_item_fn)(json_t *o, const char *ctx, void *item,
    struct err *err);

/*
 * The shape of every list endpoint: `data` must be an array ("what:
 * expected an array"), each element an object ("what[i]: expected an
 * object") that `one` reads.  On success *items_out (caller frees; never
 * NULL, even for an empty list) holds *n_out items whose strings borrow
 * from data; on failure nothing is written and the first error wins.
 */
int	pve_parse_list(json_t *data, const char *what, size_t item_size,
	    pve_item_fn one, void **items_out, size_t *n_out, struct err *err);

/* The body of every *_reset: frees items, drops raw, zeroes size bytes. */
void	pve_result_reset(void *v, size_t size, void *items, json_t *raw);

/* vasprintf into *out; ERR_NOMEM on failure. */
int	pve_asprintf(char **out, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
