/*
 * https_int — what the files of src/net/ share and nobody else sees: the
 * client, its slots (reusable easy handles), the transfers and the multi
 * (https.c: the client, trust and one transfer's setup and outcome;
 * https_xfer.c: the multi, the queue with its cap and priorities, the
 * blocking forms).
 */
#ifndef FELHOM_NET_HTTPS_INT_H
#define FELHOM_NET_HTTPS_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "base/barrier.h"
#include "base/err.h"
#include "net/https.h"

#define HTTPS_FP_LEN		(32 * 3)	/* "AA:" x 32, last ':' = NUL */
#define HTTPS_POLL_MS		100

struct https_client;
struct https_xfer;

/* One reusable easy handle and the state of the transfer it runs. */
struct https_slot {
	struct https_client	*c;
	CURL			*easy;
	struct curl_slist	*headers;	/* wiped before free */
	struct https_xfer	*x;		/* running it; NULL: free */
	struct https_response	*resp;		/* x's, during a transfer */
	const char		*method, *url;	/* x's, during a transfer */
	size_t			 body_alloc;	/* allocated bytes of body */
	int			 too_large;	/* body over the cap */
	int			 pin_mismatch;	/* presented != pin */
	char			 presented[HTTPS_FP_LEN];
	char			 errbuf[CURL_ERROR_SIZE];
};

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_DONE };

/* One request, from https_submit() to https_xfer_finish(). */
struct https_xfer {
	struct https_client	*c;		/* NULL once the client is gone */
	struct https_xfer	*next, *prev;	/* the client's list */
	struct https_slot	*slot;		/* XFER_RUNNING */
	enum xfer_state		 state;
	enum https_prio		 prio;
	uint64_t		 order;		/* FIFO within a priority */
	uint64_t		 epoch;		/* the multi's at submit */
	struct https_request	 req;		/* strings below, owned */
	char			*method, *url, *auth, *ctype, *accept, *inm;
	void			*body;
	int			 rc;		/* XFER_DONE */
	struct err		 err;
	struct https_response	 resp;
};

struct https_multi {
	CURLM			*multi;
	int			 wake_fd;
	uint64_t		 connects;
	/*
	 * Write-ahead (base/barrier.h): run before each drive; the
	 * transfers submitted since the last drive (epoch) have not
	 * touched the wire, and are dropped if it refuses.
	 */
	barrier_fn		 barrier;
	void			*barrier_ctx;
	uint64_t		 epoch;
	struct https_client	*clients;	/* every client on it */
};

struct https_client {
	enum https_trust_mode	 trust;
	char			*ca_file;
	char			*pin;		/* normalized "AA:BB:.." */
	unsigned char		 pin_raw[32];
	char			*user_agent;
	long			 connect_timeout_ms;
	long			 timeout_ms;
	size_t			 body_cap;
	volatile sig_atomic_t	*abort_flag;
	struct https_multi	*m;
	struct https_multi	*own;		/* private multi, or NULL */
	struct https_client	*mnext, *mprev;	/* m's clients */
	CURLSH			*share;		/* TLS sessions */
	size_t			 cap;		/* 0: no cap */
	size_t			 running;
	uint64_t		 order;
	uint64_t		 connects;
	struct https_xfer	*xfers;		/* every live transfer */
	struct https_slot	**slots;
	size_t			 nslots;
	char			 last_fp[HTTPS_FP_LEN];
};

/* Prepares s's easy handle for x (https.c). */
int	https_slot_setup(struct https_slot *s, struct https_xfer *x,
	    struct err *err);
/* Translates a finished transfer's CURLcode into x's outcome. */
int	https_slot_finish(struct https_slot *s, CURLcode cc, struct err *err);
/* Wipes (secrets) and frees the slot's header list. */
void	https_slot_wipe_headers(struct https_slot *s);
/* strdup, or NULL for NULL; *fail set on allocation failure. */
char	*https_dup_or_null(const char *s, int *fail);
/* Releases x's slot (if running) and marks it done (https_xfer.c). */
void	https_xfer_stop(struct https_xfer *x, int code, int reason,
	    const char *why);

#endif
