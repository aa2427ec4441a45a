"""The simulated host: node, containers, storages, backup volumes, tasks,
the token's ACL, and the state-file format."""

import copy
import hashlib
import json
import os
import random
import re
import threading
import time

from . import params as P
from .tasks import Scheduler, Task, encode_upid, decode_upid

# --------------------------------------------------------------------------
# Privileges (pve-access-control AccessControl.pm, PVE 8/9)

PRIVILEGES = sorted([
    "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate",
    "Datastore.Audit", "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use",
    "Permissions.Modify", "Pool.Allocate", "Pool.Audit", "Realm.Allocate",
    "Realm.AllocateUser", "SDN.Allocate", "SDN.Audit", "SDN.Use", "Sys.AccessNetwork",
    "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog",
    "User.Modify", "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM",
    "VM.Config.CPU", "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType",
    "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console",
    "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted", "VM.Migrate", "VM.Monitor",
    "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback",
])
ROLE_ALIASES = {"Administrator": PRIVILEGES, "*": PRIVILEGES, "NoAccess": []}

# paths PVE always evaluates for GET /access/permissions
STANDARD_PATHS = ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn",
                  "/storage", "/vms"]


class Acl:
    """Token ACL: path -> (privs, propagate).  A deeper path that has an
    entry replaces what was inherited (PVE's roles() walk)."""

    def __init__(self, spec=None):
        self.entries = {}
        if spec is None:
            spec = {"/": ["*"]}
        for path, val in spec.items():
            propagate = True
            if isinstance(val, dict):
                propagate = bool(val.get("propagate", True))
                val = val.get("privs", [])
            if not isinstance(val, list):
                raise ValueError("ACL %s: expected a list of privileges" % path)
            privs = set()
            for p in val:
                if p in ROLE_ALIASES:
                    privs.update(ROLE_ALIASES[p])
                elif p in PRIVILEGES:
                    privs.add(p)
                else:
                    raise ValueError("ACL %s: unknown privilege '%s'" % (path, p))
            self.entries[self.norm(path)] = (frozenset(privs), propagate)

    @staticmethod
    def norm(path):
        path = "/" + "/".join(x for x in path.split("/") if x)
        return path

    def lookup(self, path):
        """Returns (privs, propagate) effective on path."""
        path = self.norm(path)
        comps = [x for x in path.split("/") if x]
        prefixes = ["/"] + ["/" + "/".join(comps[:i + 1]) for i in range(len(comps))]
        cur, prop = frozenset(), True
        for p in prefixes:
            ent = self.entries.get(p)
            if ent is None:
                continue
            if p == path or ent[1]:
                cur, prop = ent
        return cur, prop

    def has(self, path, priv):
        return priv in self.lookup(path)[0]

    def permissions(self, extra_paths=()):
        out = {}
        paths = set(STANDARD_PATHS) | set(self.entries) | set(extra_paths)
        for p in sorted(paths):
            privs, prop = self.lookup(p)
            if privs:
                out[p] = {x: (1 if prop else 0) for x in sorted(privs)}
        return out

    def to_state(self):
        return {p: {"privs": sorted(v[0]), "propagate": v[1]} for p, v in self.entries.items()}


# --------------------------------------------------------------------------
# Version dependent behaviour (pve-api.md section 9)

