"""The soak's invariants (tools/soak; docs/reliability.md): what must
hold of the agent's database, of PVE and of the hub after every kill and
at the end.  Reads the database read-only through the agent object's
`sql()`, the simulators through their control endpoints."""

import collections
import json
import os
import time


TERMINAL = ("succeeded", "failed", "rejected", "expired", "superseded",
            "cancelled", "rolled_back")
# What a journaled step may send to PVE: step_name → pve-sim counter kinds.
STEP_KINDS = {
    "start": ("start",), "start_again": ("start",),
    "shutdown": ("shutdown", "stop"), "stop": ("stop", "shutdown"),
    "set_config": ("config",), "snapshot": ("snapshot",),
    "delete_snapshot": ("delete_snapshot",),
    "drop_safety": ("delete_snapshot",),
    "safety_snapshot": ("snapshot", "vzdump"),
    "rollback": ("rollback",), "backup": ("vzdump",),
    "restore": ("restore",), "destroy": ("destroy",), "create": ("create",),
}
# hub-sim faults that store a report and spoil its answer.
LOST_ANSWER = ("drop", "slow", "invalid_json", "wrong_content_type",
               "oversize", "wrong_schema")

class Violation(Exception):
    pass



# ---- the checks --------------------------------------------------------------

def op_invariant(row):
    """sm_check_op() as the database shows it; None when it holds."""
    (uid, state, upid, attempt, intent_at, ended_at) = row
    if state in TERMINAL and ended_at is None:
        return "%s is %s without ended_at" % (uid, state)
    if state not in TERMINAL and ended_at is not None:
        return "%s is %s with ended_at" % (uid, state)
    if state == "running" and not upid:
        return "%s is running without a UPID" % uid
    if state == "submitting" and (intent_at is None or attempt < 1):
        return "%s is submitting without its intent (attempt %d)" % (
            uid, attempt)
    if state in ("new", "pending_signature") and upid:
        return "%s is %s with a UPID" % (uid, state)
    return None


