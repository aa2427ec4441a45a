"""vzdump (POST /nodes/{node}/vzdump)."""

import datetime
import re
import time

from . import params as P
from .api import BOOL, INT, NODE, STORAGE_ID, STR, lock_error, o, real_node, route, volume_storage
from .params import ParamError, die
from .world import Guest, strip_for_backup


VZDUMP_SCHEMA = {
    "node": NODE,
    "vmid": o(STR, format=P.fmt_vmid_list),
    "all": o(BOOL), "exclude": o(STR, format=P.fmt_vmid_list), "pool": o(STR),
    "storage": o(STORAGE_ID),
    "mode": o(STR, enum=["snapshot", "suspend", "stop"]),
    "compress": o(STR, enum=["0", "1", "gzip", "lzo", "zstd"]),
    "notes-template": o(STR, maxLength=1024, requires="storage"),
    "protected": o(BOOL, requires="storage"),
    "remove": o(BOOL), "zstd": o(INT, minimum=0), "pigz": o(INT, minimum=0),
    "bwlimit": o(INT, minimum=0), "ionice": o(INT, minimum=0, maximum=8),
    "lockwait": o(INT, minimum=0), "stop": o(BOOL), "stopwait": o(INT, minimum=0),
    "tmpdir": o(STR), "dumpdir": o(STR), "script": o(STR), "mailto": o(STR),
    "mailnotification": o(STR, enum=["always", "failure"]),
    "notification-mode": o(STR, enum=["auto", "legacy-sendmail", "notification-system"]),
    "prune-backups": o(STR), "quiet": o(BOOL), "stdexcludes": o(BOOL), "stdout": o(BOOL),
    "exclude-path": o(STR), "performance": o(STR), "fleecing": o(STR), "job-id": o(STR),
    "maxfiles": o(INT, minimum=1),
}


def generate_notes(template, world, g, vmid):
    def unesc(m):
        c = m.group(1)
        if c == "\\":
            return "\\"
        if c == "n":
            return "\n"
        raise ValueError("unexpected escape character '%s'" % c)
    s = re.sub(r"\\(.)", unesc, template)
    info = {"cluster": "", "guestname": g.name() if g else "", "node": world.node,
            "vmid": str(vmid)}
    s = re.sub(r"\{\{(cluster|guestname|node|vmid)\}\}", lambda m: info[m.group(1)], s)
    m = re.search(r"\{\{([^\s]+)\}\}", s)
    if m:
        raise ValueError("unexpected variable name '%s'" % m.group(1))
    return s


KEEP_OPTIONS = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly",
                "keep-yearly")


def parse_prune_backups(value, what):
    """pve-storage src/PVE/Storage/Plugin.pm, $prune_backups_format and
    validate_prune_backups: keep-all (boolean) or keep-* (integers >= 1);
    nothing positive means keep-all=1; keep-all with others is an error."""
    if isinstance(value, dict):
        res = dict(value)
    else:
        res = {}
        for part in str(value).split(","):
            if part == "":
                continue
            if "=" not in part:
                raise ParamError({what: "value without key, but schema does not define a "
                                        "default key"})
            k, v = part.split("=", 1)
            if k != "keep-all" and k not in KEEP_OPTIONS:
                raise ParamError({what: "invalid format - %s: property is not defined in schema "
                                        "and the schema does not allow additional properties" % k})
            if not re.fullmatch(r"\d+", v) or (k != "keep-all" and int(v) < 1) or (
                    k == "keep-all" and v not in ("0", "1")):
                raise ParamError({what: "invalid format - %s: type check failed - got '%s'"
                                        % (k, v)})
            res[k] = int(v)
    keep_all = res.pop("keep-all", 0)
    if not any(int(v) > 0 for v in res.values()):
        return {"keep-all": 1}
    if keep_all:
        raise ParamError({what: "invalid format - keep-all cannot be set together with other "
                                "options."})
    return {k: int(v) for k, v in res.items()}