class Versions:
    TABLE = {
        "9": ("9.1.6", "9.1", "71482d1833ded40a", (9, 1, 6)),
        "9.0": ("9.0.11", "9.0", "3bf5476b8a4699e2", (9, 0, 11)),
        "8": ("8.4.14", "8.4", "b502d23c55afcba1", (8, 4, 14)),
        "8.4": ("8.4.14", "8.4", "b502d23c55afcba1", (8, 4, 14)),
        "8.3": ("8.3.5", "8.3", "dac3aa88bac3f300", (8, 3, 5)),
        "8.2": ("8.2.7", "8.2", "3e76eec21c4a14a7", (8, 2, 7)),
        "8.1": ("8.1.4", "8.1", "ec5affc9e41f1d79", (8, 1, 4)),
        "7": ("7.4-16", "7.4", "0f39f621", (7, 4, 16)),
    }

    def __init__(self, spec="9"):
        spec = str(spec)
        if spec not in self.TABLE:
            raise ValueError("unsupported --pve-version %r (one of %s)"
                             % (spec, ", ".join(sorted(self.TABLE))))
        self.spec = spec
        self.version, self.release, self.repoid, v = self.TABLE[spec]
        self.tuple = v
        # LXC list vmid integer since pve-container 5.0.10 (PVE 8.2)
        self.vmid_int = v >= (8, 2)
        # 'message' in JSON error bodies: libpve-http-server-perl >= 5.2.0 (8.4 / 9.x)
        self.error_message = v >= (8, 4)
        # 401 reason unified in pve-manager 9.1.5
        self.auth_failed_unified = v >= (9, 1, 5)
        self.overrule_shutdown = v >= (8, 2)
        self.boot_info = v >= (8, 1)
        self.memory_available = v >= (9, 0)
        self.dev_passthrough = v >= (8, 1)
        self.oci_keys = v >= (9, 1)
        # SDN.Use on the bridge of every netN (pve-guest-common
        # GuestHelpers.pm check_vnet_access, called by pve-container since 8.0)
        self.sdn_use = v >= (8, 0)
        if v[0] >= 8:
            self.pveversion = "pve-manager/%s/%s" % (self.version, self.repoid)
            self.kernel = ("6.8.12-15-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-15 (2025-09-12T11:02Z)")
            if v[0] >= 9:
                self.kernel = ("6.14.11-4-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4 (2025-10-10T08:04Z)")
        else:
            self.pveversion = "pve-manager/%s/%s" % (self.version, self.repoid)
            self.kernel = ("5.15.108-1-pve", "#1 SMP PVE 5.15.108-2 (2023-07-20T10:06Z)")


# --------------------------------------------------------------------------
# LXC config key typing (container:src/PVE/LXC/Config.pm confdesc)

BOOL_KEYS = {"console", "debug", "onboot", "protection", "template", "unprivileged"}
INT_KEYS = {"cores", "cpuunits", "memory", "swap", "tty", "snaptime"}
NUM_KEYS = {"cpulimit"}
LOCK_VALUES = ["backup", "create", "destroyed", "disk", "fstrim", "migrate", "mounted",
               "rollback", "snapshot", "snapshot-delete"]
FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "hookscript",
            "cores", "tags", "lock"}
HOTPLUG = {"memory", "swap", "cpulimit", "cpuunits"}
INDEXED = re.compile(r"^(mp|net|dev|unused)(\d+)$")


def norm_conf_value(key, value):
    """Type a config value the way parse_pct_config/check_type would."""
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return 1 if value else 0
        s = str(value).lower()
        return 1 if s in ("1", "on", "yes", "true") else 0
    if key in INT_KEYS:
        return int(value)
    if key in NUM_KEYS:
        if isinstance(value, float):
            return repr(value)
        return str(value)
    if key == "lxc":
        return [[str(a), str(b)] for a, b in value]
    if key == "description":
        return norm_description(value)
    return str(value)


def perl_split_lines(text):
    parts = text.split("\n")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def norm_description(text):
    """What GET returns after a write: every comment line gets '\\n'."""
    lines = perl_split_lines(str(text))
    if not lines:
        return None
    return "\n".join(lines) + "\n"


def encode_text(s):
    """PVE::Tools::encode_text on the UTF-8 bytes."""
    out = []
    for b in s.encode("utf-8"):
        if 0x20 <= b <= 0x24 or 0x26 <= b <= 0x39 or 0x3b <= b <= 0x7e:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def _raw_section(conf):
    raw = []
    for cl in perl_split_lines(conf.get("description") or ""):
        raw.append("#" + encode_text(cl) + "\n")
    for k in sorted(conf):
        if k in ("digest", "description", "pending", "snapshots", "snapname", "lxc"):
            continue
        raw.append("%s: %s\n" % (k, conf[k]))
    for k, v in conf.get("lxc") or []:
        raw.append("%s: %s\n" % (k, v))
    return "".join(raw)


def raw_config_text(conf):
    """A config as the pct.conf text vzdump stores in the archive
    (pve-container src/PVE/LXC/Config.pm write_pct_config: description as
    '#' comment lines first, then 'key: value', raw lxc.* keys last)."""
    return _raw_section(conf)


def sort_indexed_key(k):
    m = INDEXED.match(k)
    if m:
        return (m.group(1), int(m.group(2)))
    return (k, -1)


