"""Tasks (workers): UPIDs, status/list/log shapes, and the timer thread."""

import heapq
import re
import threading
import time

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):"
    r"([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$")


def encode_upid(node, pid, pstart, starttime, wtype, wid, user):
    """pve-common UPID.pm encode (trailing colon included)."""
    return "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pstart, starttime,
                                                 wtype, wid, user)


def decode_upid(upid):
    m = UPID_RE.match(upid)
    if not m:
        return None
    return {
        "node": m.group(1),
        "pid": int(m.group(3), 16),
        "pstart": int(m.group(4), 16),
        "starttime": int(m.group(5), 16),
        "type": m.group(6),
        "id": m.group(7),
        "user": m.group(8),
    }


def split_token_user(user):
    """'felhom@pve!agent' -> ('felhom@pve', 'agent'); plain user -> (user, None)."""
    if "!" in user:
        u, t = user.split("!", 1)
        return u, t
    return user, None


class Task:
    """One worker.  `kind` is the counter KIND (start, vzdump, ...)."""

    def __init__(self, upid, kind, vmid, info):
        self.upid = upid
        self.kind = kind
        self.vmid = vmid              # int or None
        self.vmids = [vmid] if vmid is not None else []   # guests a fault may match
        self.node = info["node"]
        self.pid = info["pid"]
        self.pstart = info["pstart"]
        self.starttime = info["starttime"]
        self.type = info["type"]
        self.id = info["id"]
        self.user = info["user"]
        self.running = True
        self.exitstatus = None
        self.endtime = None
        self.archived_at = None       # epoch when moved from 'active' to the index
        self.log = []
        self.hung = False
        # simulation internals (not persisted)
        self.fail = None              # predetermined worker error text
        self.fault_exit = None        # injected exit status text
        self.fault_warnings = 0
        self.keep_lock = False
        self.on_ok = None             # callable(world, task)
        self.on_fail = None           # callable(world, task, msg)
        self.warn_lines = []          # extra WARN lines added on success
        self.extra_delay = 0.0        # seconds waited for a lock file

    # --- shapes -----------------------------------------------------------
    def status_obj(self):
        """GET /nodes/{node}/tasks/{upid}/status (no endtime)."""
        user, tokenid = split_token_user(self.user)
        d = {
            "upid": self.upid, "node": self.node, "pid": self.pid,
            "pstart": self.pstart, "starttime": self.starttime,
            "type": self.type, "id": self.id, "user": user,
            "status": "running" if self.running else "stopped",
        }
        if tokenid is not None:
            d["tokenid"] = tokenid
        if not self.running:
            d["exitstatus"] = self.exitstatus
        return d

    def archived(self, now):
        return (not self.running) and self.archived_at is not None and now >= self.archived_at

    def list_obj(self, active_view):
        """An item of GET /nodes/{node}/tasks.  Items read from the 'active'
        file keep the unsplit user and carry saved:"0" (Tasks.pm)."""
        d = {
            "upid": self.upid, "node": self.node, "pid": self.pid,
            "pstart": self.pstart, "starttime": self.starttime,
            "type": self.type, "id": self.id,
        }
        if active_view:
            d["user"] = self.user
            d["saved"] = "0"
            if self.running:
                d["status"] = "RUNNING"
            else:
                d["status"] = self.exitstatus
                d["endtime"] = self.endtime
        else:
            user, tokenid = split_token_user(self.user)
            d["user"] = user
            if tokenid is not None:
                d["tokenid"] = tokenid
            d["endtime"] = self.endtime
            d["status"] = self.exitstatus
        return d

    def to_state(self):
        return {
            "upid": self.upid, "kind": self.kind, "vmid": self.vmid, "vmids": list(self.vmids),
            "running": self.running, "exitstatus": self.exitstatus,
            "endtime": self.endtime, "log": list(self.log),
        }

    @classmethod
    def from_state(cls, d):
        info = decode_upid(d["upid"])
        if info is None:
            raise ValueError("bad upid in state: %r" % d.get("upid"))
        t = cls(d["upid"], d.get("kind", info["type"]), d.get("vmid"), info)
        t.log = list(d.get("log", []))
        if d.get("vmids") is not None:
            t.vmids = [int(x) for x in d["vmids"]]
        if d.get("running"):
            # the worker died with the simulator: PVE shows this as
            # 'unexpected status' (no TASK line at the end of the log)
            t.running = False
            t.exitstatus = "unexpected status"
            t.endtime = int(time.time())
        else:
            t.running = False
            t.exitstatus = d.get("exitstatus") or "unexpected status"
            t.endtime = d.get("endtime") or t.starttime
        t.archived_at = 0
        return t


class Scheduler:
    """One daemon thread firing callbacks at given times."""

    def __init__(self):
        self._heap = []
        self._cv = threading.Condition()
        self._seq = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="pve-sim-tasks", daemon=True)
        self._thread.start()

    def call_at(self, when, fn):
        with self._cv:
            self._seq += 1
            heapq.heappush(self._heap, (when, self._seq, fn))
            self._cv.notify()

    def stop(self):
        with self._cv:
            self._stop = True
            self._cv.notify()

    def _run(self):
        while True:
            with self._cv:
                while not self._stop:
                    if self._heap:
                        delay = self._heap[0][0] - time.time()
                        if delay <= 0:
                            break
                        self._cv.wait(delay)
                    else:
                        self._cv.wait()
                if self._stop:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception as e:  # never let the timer thread die
                import sys
                import traceback
                print("pve-sim: task callback failed: %s" % e, file=sys.stderr)
                traceback.print_exc()
