/*
 * upid — the PVE task identifier (R-03, pve-api.md §4).
 *
 * A UPID is parsed exactly per PVE's own decoder (pve-common UPID.pm):
 *
 *   UPID:<node>:<pid 8 hex>:<pstart 8-9 hex>:<starttime 8 hex>:
 *        <type>:<id, may be empty>:<user>:
 *
 * node is a hostname label ([A-Za-z0-9], inner '-'), type/id/user hold no
 * ':', whitespace or '/'; the trailing ':' is mandatory and nothing may
 * follow it.  PBS UPIDs (an extra task-counter field) are refused.
 *
 * struct upid is caller-owned and self-contained (fixed buffers, capped
 * below); copying it is fine.
 */
#ifndef FELHOM_PVE_UPID_H
#define FELHOM_PVE_UPID_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define UPID_MAX	512	/* longest UPID accepted, bytes without NUL */
#define UPID_NODE_MAX	64	/* field buffers, NUL included */
#define UPID_TYPE_MAX	64
#define UPID_ID_MAX	256
#define UPID_USER_MAX	192

struct upid {
	char		node[UPID_NODE_MAX];	/* "pve" */
	uint32_t	pid;			/* worker pid */
	uint64_t	pstart;			/* clock ticks since boot */
	uint32_t	starttime;		/* epoch seconds */
	char		type[UPID_TYPE_MAX];	/* "vzstart", "vzdump", ... */
	char		id[UPID_ID_MAX];	/* "101", or "" */
	char		user[UPID_USER_MAX];	/* "agent@pve!reconciler" */
};

/*
 * Parses exactly len bytes of s.  0 and *out filled, or ERR_FORMAT
 * ("upid: ...") naming the first offending field, ERR_TOO_LARGE when s
 * or a field is over its cap.  *out is written only on success.
 */
int	upid_parse(const char *s, size_t len, struct upid *out,
	    struct err *err);

/* As upid_parse for a NUL-terminated string. */
int	upid_parse_str(const char *s, struct upid *out, struct err *err);

/* 1 when s is a valid UPID (NUL-terminated), else 0. */
int	upid_valid(const char *s);

/*
 * Formats u back into the canonical PVE form (upper-case hex) into out
 * (size n).  Returns the length, or ERR_TOO_LARGE if n is too small.
 */
int	upid_format(const struct upid *u, char *out, size_t n);

/*
 * 1 when the task was started by token_id ("user@realm!tokenid"):
 * u->user equals it exactly.
 */
int	upid_is_token(const struct upid *u, const char *token_id);

#endif