class Guest:
    """One container.  conf holds API-typed values (ints, 1/0, strings)."""

    def __init__(self, vmid, conf, status="stopped"):
        self.vmid = int(vmid)
        self.conf = {}
        for k, v in conf.items():
            if v is None:
                continue
            nv = norm_conf_value(k, v)
            if nv is not None:
                self.conf[k] = nv
        self.pending = {}
        self.pending_delete = []
        self.snapshots = {}          # name -> conf dict (with snaptime, description, parent, snapstate)
        self.status = status
        self.started_at = time.time() - random.Random(self.vmid).randint(3600, 9 * 86400)
        self.pid = 0
        if status == "running":
            self.pid = 2000 + (self.vmid * 37) % 900000

    # --- raw file / digest --------------------------------------------------
    def raw_config(self):
        raw = _raw_section(self.conf)
        if self.pending or self.pending_delete:
            pend = dict(self.pending)
            if self.pending_delete:
                pend["delete"] = ",".join(self.pending_delete)
            raw += "\n[pve:pending]\n" + _raw_section(pend)
        for name in sorted(self.snapshots):
            raw += "\n[%s]\n" % name + _raw_section(self.snapshots[name])
        return raw

    def digest(self):
        return hashlib.sha1(self.raw_config().encode("utf-8")).hexdigest()

    def current_conf(self, with_pending=True):
        conf = copy.deepcopy(self.conf)
        if with_pending:
            for k, v in self.pending.items():
                conf[k] = v
            for k in self.pending_delete:
                conf.pop(k, None)
        return conf

    def apply_pending(self):
        for k, v in self.pending.items():
            self.conf[k] = v
        for k in self.pending_delete:
            self.conf.pop(k, None)
        self.pending = {}
        self.pending_delete = []

    # --- derived facts --------------------------------------------------------
    def mountpoints(self, conf=None):
        """[(key, parsed dict incl. type)] for rootfs and mpN."""
        conf = self.conf if conf is None else conf
        out = []
        keys = [k for k in conf if k == "rootfs" or re.match(r"^mp\d+$", k)]
        for k in sorted(keys, key=lambda x: -1 if x == "rootfs" else int(x[2:])):
            try:
                d = P.parse_prop_string(conf[k], P.ROOTFS_DESC if k == "rootfs" else P.MP_DESC, k)
            except P.FormatError:
                d = {"volume": conf[k].split(",")[0]}
            if k == "rootfs":
                d["mp"] = "/"
            d["type"] = P.classify_mountpoint(d.get("volume", ""))
            out.append((k, d))
        return out

    def has_bind_or_device(self, conf=None):
        return any(d["type"] != "volume" for _, d in self.mountpoints(conf))

    def name(self):
        return re.sub(r"\s", "", str(self.conf.get("hostname") or "")) or "CT%d" % self.vmid

    def maxdisk(self):
        for k, d in self.mountpoints():
            if k == "rootfs":
                s = P.parse_size(d.get("size", "")) if d.get("size") else None
                return s if s is not None else 4 << 30
        return 4 << 30

    def to_state(self):
        d = {"vmid": self.vmid, "status": self.status, "config": copy.deepcopy(self.conf)}
        if self.pending:
            d["pending"] = copy.deepcopy(self.pending)
        if self.pending_delete:
            d["pending_delete"] = list(self.pending_delete)
        if self.snapshots:
            d["snapshots"] = copy.deepcopy(self.snapshots)
        if self.status == "running":
            d["uptime"] = int(time.time() - self.started_at)
        return d

    @classmethod
    def from_state(cls, d):
        g = cls(d["vmid"], d.get("config", {}), d.get("status", "stopped"))
        for k, v in (d.get("pending") or {}).items():
            nv = norm_conf_value(k, v)
            if nv is not None:
                g.pending[k] = nv
        g.pending_delete = list(d.get("pending_delete") or [])
        for name, sconf in (d.get("snapshots") or {}).items():
            sc = {}
            for k, v in sconf.items():
                if v is None:
                    continue
                nv = norm_conf_value(k, v)
                if nv is not None:
                    sc[k] = nv
            g.snapshots[name] = sc
        if g.status == "running" and "uptime" in d:
            g.started_at = time.time() - int(d["uptime"])
        return g


