/*
 * selftest_hub — `felhom-agent --selftest=hub`: one real report
 * round trip to the hub.
 */
#ifndef FELHOM_AGENT_SELFTEST_HUB_H
#define FELHOM_AGENT_SELFTEST_HUB_H

#include "base/config.h"

/*
 * Collects the host report, persists its seq, POSTs it and applies the
 * envelope's persisted effects; prints what was sent (bytes, sections
 * with counts) and the envelope received on stdout.  Returns the exit
 * status: 0 only when the round trip worked; otherwise the typed error
 * on stderr and EX_NOPERM (token refused), EX_PROTOCOL (hub answered
 * outside the contract), EX_UNAVAILABLE (transport, HTTP), EX_CONFIG
 * (hub.mode off, bad settings) or EX_SOFTWARE.
 */
int	selftest_hub(const struct config *cfg);

#endif