def vzdump_retention(p, storage):
    """pve-manager PVE/VZDump.pm, new(): the job's prune options are the
    'prune-backups' parameter, else the storage's, else the vzdump
    defaults ('keep-all=1', pve-guest-common src/PVE/VZDump/Common.pm);
    'remove' defaults to 1 (Common.pm) and is forced to 0 under keep-all.
    Returns (prune options, remove, backup limit): the limit is the sum
    of the keep-* values (exec_backup_task), 0 under keep-all."""
    if p.get("prune-backups") is not None:
        prune = parse_prune_backups(p["prune-backups"], "prune-backups")
    elif storage.prune:
        prune = parse_prune_backups(storage.prune, "prune-backups")
    else:
        prune = {"keep-all": 1}
    remove = bool(int(p.get("remove", 1)))
    if prune.get("keep-all"):
        remove = False
    limit = 0 if prune.get("keep-all") else sum(prune.values())
    return prune, remove, limit


def backup_limit_error(ctx, world, sid, storage, vmid, p, prune, remove, limit):
    """pve-manager PVE/VZDump.pm, exec_backup_task: with a backup limit and
    remove=0, or with protected=1, the guest's backups on the target
    storage are counted (volume_list, subtype lxc or none).  A protected
    backup is held only to max-protected-backups (and then is not held
    to the limit at all: the limit check is the elsif); otherwise the
    backups that are not protected must be fewer than the limit."""
    if not ((limit and not remove) or p.get("protected")):
        return None
    mine = [v for v in world.volumes if v["storage"] == sid and v.get("vmid") == vmid
            and v["content"] == "backup" and v.get("subtype") in (None, "lxc")]
    count = sum(1 for v in mine if not v.get("protected"))
    protected_count = len(mine) - count
    if p.get("protected"):
        # pve-storage src/PVE/Storage.pm, get_max_protected_backups: the
        # storage's setting, else unlimited (-1) with Datastore.Allocate
        # on the storage, else 5.
        mx = storage.max_protected
        if mx is None:
            mx = -1 if ctx.has("/storage/%s" % sid, "Datastore.Allocate") else 5
        if mx > -1 and protected_count >= mx:
            return ("The number of protected backups per guest is limited to %d on storage "
                    "'%s'" % (mx, sid))
        return None
    if count >= limit:
        return ("There is a max backup limit of %d enforced by the target storage or the "
                "vzdump parameters. Either increase the limit or delete old backups." % limit)
    return None


def prune_mark_backup_group(group, keep):
    """pve-storage src/PVE/Storage.pm, prune_mark_backup_group and
    $prune_mark: newest first, each keep-* option keeps the newest backup
    of its next N periods not yet covered; the rest is marked 'remove'.
    Entries arrive with mark 'protected' already set where protected."""
    positive = [k for k in keep if k != "keep-all" and keep[k] > 0]
    if keep.get("keep-all") or not positive:
        for e in group:
            if not e.get("mark") or e["mark"] == "remove":
                e["mark"] = "keep"
        return
    lst = sorted(group, key=lambda e: e["ctime"], reverse=True)

    def period(kind, ctime):
        t = time.localtime(ctime)
        if kind == "keep-last":
            return ctime
        if kind == "keep-hourly":
            return (t.tm_hour, t.tm_mday, t.tm_mon, t.tm_year)
        if kind == "keep-daily":
            return (t.tm_mday, t.tm_mon, t.tm_year)
        if kind == "keep-weekly":
            iso = datetime.date(t.tm_year, t.tm_mon, t.tm_mday).isocalendar()
            return (iso[1], iso[0])
        if kind == "keep-monthly":
            return (t.tm_mon, t.tm_year)
        return (t.tm_year,)

    for kind in KEEP_OPTIONS:
        n = keep.get(kind)
        if not n:
            continue
        already = {period(kind, e["ctime"]) for e in lst if e.get("mark") == "keep"}
        newly = set()
        for e in lst:
            pid = period(kind, e["ctime"])
            if e.get("mark") is not None or pid in already:
                continue
            if pid not in newly:
                if len(newly) >= n:
                    break
                newly.add(pid)
                e["mark"] = "keep"
            else:
                e["mark"] = "remove"
    for e in lst:
        if e.get("mark") is None:
            e["mark"] = "remove"