class Storage:
    def __init__(self, sid, d):
        self.id = sid
        self.type = d.get("type", "dir")
        content = d.get("content", [])
        if isinstance(content, str):
            content = P.split_list(content)
        self.content = list(content)
        self.enabled = int(d.get("enabled", 1))
        self.active = int(d.get("active", 1))
        self.shared = int(d.get("shared", 1 if self.type in ("pbs", "nfs", "cifs", "cephfs", "rbd") else 0))
        self.total = int(d.get("total", 100 << 30))
        self.used = int(d.get("used", 10 << 30))
        self.path = d.get("path", "/var/lib/vz" if sid == "local" else "/mnt/pve/%s" % sid)
        self.prune = d.get("prune-backups")   # e.g. {"keep-last": 3} or "keep-last=3"
        # None: not configured (pve-storage get_max_protected_backups
        # then decides by the caller's Datastore.Allocate).
        mp = d.get("max-protected-backups")
        self.max_protected = None if mp is None else int(mp)
        # storage.cfg keys of the type (GET /storage only): PBS server,
        # datastore, fingerprint, username; LVM vgname/thinpool; ...
        self.extra = {k: d[k] for k in self.CONFIG_KEYS if k in d}

    CONFIG_KEYS = ("server", "datastore", "fingerprint", "username", "namespace", "port",
                   "vgname", "thinpool", "pool", "export", "share", "nodes")

    def config_section(self):
        """The storage.cfg section as pve-storage's Config.pm index returns
        it (without 'storage', 'digest', 'content')."""
        d = {"type": self.type}
        d.update(self.extra)
        if self.type in ("dir", "nfs", "cifs", "cephfs", "glusterfs", "btrfs"):
            d["path"] = self.path
        if self.shared and self.type in ("dir",):
            d["shared"] = 1
        if not self.enabled:
            d["disable"] = 1
        if self.prune:
            d["prune-backups"] = (self.prune if isinstance(self.prune, str) else
                                  ",".join("%s=%s" % (k, v) for k, v in sorted(self.prune.items())))
        if self.max_protected is not None:
            d["max-protected-backups"] = self.max_protected
        return d

    def supports(self, ctype):
        return ctype in self.content

    def can_snapshot(self):
        return self.type in ("lvmthin", "zfspool", "rbd", "btrfs", "zfs")

    def to_state(self):
        d = {"type": self.type, "content": list(self.content), "enabled": self.enabled,
             "active": self.active, "shared": self.shared, "total": self.total,
             "used": self.used, "path": self.path}
        if self.prune:
            d["prune-backups"] = self.prune
        if self.max_protected is not None:
            d["max-protected-backups"] = self.max_protected
        d.update(self.extra)
        return d


VOLUME_KEYS = ("volid", "content", "format", "size", "ctime", "vmid", "subtype", "notes",
               "protected", "verification", "encrypted")


# --------------------------------------------------------------------------

