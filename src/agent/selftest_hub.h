/*
 * selftest_hub — `felhom-agent --selftest=hub`: one real report
 * round trip to the hub.
 */
#ifndef FELHOM_AGENT_SELFTEST_HUB_H
#define FELHOM_AGENT_SELFTEST_HUB_H

#include "base/config.h"

/*
 * Collects the host report, takes its seq, POSTs it and applies the
 * envelope's persisted effects; prints what was built (bytes, sections
 * with counts), then "sent: ..." and the envelope received only when
 * the hub took it — otherwise "not sent" (the seq given back) or "not
 * confirmed" (answer lost).  Returns the exit status (base/exitcode.h):
 * 0 only when the round trip worked; otherwise the typed error on
 * stderr and 69 (the hub refused, unreachable, or answered outside the
 * contract; PVE unreachable), 78 (hub.mode off, bad settings), or the
 * database's code.
 */
int	selftest_hub(const struct config *cfg);

#endif