class Checker:
    def __init__(self, agent, pve, hub):
        self.agent = agent
        self.pve = pve
        self.hub = hub
        self.runs = 0

    def check(self, when, final=False):
        """Every invariant that holds at any instant; `final` adds the
        ones that hold once the agent settled."""
        self.runs += 1
        a = self.agent
        if not os.path.exists(a.db):
            return
        # PVE first, then the database: the agent may be running.  By
        # write-ahead, what PVE shows at this instant was preceded by a
        # committed intent, which the later read of the database sees;
        # read the other way round, a request sent in between would look
        # like one without an intent.
        counters = self.pve.call("GET", "/_sim/counters?detail=1") or {}
        world = self.pve.call("GET", "/_sim/world")
        ok = a.sql("PRAGMA integrity_check")
        if ok != [("ok",)]:
            raise Violation("%s: PRAGMA integrity_check: %r" % (when, ok))
        # Nothing here restores a database: a restore verdict
        # is a false alarm that moves the nonce floor and holds ops.
        restored = a.sql("SELECT detail FROM audit WHERE code = 'restored'")
        if restored:
            raise Violation("%s: the agent took its database for a "
                            "restored one: %s" % (when, restored[0][0]))
        ops = a.sql("SELECT id, uid, vmid, kind, state, upid, attempt, "
                    "intent_at, ended_at, nonce FROM ops ORDER BY id")
        journal = collections.defaultdict(list)
        for op_id, f, ev, t, detail in a.sql(
                "SELECT op_id, from_state, event, to_state, detail "
                "FROM journal ORDER BY id"):
            journal[op_id].append((f, ev, t, detail))
        known_upids = set()
        for (op_id, uid, vmid, kind, state, upid, attempt, intent_at,
             ended_at, nonce) in ops:
            why = op_invariant((uid, state, upid, attempt, intent_at,
                                ended_at))
            if why:
                raise Violation("%s: op invariant: %s" % (when, why))
            prev = "new"
            accepted = 0
            for f, ev, t, detail in journal[op_id]:
                if f != prev:
                    raise Violation("%s: journal gap in %s (%s): %s, then "
                                    "(%s) %s -> %s" % (when, uid, kind, prev,
                                                       ev, f, t))
                prev = t
                if ev == "signature_accepted":
                    accepted += 1
                d = json.loads(detail) if detail else {}
                if isinstance(d, dict) and isinstance(d.get("upid"), str):
                    known_upids.add(d["upid"])
            if prev != state:
                raise Violation("%s: the journal of %s (%s) ends in %s, the "
                                "op is %s" % (when, uid, kind, prev, state))
            if accepted > 1:
                raise Violation("%s: %s: a signature accepted %d times" %
                                (when, uid, accepted))
            if upid:
                known_upids.add(upid)
        self.check_nonces(when, ops)
        self.check_requests(when, ops, journal, counters)
        self.check_tasks(when, ops, known_upids, final, world)
        if final:
            self.check_final(when, ops)

    def check_nonces(self, when, ops):
        a = self.agent
        used = collections.Counter(n for *_, n in ops if n)
        twice = [n for n, c in used.items() if c > 1]
        if twice:
            raise Violation("%s: nonce(s) accepted for several ops: %r" %
                            (when, twice))
        rows = dict(a.sql("SELECT nonce, op_id FROM nonces"))
        for op in ops:
            if op[9] and op[9] not in rows:
                raise Violation("%s: %s carries nonce %s the nonces table "
                                "does not hold" % (when, op[1], op[9]))
        dup = a.sql("SELECT json_extract(data, '$.nonce') AS n, count(*) "
                    "FROM audit WHERE code = 'accepted' AND n IS NOT NULL "
                    "GROUP BY n HAVING count(*) > 1")
        if dup:
            raise Violation("%s: nonce accepted more than once (audit): %r" %
                            (when, dup))

    def check_requests(self, when, ops, journal, counters):
        """PVE's mutating requests (any outcome) never outnumber the
        agent's write-ahead intents, per guest and kind."""
        sent = collections.defaultdict(collections.Counter)
        for key, v in counters.items():
            vmid, _, kind = key.partition(":")
            sent[vmid][kind] += v["total"]
        intents = collections.defaultdict(collections.Counter)
        undo = collections.Counter()
        total = collections.Counter()
        for op_id, uid, vmid, *_ in ops:
            for f, ev, t, detail in journal[op_id]:
                d = json.loads(detail) if detail else {}
                if ev == "submit":
                    step = d.get("step_name")
                    total[str(vmid)] += 1
                    kinds = STEP_KINDS.get(step)
                    if kinds is None:
                        undo[str(vmid)] += 1   # unknown step: any kind
                        continue
                    for k in kinds:
                        intents[str(vmid)][k] += 1
                elif ev in ("task_failed_undo", "undo_retry"):
                    total[str(vmid)] += 1
                    undo[str(vmid)] += 1
        for vmid, kinds in sent.items():
            for kind, n in kinds.items():
                limit = intents[vmid][kind] + undo[vmid]
                if n > limit:
                    raise Violation(
                        "%s: PVE received %d %s request(s) for %s, the agent "
                        "journaled %d intent(s) that may send one (a request "
                        "sent twice)" % (when, n, kind, vmid, limit))
            n = sum(kinds.values())
            if n > total[vmid]:
                raise Violation("%s: PVE received %d mutating request(s) for "
                                "%s, the agent journaled %d intent(s)" %
                                (when, n, vmid, total[vmid]))
        self.sent = sum(sum(k.values()) for k in sent.values())
        self.intents = sum(total.values())

    def check_tasks(self, when, ops, known, final, world):
        token = world.get("token_id")
        in_flight = {str(vmid) for (_, _, vmid, _, state, *_) in ops
                     if state in ("submitting", "rolling_back")}
        for t in world.get("tasks", []):
            if t.get("user") != token:
                continue
            if final and t.get("status") == "running":
                raise Violation("%s: PVE task %s still running" %
                                (when, t["upid"]))
            if t["upid"] in known:
                continue
            if not final and str(t.get("vmid")) in in_flight:
                continue
            raise Violation("%s: orphan PVE task %s (%s of %s, %s): no op "
                            "knows it" % (when, t["upid"], t.get("type"),
                                          t.get("vmid"), t.get("exitstatus")))

    def check_final(self, when, ops):
        a = self.agent
        now = time.time()
        for (op_id, uid, vmid, kind, state, *_ ) in ops:
            if state in TERMINAL or state == "pending_signature":
                continue
            if state == "authorized":
                nxt = a.sql("SELECT next_at FROM ops WHERE id = ?",
                            (op_id,))[0][0]
                if nxt > now:
                    continue
            raise Violation("%s: %s (%s of %s) is stuck in %s" %
                            (when, uid, kind, vmid, state))
        # Every hub entry accounted for.
        hubq = self.hub.call("GET", "/_sim/signed-ops")
        if hubq["queue_length"]:
            raise Violation("%s: %d signed-ops entries still queued at the "
                            "hub" % (when, hubq["queue_length"]))
        inbox = dict((s, st) for s, st in a.sql(
            "SELECT seq, state FROM signed_inbox WHERE seq IS NOT NULL"))
        for seq in self.posted_seqs:
            if seq not in inbox:
                raise Violation("%s: signed-ops entry seq %d never reached "
                                "the agent's inbox" % (when, seq))
            if inbox[seq] == "new":
                raise Violation("%s: signed-ops entry seq %d undecided" %
                                (when, seq))
        extra = set(inbox) - set(self.posted_seqs)
        if extra:
            raise Violation("%s: inbox seqs the hub never queued: %r" %
                            (when, sorted(extra)))


def check_audit(agent, hub, excuses):
    """Every audit row reached the hub; a second delivery only when the
    agent could not have committed the first one's ack."""
    rows = [s for (s,) in agent.sql("SELECT seq FROM audit ORDER BY seq")]
    ack = agent.sql("SELECT value FROM kv WHERE key = 'audit_ack_seq'")
    ack = int(ack[0][0]) if ack else 0
    reports = hub.call("GET", "/_sim/reports?received=1")
    # A report the hub stored whose answer the agent never read.
    excuses = list(excuses) + [
        r["t"] for r in hub.call("GET", "/_sim/requests")
        if r["path"].endswith("/report") and r.get("fault") in LOST_ANSWER]
    first = {}
    twice = 0
    for r in reports:
        t = r["received_at"]
        for ev in r["report"].get("audit") or []:
            s = ev.get("seq")
            if s in first:
                t1 = first[s]
                if not any(t1 - 0.5 <= e <= t + 0.5 for e in excuses):
                    raise Violation(
                        "audit seq %d delivered at %.3f and again at %.3f "
                        "with nothing in between that lost its ack (no kill, "
                        "no disk full, no lost answer)" % (s, t1, t))
                twice += 1
            else:
                first[s] = t
    missing = [s for s in rows if s <= ack and s not in first]
    if missing:
        raise Violation("audit rows acked but never delivered: %r" %
                        missing[:20])
    left = [s for s in rows if s > ack]
    if left:
        raise Violation("audit rows never acked after the agent settled: "
                        "%r" % left[:20])
    return len(rows), twice, len(reports)