class World:
    def __init__(self, node, versions, token_id, token_secret, acl, settings):
        self.lock = threading.RLock()
        self.node = node
        self.v = versions
        self.token_id = token_id
        self.token_secret = token_secret
        self.acl = acl
        self.settings = settings          # dict: task_seconds, latency_ms, archive_delay, auth_fail_delay_ms
        self.guests = {}
        self.storages = {}
        self.volumes = []                 # list of dicts (VOLUME_KEYS + storage + config)
        self.tasks = {}
        self.task_order = []
        self.remote_vmids = set()
        self.task_faults = []
        # HA resources (pve-ha-manager resources.cfg): vmid -> {"state":
        # "started"|"stopped", "stuck": bool}; see ep_guest.py hastart/hastop
        self.ha = {}
        # config lock files held by another worker: vmid -> until (epoch,
        # None = until released); see api.py lock_config
        self.config_locks = {}
        self.fingerprint = ""
        self.boot_time = time.time() - 3 * 86400 - random.randint(0, 86400)
        self._pid = random.randint(0x10000, 0x3FFFF)
        self.scheduler = Scheduler()
        self.rng = random.Random()
        self.first_status = True
        self.acting_user = None           # "root@pam" during POST /_sim/root

    # --- tasks ------------------------------------------------------------
    MAX_TASKS = 2000

    def new_task(self, wtype, wid, kind, vmid, vmids=None):
        now = int(time.time())
        self._pid += self.rng.randint(1, 40)
        pstart = int((time.time() - self.boot_time) * 100)
        info = {"node": self.node, "pid": self._pid & 0xFFFFFFFF, "pstart": pstart,
                "starttime": now, "type": wtype, "id": "" if wid is None else str(wid),
                "user": self.acting_user or self.token_id}
        upid = encode_upid(info["node"], info["pid"], pstart, now, wtype, info["id"], info["user"])
        t = Task(upid, kind, vmid, decode_upid(upid))
        t.vmids = vmids if vmids is not None else ([vmid] if vmid is not None else [])
        self.tasks[upid] = t
        self.task_order.append(t)
        if len(self.task_order) > self.MAX_TASKS:
            for old in self.task_order[:len(self.task_order) - self.MAX_TASKS]:
                if not old.running:
                    self.tasks.pop(old.upid, None)
            self.task_order = [x for x in self.task_order if x.upid in self.tasks]
        return t

    def _match_task_fault(self, t):
        for f in self.task_faults:
            if f["count"] <= 0 or f["kind"] not in (t.kind, "*"):
                continue
            if f["vmid"] not in (None, "*") and int(f["vmid"]) not in t.vmids:
                continue
            f["count"] -= 1
            return f
        return None

    def consume_task_fault(self, vmid, kind):
        """For synchronous operations (config): the next matching task fault."""
        for f in self.task_faults:
            if f["count"] <= 0 or f["kind"] not in (kind, "*"):
                continue
            if f["vmid"] not in (None, "*") and int(f["vmid"]) != int(vmid):
                continue
            f["count"] -= 1
            return f
        return None

    def worker_lock_config(self, t, vmid, timeout=10):
        """A worker's lock_config (pve-guest-common AbstractConfig.pm,
        pve-common Tools.pm lock_file_full): while another worker holds the
        lock file the task waits; past the (scaled) timeout it fails with
        "can't lock file ... - got timeout".  Returns that text or None."""
        held = self.config_lock_remaining(vmid)
        if held is None:
            return None
        limit = timeout * float(self.settings.get("lock_timeout_scale", 1.0))
        if held <= limit:
            t.extra_delay = held
            return None
        t.extra_delay = limit
        return "can't lock file '/run/lock/lxc/pve-config-%d.lock' - got timeout" % vmid

    def config_lock_remaining(self, vmid):
        """Seconds another worker still holds vmid's config lock file
        (float('inf') until released), None when it is free."""
        if vmid not in self.config_locks:
            return None
        until = self.config_locks[vmid]
        if until is None:
            return float("inf")
        left = until - time.time()
        if left <= 0:
            del self.config_locks[vmid]
            return None
        return left

    def launch(self, t):
        """Apply task faults and schedule the end of the worker."""
        f = self._match_task_fault(t)
        if f:
            if f.get("exitstatus"):
                t.fault_exit = str(f["exitstatus"])
            t.fault_warnings = int(f.get("warnings") or 0)
            t.keep_lock = bool(f.get("keep_lock"))
            if f.get("hang"):
                t.hung = True
                return
        delay = float(self.settings["task_seconds"]) + t.extra_delay
        self.scheduler.call_at(time.time() + delay, lambda: self.finish_task(t.upid))

    def finish_task(self, upid, forced_exit=None):
        with self.lock:
            t = self.tasks.get(upid)
            if t is None or not t.running:
                return
            msg = forced_exit or t.fail or t.fault_exit
            if msg:
                if t.on_fail:
                    try:
                        t.on_fail(self, t, msg)
                    except Exception as e:  # keep going: the task must end
                        t.log.append("internal simulator error: %s" % e)
                t.log.append("TASK ERROR: %s" % msg)
                t.exitstatus = msg
            else:
                if t.on_ok:
                    t.on_ok(self, t)
                for i in range(t.fault_warnings):
                    t.log.append("WARN: simulated warning %d" % (i + 1))
                nwarn = len(t.warn_lines) + t.fault_warnings
                if nwarn:
                    t.log.append("TASK WARNINGS: %d" % nwarn)
                    t.exitstatus = "WARNINGS: %d" % nwarn
                else:
                    t.log.append("TASK OK")
                    t.exitstatus = "OK"
            t.running = False
            t.hung = False
            t.endtime = int(time.time())
            t.archived_at = time.time() + float(self.settings.get("archive_delay", 0))

    def release(self, upid=None, vmid=None, exitstatus=None):
        released = []
        with self.lock:
            for t in list(self.task_order):
                if not (t.running and t.hung):
                    continue
                if upid and t.upid != upid:
                    continue
                if vmid is not None and int(vmid) not in t.vmids:
                    continue
                released.append(t.upid)
                if exitstatus:
                    t.fault_exit = exitstatus
                t.hung = False
        for u in released:
            self.finish_task(u)
        return released

    # --- volumes ------------------------------------------------------------
    def volume(self, volid):
        for v in self.volumes:
            if v["volid"] == volid:
                return v
        return None

    def storage_cfg_digest(self):
        """SHA-1 of the storage.cfg the sections render to (the 'digest'
        of GET /storage)."""
        raw = ""
        for sid in sorted(self.storages):
            s = self.storages[sid]
            raw += "%s: %s\n" % (s.type, sid)
            sec = s.config_section()
            sec["content"] = ",".join(s.content)
            for k in sorted(sec):
                if k != "type":
                    raw += "\t%s %s\n" % (k, sec[k])
            raw += "\n"
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()

    def disk_volume(self, volid):
        """A guest disk as check_volume_access sees it: content 'rootdir'
        (or 'images') and the owner parsed from the volume name the way
        pve-storage's plugins parse_volname do ('vm-<vmid>-disk-N',
        'subvol-<vmid>-disk-N', 'base-<vmid>-disk-N', '<vmid>/vm-...').
        None when volid is not on a known storage."""
        if ":" not in volid:
            return None
        sid, name = volid.split(":", 1)
        if sid not in self.storages:
            return None
        m = re.search(r"(?:^|/)(?:vm|subvol|base|basevol)-(\d+)-disk-\d+", name)
        return {"volid": volid, "storage": sid, "content": "rootdir",
                "vmid": int(m.group(1)) if m else None}

    def storage_used(self, s):
        extra = sum(v.get("size", 0) for v in self.volumes if v["storage"] == s.id)
        return min(s.total, s.used + extra) if s.total else 0

    def next_disk_name(self, sid, vmid, conf_list):
        """vm-<vmid>-disk-<n> / subvol-... unused on storage sid."""
        used = set()
        for g in self.guests.values():
            for conf in [g.conf, g.pending] + list(g.snapshots.values()):
                for k, v in conf.items():
                    if isinstance(v, str) and ("disk-" in v):
                        used.add(v.split(",")[0])
        for conf in conf_list:
            for k, v in conf.items():
                if isinstance(v, str):
                    used.add(v.split(",")[0])
        s = self.storages.get(sid)
        n = 0
        while True:
            if s is not None and s.type == "dir":
                vol = "%s:%d/vm-%d-disk-%d.raw" % (sid, vmid, vmid, n)
            elif s is not None and s.type in ("zfspool", "btrfs"):
                vol = "%s:subvol-%d-disk-%d" % (sid, vmid, n)
            else:
                vol = "%s:vm-%d-disk-%d" % (sid, vmid, n)
            if vol not in used:
                return vol
            n += 1

    # --- state file -----------------------------------------------------------
    def to_state(self, include_tasks=True):
        with self.lock:
            d = {
                "format": "pve-sim-state/1",
                "node": self.node,
                "guests": [self.guests[k].to_state() for k in sorted(self.guests)],
                "storages": {sid: s.to_state() for sid, s in self.storages.items()},
                "volumes": [{k: v for k, v in vol.items()} for vol in self.volumes],
            }
            if self.remote_vmids:
                d["remote_vmids"] = sorted(self.remote_vmids)
            if self.ha:
                d["ha"] = {str(k): dict(v) for k, v in sorted(self.ha.items())}
            if include_tasks:
                d["tasks"] = [t.to_state() for t in self.task_order]
            return d

    def load_state(self, d):
        self.guests = {}
        for gd in d.get("guests", []):
            g = Guest.from_state(gd)
            self.guests[g.vmid] = g
        self.storages = {}
        storages = d.get("storages")
        if storages is None:
            storages = DEFAULT_STORAGES
        for sid, sd in storages.items():
            self.storages[sid] = Storage(sid, sd)
        self.volumes = []
        volumes = d.get("volumes")
        if volumes is None:
            volumes = [{"volid": v, "content": "vztmpl", "size": n, "ctime": 1750000000}
                       for v, n in TEMPLATES if v.split(":")[0] in self.storages]
        for vd in volumes:
            self.volumes.append(self.norm_volume(vd))
        self.remote_vmids = set(int(x) for x in d.get("remote_vmids", []))
        self.ha = {int(k): dict(v) for k, v in (d.get("ha") or {}).items()}
        self.config_locks = {}
        self.tasks = {}
        self.task_order = []
        for td in d.get("tasks", []):
            t = Task.from_state(td)
            self.tasks[t.upid] = t
            self.task_order.append(t)

    def norm_volume(self, vd):
        v = dict(vd)
        volid = v["volid"]
        sid = volid.split(":", 1)[0]
        v.setdefault("storage", sid)
        v.setdefault("content", "backup")
        if v["content"] == "backup":
            m = re.search(r"vzdump-(lxc|qemu|openvz)-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)\.(.+)$", volid)
            mp = re.match(r"^[^:]+:backup/(ct|vm)/(\d+)/(.+)$", volid)
            if m:
                v.setdefault("subtype", m.group(1))
                v.setdefault("vmid", int(m.group(2)))
                v.setdefault("format", m.group(9))
                if "ctime" not in v:
                    v["ctime"] = int(time.mktime((int(m.group(3)), int(m.group(4)), int(m.group(5)),
                                                  int(m.group(6)), int(m.group(7)), int(m.group(8)),
                                                  0, 0, -1)))
            elif mp:
                v.setdefault("subtype", "lxc" if mp.group(1) == "ct" else "qemu")
                v.setdefault("vmid", int(mp.group(2)))
                v.setdefault("format", "pbs-ct" if mp.group(1) == "ct" else "pbs-vm")
                if "ctime" not in v:
                    import calendar
                    try:
                        v["ctime"] = calendar.timegm(time.strptime(mp.group(3), "%Y-%m-%dT%H:%M:%SZ"))
                    except ValueError:
                        v["ctime"] = int(time.time())
        elif v["content"] == "vztmpl":
            m = re.search(r"\.tar\.([gx]z|zst|bz2)$", volid)
            v.setdefault("format", "t" + (m.group(1) if m else "gz"))
        v.setdefault("size", 134217728)
        v.setdefault("ctime", int(time.time()))
        return v

    def save(self, path):
        d = self.to_state()
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)