def vzdump_cmdline(vmids, p, node):
    def q(v):
        v = str(v)
        return v if re.fullmatch(r"[A-Za-z0-9_\-.,:/@+=]+", v) else "'" + v.replace("'", "'\\''") + "'"
    parts = ["vzdump"]
    if vmids:
        parts.append(" ".join(str(x) for x in vmids))
    for k, v in p.items():
        if k in ("vmid", "node") or v is None:
            continue
        parts.append("--%s %s" % (k, q(v)))
    parts.append("--node %s" % node)
    return " ".join(parts)


@route("POST", r"/nodes/(?P<node>[^/]+)/vzdump", kind="vzdump", vmid_from="vzdump")
def post_vzdump(ctx):
    real_node(ctx)
    p = ctx.validate(VZDUMP_SCHEMA)
    w = ctx.world
    if p.get("stdout"):
        raise ParamError({"stdout": "option is only allowed on the command line interface."})
    for key in ("maxfiles", "tmpdir", "dumpdir", "script", "job-id"):
        if p.get(key) is not None:
            raise ParamError({key: "Only root may set this option."})
    for key in ("bwlimit", "ionice", "performance"):
        if p.get(key) is not None:
            ctx.check("/", "Sys.Modify")
    if p.get("prune-backups") is not None and p.get("storage"):
        ctx.check("/storage/%s" % p["storage"], "Datastore.Allocate")
    if p.get("all") and p.get("vmid"):
        raise ParamError({"all": "option conflicts with option 'vmid'"})
    if p.get("exclude") and p.get("vmid"):
        raise ParamError({"exclude": "option conflicts with option 'vmid'"})
    if p.get("pool") and p.get("vmid"):
        raise ParamError({"pool": "option conflicts with option 'vmid'"})
    if p.get("notes-template") and "\n" in p["notes-template"]:
        raise ParamError({"notes-template": "contains a line feed"})
    if p.get("exclude") is not None and not p.get("pool"):
        p["all"] = 1
    if not (p.get("all") or p.get("stop") or p.get("pool")) and not p.get("vmid"):
        raise ParamError({"vmid": "property is missing"})
    if p.get("pool"):
        die("pool '%s' does not exist" % p["pool"])

    if p.get("vmid"):
        ids = sorted(set(int(x) for x in P.split_list(p["vmid"])))
    else:
        excl = set(int(x) for x in P.split_list(p.get("exclude")))
        ids = sorted(v for v in w.guests if v not in excl)
    local = [v for v in ids if v not in w.remote_vmids or v in w.guests]
    skip = [v for v in ids if v in w.remote_vmids and v not in w.guests]
    if not local and not p.get("all"):
        return "OK"
    # pve-manager PVE/API2/VZDump.pm vzdump: get_storage_param is
    # 'storage' || 'local' (not vzdump.conf's default)
    ctx.check("/storage/%s" % (p.get("storage") or "local"), "Datastore.AllocateSpace")

    taskid = local[0] if len(local) == 1 else None
    t = w.new_task("vzdump", taskid, "vzdump", taskid, vmids=list(local))
    cmdline = vzdump_cmdline(local, p, w.node)
    t.log.append("INFO: starting new backup job: %s" % cmdline)
    if skip:
        t.log.append("INFO: skip external VMs: %s" % ", ".join(str(x) for x in skip))
    sid = p.get("storage") or "local"
    storage = w.storages.get(sid)
    job = {"sid": sid, "p": p, "guests": []}
    if storage is None:
        t.fail = ("could not get storage information for '%s': storage '%s' does not exist"
                  % (sid, sid))
    elif not storage.supports("backup"):
        t.fail = ("could not get storage information for '%s': can't use storage '%s' for "
                  "backups - wrong content type" % (sid, sid))
    else:
        prune, remove, limit = vzdump_retention(p, storage)
        job["prune"], job["remove"] = prune, remove
        for vmid in local:
            if vmid in w.guests and not p.get("all"):
                if not ctx.has("/vms/%d" % vmid, "VM.Backup"):
                    t.fail = "Permission check failed (/vms/%d, VM.Backup)" % vmid
                    break
        if t.fail is None:
            for vmid in local:
                g = w.guests.get(vmid)
                if g is not None and p.get("all") and not ctx.has("/vms/%d" % vmid, "VM.Backup"):
                    continue
                entry = {"vmid": vmid, "err": None}
                if g is None:
                    entry["err"] = "unable to find VM '%d'" % vmid
                else:
                    entry["err"] = backup_limit_error(ctx, w, sid, storage, vmid, p, prune,
                                                      remove, limit)
                if entry["err"] is None and g is not None:
                    lk = lock_error(g)
                    if lk:
                        entry["err"] = lk
                        entry["late"] = True
                    else:
                        g.conf["lock"] = "backup"
                        entry["locked"] = True
                        entry["conf"] = strip_for_backup(g.current_conf(with_pending=False))
                job["guests"].append(entry)
            if any(e["err"] for e in job["guests"]):
                t.fail = "job errors"
    job["start"] = time.time()
    t.on_ok = lambda world, task: vzdump_finish(world, task, job, None)
    t.on_fail = lambda world, task, msg: vzdump_finish(world, task, job, msg)
    w.launch(t)
    return t.upid


