"""The write-ahead witness (felhom-agent's DESIGN invariant 1; issue 15's
group commit).

Not Proxmox behaviour: a test instrument.  Once given the agent's database
(POST /_sim/witness {"db": PATH}), every mutating API request the simulator
receives for a guest is checked against what that database holds at that
very moment, read by a connection of its own (read-only; it sees only
committed transactions): some operation on that guest must already be in
flight ("submitting", or "rolling_back" for an undo).  A request that
arrives before its intent was committed is recorded as early.
GET /_sim/witness says how many were checked and lists the early ones."""

import sqlite3
import threading
import time
import urllib.parse

IN_FLIGHT = ("submitting", "rolling_back")
QUERY = ("SELECT count(*) FROM ops WHERE vmid = ? AND state IN (%s)" %
         ", ".join("'%s'" % s for s in IN_FLIGHT))


class Witness:
    def __init__(self, db):
        self.db = db
        self.lock = threading.Lock()
        self.checked = 0
        self.unreadable = 0
        self.early = []

    def _in_flight(self, vmid):
        uri = "file:%s?mode=ro" % urllib.parse.quote(self.db)
        conn = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            return conn.execute(QUERY, (vmid,)).fetchone()[0]
        finally:
            conn.close()

    def check(self, method, path, keys):
        """keys: the request's counter keys ("VMID:kind")."""
        for k in keys:
            vmid = k.split(":", 1)[0]
            if not vmid.isdigit():
                continue
            try:
                n = self._in_flight(int(vmid))
            except sqlite3.Error:
                # a killed agent's files mid-recovery: not a verdict
                with self.lock:
                    self.unreadable += 1
                continue
            with self.lock:
                self.checked += 1
                if n == 0:
                    self.early.append({"method": method, "path": path,
                                       "key": k, "at": time.time()})

    def to_json(self):
        with self.lock:
            return {"db": self.db, "checked": self.checked,
                    "unreadable": self.unreadable,
                    "early": list(self.early)}