# --------------------------------------------------------------------------
# Default worlds

DEFAULT_STORAGES = {
    "local": {"type": "dir", "content": ["iso", "vztmpl", "backup"], "shared": 0,
              "total": 100931731456, "used": 39728447488, "path": "/var/lib/vz"},
    "pbs": {"type": "pbs", "content": ["backup"], "shared": 1,
            "total": 3972844748800, "used": 1717986918400,
            "server": "pbs.example", "datastore": "store1", "username": "root@pam",
            "fingerprint": "9F:2A:7C:51:0E:8B:3D:46:A1:C2:E5:77:08:B9:F4:13:"
                           "6D:2E:91:5A:C8:04:BB:7F:30:E6:19:A4:5D:82:CF:66"},
    "local-lvm": {"type": "lvmthin", "content": ["rootdir", "images"], "shared": 0,
                  "total": 151397597184, "used": 22548578304,
                  "vgname": "pve", "thinpool": "data"},
}
TEMPLATES = [
    ("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", 126805954),
    ("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst", 131540210),
    ("local:vztmpl/alpine-3.22-default_20250617_amd64.tar.xz", 3120960),
    ("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", 141826521),
]


def _mac(rng):
    return "BC:24:11:%02X:%02X:%02X" % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))


def _net(rng, bridge="vmbr0"):
    return "name=eth0,bridge=%s,firewall=1,hwaddr=%s,ip=dhcp,type=veth" % (bridge, _mac(rng))


