/*
 * barrier — what must happen before an effect leaves the process.
 *
 * Write-ahead (DESIGN invariant 1): the record of an intent is durable
 * before the request that carries it out is sent.  When the engine
 * gathers a tick's transactions into one commit (issue 15), "committed"
 * no longer means "durable" until the group is flushed; so the layers
 * that talk to the world (net's multi, priv's helper client) call a
 * barrier before any byte goes out, and the agent makes that barrier
 * the database's flush.  Non-zero from the barrier: nothing may leave
 * (the caller drops what it was about to send, with the barrier's
 * error).
 */
#ifndef FELHOM_BASE_BARRIER_H
#define FELHOM_BASE_BARRIER_H

#include "base/err.h"

typedef int (*barrier_fn)(void *ctx, struct err *err);

#endif