def vzdump_finish(world, t, job, failmsg):
    """Writes the per-guest log lines and the backup volumes.  failmsg:
    None (all fine), 'job errors' (some guests failed, decided when the job
    started) or any other text (injected fault / interrupted: the job aborts
    at the first guest still to do)."""
    p = job["p"]
    sid = job["sid"]
    storage = world.storages.get(sid)
    abort = failmsg if failmsg and failmsg != "job errors" else None
    bt = int(job["start"])
    for e in job["guests"]:
        vmid = e["vmid"]
        g = world.guests.get(vmid)
        if e.get("locked") and g is not None and g.conf.get("lock") == "backup" and not (
                abort and t.keep_lock):
            del g.conf["lock"]
    if not job["guests"]:
        return
    for e in job["guests"]:
        vmid = e["vmid"]
        g = world.guests.get(vmid)
        lt = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(bt))
        if e["err"] and not e.get("late"):
            t.log.append("ERROR: Backup of VM %d failed - %s" % (vmid, e["err"]))
            t.log.append("INFO: Failed at %s" % lt)
            continue
        t.log.append("INFO: Starting Backup of VM %d (lxc)" % vmid)
        t.log.append("INFO: Backup started at %s" % lt)
        status = g.status if g is not None else "stopped"
        t.log.append("INFO: status = %s" % status)
        err = e["err"] or abort
        if err:
            t.log.append("ERROR: Backup of VM %d failed - %s" % (vmid, err))
            t.log.append("INFO: Failed at %s" % lt)
            if abort:
                break
            continue
        conf = e["conf"]
        t.log.append("INFO: CT Name: %s" % (re.sub(r"\s", "", str(conf.get("hostname", "")))
                                          or "CT%d" % vmid))
        mode = p.get("mode") or "snapshot"
        if status != "running":
            mode = "stop"
        guest = Guest(vmid, conf)
        for k, d in guest.mountpoints():
            if k == "rootfs":
                t.log.append("INFO: including mount point rootfs ('/') in backup")
            elif d["type"] != "volume":
                t.log.append("INFO: excluding %s mount point %s ('%s') from backup (not a volume)"
                             % (d["type"], k, d.get("mp")))
            elif str(d.get("backup", "0")) == "1":
                t.log.append("INFO: including mount point %s ('%s') in backup" % (k, d.get("mp")))
            else:
                t.log.append("INFO: excluding volume mount point %s ('%s') from backup (disabled)"
                             % (k, d.get("mp")))
        if mode == "snapshot":
            for k, d in guest.mountpoints():
                s = world.storages.get(volume_storage(d.get("volume", "")) or "")
                if d["type"] == "volume" and (s is None or not s.can_snapshot()):
                    t.log.append("INFO: mode failure - some volumes do not support snapshots")
                    t.log.append("INFO: trying 'suspend' mode instead")
                    mode = "suspend"
                    break
        t.log.append("INFO: backup mode: %s" % mode)
        t.log.append("INFO: ionice priority: 7")
        if mode == "snapshot":
            t.log.append("INFO: create storage snapshot 'vzdump'")
        size = 150000000 + (vmid * 7919 + bt) % 900000000
        if storage.type == "pbs":
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bt))
            while world.volume("%s:backup/ct/%d/%s" % (sid, vmid, iso)):
                bt += 1
                iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(bt))
            volid = "%s:backup/ct/%d/%s" % (sid, vmid, iso)
            t.log.append("INFO: creating Proxmox Backup Server archive 'ct/%d/%s'" % (vmid, iso))
            t.log.append("INFO: run: /usr/bin/proxmox-backup-client backup --crypt-mode=none "
                         "pct.conf:/var/tmp/vzdumptmp%d_%d/etc/vzdump/pct.conf root.pxar:"
                         "/mnt/vzsnap0 --include-dev /mnt/vzsnap0/./ --skip-lost-and-found "
                         "--exclude=/tmp/?* --exclude=/var/tmp/?* --exclude=/var/run/?*.pid "
                         "--backup-type ct --backup-id %d --backup-time %d --repository "
                         "root@pam@pbs.example:store1" % (t.pid, vmid, vmid, bt))
            vol = {"volid": volid, "content": "backup", "format": "pbs-ct", "subtype": "lxc",
                   "vmid": vmid, "ctime": bt, "size": size}
        else:
            comp = {None: "", "0": "", "1": ".lzo", "lzo": ".lzo", "gzip": ".gz",
                    "zstd": ".zst"}[p.get("compress")]
            stamp = bt
            while True:
                name = "vzdump-lxc-%d-%s.tar%s" % (vmid, time.strftime(
                    "%Y_%m_%d-%H_%M_%S", time.localtime(stamp)), comp)
                volid = "%s:backup/%s" % (sid, name)
                if not world.volume(volid):
                    break
                stamp += 1
            t.log.append("INFO: creating vzdump archive '%s/dump/%s'" % (storage.path, name))
            t.log.append("INFO: Total bytes written: %d (%.1fGiB, 41MiB/s)" % (
                size * 2, size * 2 / (1 << 30)))
            t.log.append("INFO: archive file size: %dMB" % (size // (1 << 20)))
            vol = {"volid": volid, "content": "backup", "format": "tar" + comp,
                   "subtype": "lxc", "vmid": vmid, "ctime": stamp, "size": size}
        vol["config"] = conf
        vol["storage"] = sid
        if p.get("notes-template"):
            t.log.append("INFO: adding notes to backup")
            try:
                vol["notes"] = generate_notes(p["notes-template"], world, g, vmid)
            except ValueError as ex:
                t.log.append("WARN: unable to add notes - %s" % ex)
                t.warn_lines.append(str(ex))
        if p.get("protected"):
            t.log.append("INFO: marking backup as protected")
            vol["protected"] = 1
        world.volumes.append(world.norm_volume(vol))
        # pve-manager PVE/VZDump.pm, exec_backup_task: marked protected
        # before pruning; with remove (default 1, 0 under keep-all) the
        # guest's group on the storage is pruned by the job's options
        # (pve-storage Plugin.pm prune_backups: protected backups are
        # never removed).
        if job.get("remove"):
            prune = job["prune"]
            keepstr = ", ".join("%s=%s" % (k, v) for k, v in sorted(prune.items()))
            t.log.append("INFO: prune older backups with retention: %s" % keepstr)
            group = [{"vol": v, "ctime": v["ctime"],
                      "mark": "protected" if v.get("protected") else None}
                     for v in world.volumes if v["storage"] == sid and v.get("vmid") == vmid
                     and v["content"] == "backup" and v.get("subtype") in (None, "lxc")]
            prune_mark_backup_group(group, prune)
            pruned = 0
            for e in group:
                if e["mark"] != "remove":
                    continue
                world.volumes.remove(e["vol"])
                pruned += 1
                t.log.append("INFO: removing backup '%s'" % e["vol"]["volid"])
            t.log.append("INFO: pruned %d backup(s)%s" % (
                pruned, " not covered by keep-retention policy" if pruned else ""))
        if mode == "snapshot":
            t.log.append("INFO: cleanup temporary 'vzdump' snapshot")
        t.log.append("INFO: Finished Backup of VM %d (00:00:%02d)" % (
            vmid, max(1, int(time.time() - job["start"]))))
        t.log.append("INFO: Backup finished at %s" % time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime()))
    if abort:
        t.log.append("ERROR: Backup job failed - %s" % abort)
    elif failmsg:
        t.log.append("INFO: Backup job finished with errors")
    else:
        t.log.append("INFO: Backup job finished successfully")