def default_guests():
    rng = random.Random(4711)
    day = 86400
    now = int(time.time())
    gs = []

    def mk(vmid, status, **conf):
        base = {"arch": "amd64", "ostype": "debian", "unprivileged": 1,
                "rootfs": "local-lvm:vm-%d-disk-0,size=8G" % vmid,
                "net0": _net(rng), "memory": 512, "swap": 512, "cores": 1}
        base.update(conf)
        g = Guest(vmid, base, status)
        gs.append(g)
        return g

    g = mk(101, "running", hostname="web01", cores=2, memory=2048, features="nesting=1",
           onboot=1, tags="prod;web", description="managed by felhom\n")
    snap = copy.deepcopy(g.conf)
    snap.update({"snaptime": now - 2 * day, "description": "before apt full-upgrade\n"})
    g.snapshots["pre-upgrade"] = snap
    g.conf["parent"] = "pre-upgrade"
    mk(102, "running", hostname="db01", cores=4, memory=4096, swap=1024, onboot=1,
       mp0="local-lvm:vm-102-disk-1,mp=/var/lib/postgresql,backup=1,size=32G",
       rootfs="local-lvm:vm-102-disk-0,size=16G", startup="order=1,up=30", tags="db;prod")
    mk(103, "running", hostname="files01", memory=1024, mp0="/srv/data,mp=/data",
       tags="files", description="file share\nbind mount from the host\n",
       lxc=[["lxc.cgroup2.devices.allow", "c 189:* rwm"],
            ["lxc.mount.entry", "/dev/bus/usb/001 dev/bus/usb/001 none bind,optional,create=dir"]])
    mk(104, "stopped", hostname="dev01", cpulimit="1.5", cores=None, memory=1024,
       description="dev box\nowner: team-a\n", tags="dev")
    mk(105, "stopped", hostname="mon01", ostype="alpine", memory=256, swap=0, protection=1,
       rootfs="local-lvm:vm-105-disk-0,size=2G")
    mk(106, "stopped", hostname="tmpl-debian", template=1,
       rootfs="local-lvm:base-106-disk-0,size=4G")
    return gs


