/*
 * kv — small named values in the kv table: report seq, applied desired
 * generation, acked audit seq, blocked flag, last ETag ...
 */
#ifndef FELHOM_STORE_KV_H
#define FELHOM_STORE_KV_H

#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

/* Well-known keys. */
/*
 * The highest report seq reserved: every seq sent is at most this, and
 * committed before it is sent (hub-contract; agent/hubloop.h).
 */
#define KV_REPORT_SEQ		"report_seq"
#define KV_DESIRED_GENERATION	"desired_generation"
#define KV_DESIRED_ETAG		"desired_etag"
#define KV_AUDIT_ACK_SEQ	"audit_ack_seq"
#define KV_HUB_BLOCKED		"hub_blocked"
#define KV_POLL_INTERVAL	"poll_interval_seconds"
#define KV_SIGNERS_SEEDED	"signers_seeded"
#define KV_SIGNED_OPS_ACK_SEQ	"signed_ops_ack_seq"	/* v1.1 ack */
/* The last hub failure (message) and when; cleared by nothing. */
#define KV_HUB_LAST_ERROR	"hub_last_error"
#define KV_HUB_LAST_ERROR_AT	"hub_last_error_at"

/*
 * Reads key into a malloc'ed string (caller frees); ERR_NOT_FOUND when
 * absent.
 */
int	kv_get(struct db *db, const char *key, char **out, struct err *err);
/* Reads an integer; *out = dflt when absent. */
int	kv_get_int(struct db *db, const char *key, int64_t dflt, int64_t *out,
	    struct err *err);
int	kv_set(struct db *db, const char *key, const char *value,
	    struct err *err);
int	kv_set_int(struct db *db, const char *key, int64_t value,
	    struct err *err);
/*
 * Increments an integer key (absent = 0) and returns the new value:
 * the report seq, strictly increasing across restarts.
 */
int	kv_next(struct db *db, const char *key, int64_t *out, struct err *err);

/*
 * Compare-and-set of an integer key: sets it to value only where it
 * holds expect.  *swapped_out gets 1 when it did, 0 when the key held
 * something else (nothing written).
 */
int	kv_cas_int(struct db *db, const char *key, int64_t expect,
	    int64_t value, int *swapped_out, struct err *err);

#endif