def generated_guests(n):
    rng = random.Random(1000 + n)
    gs = []
    now = int(time.time())
    for i in range(n):
        vmid = 100 + i
        conf = {"arch": "amd64", "ostype": "debian", "unprivileged": 1,
                "hostname": "ct%d" % vmid, "memory": 512 * (1 + i % 4), "swap": 512,
                "cores": 1 + i % 4, "rootfs": "local-lvm:vm-%d-disk-0,size=%dG" % (vmid, 4 + 4 * (i % 3)),
                "net0": _net(rng), "onboot": 1 if i % 2 == 0 else 0,
                "tags": ["prod", "dev;test", "web;prod", "db"][i % 4]}
        if i % 5 == 0:
            conf["description"] = "generated guest %d\n" % vmid
        if i % 25 == 7:
            conf["mp0"] = "/srv/share%d,mp=/share" % vmid
        status = "stopped" if i % 4 == 3 else "running"
        if i == n - 1 and n > 3:
            conf["template"] = 1
            status = "stopped"
        g = Guest(vmid, conf, status)
        if i % 10 == 0 and not conf.get("template"):
            sc = copy.deepcopy(g.conf)
            sc.update({"snaptime": now - 86400, "description": ""})
            sc.pop("description")
            g.snapshots["nightly"] = sc
            g.conf["parent"] = "nightly"
        gs.append(g)
    return gs


def populate_default(world, nguests=None):
    world.storages = {sid: Storage(sid, d) for sid, d in DEFAULT_STORAGES.items()}
    guests = generated_guests(nguests) if nguests else default_guests()
    world.guests = {g.vmid: g for g in guests}
    world.volumes = []
    for volid, size in TEMPLATES:
        world.volumes.append(world.norm_volume({"volid": volid, "content": "vztmpl", "size": size,
                                                "ctime": 1750000000}))
    day = 86400
    base = (int(time.time()) // day - 1) * day + 22 * 3600   # yesterday 22:00 UTC
    for g in guests:
        btime = base + (g.vmid % 50) * 60
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(btime))
        vol = {"volid": "pbs:backup/ct/%d/%s" % (g.vmid, iso), "content": "backup",
               "format": "pbs-ct", "subtype": "lxc", "vmid": g.vmid, "ctime": btime,
               "size": 200000000 + (g.vmid * 7919) % 900000000,
               "config": strip_for_backup(g.conf)}
        if g.vmid % 2 == 1:
            vol["verification"] = {"state": "ok", "upid": "UPID:pbs:000004A2:00003F11:0000000A:%08X:"
                                   "verificationjob:store1\\x3av\\x2dabc:root@pam:" % (btime + 3600)}
        world.volumes.append(world.norm_volume(vol))
    if not nguests:
        # one local backup of 101 with notes, like a nightly vzdump job
        btime = base - day
        name = time.strftime("vzdump-lxc-101-%Y_%m_%d-%H_%M_%S.tar.zst", time.localtime(btime))
        world.volumes.append(world.norm_volume({
            "volid": "local:backup/" + name, "content": "backup", "size": 734003200,
            "ctime": btime, "notes": "web01 nightly", "config": strip_for_backup(world.guests[101].conf)}))


def strip_for_backup(conf):
    """The config vzdump stores in the archive (no lock/parent/digest)."""
    c = copy.deepcopy(conf)
    for k in ("lock", "parent", "digest"):
        c.pop(k, None)
    return c
