"""Power actions and snapshots (workers vzstart, vzstop, vzshutdown, vzreboot,
vzsnapshot, vzdelsnapshot, vzrollback)."""

import copy
import re
import time

from . import params as P
from .api import (BOOL, INT, NODE, STR, VMID, check_lock, load_guest, lock_error,
                  maybe_shuffle, o, output_conf, real_node, route, set_running, set_stopped,
                  volume_storage)
from .params import ParamError, die
from .world import norm_description


def _power_common(ctx, extra_schema):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.PowerMgmt")
    schema = {"node": NODE, "vmid": VMID}
    schema.update(extra_schema)
    p = ctx.validate(schema)
    if p.get("skiplock") is not None:
        raise ParamError({"skiplock": "Only root may use this option."})
    return p


def ha_request(ctx, vmid, action, kind, timeout=None):
    """pve-container src/PVE/API2/LXC/Status.pm vm_start / vm_stop /
    vm_shutdown for an HA-managed CT (PVE::HA::Config::vm_is_ha_managed):
    the worker only runs 'ha-manager set ct:<vmid> --state started' or
    'ha-manager crm-command stop ct:<vmid> <timeout>' and ends OK as soon
    as the request is queued (hastart / hastop).  The HA stack changes the
    CT later: after the 'ha_delay' setting, unless the resource is 'stuck'
    (the sim's stand-in for a service the LRM cannot start or stop)."""
    w = ctx.world
    wtype = "hastart" if action == "start" else "hastop"
    t = w.new_task(wtype, vmid, kind, vmid)
    if action == "start":
        t.log.append("Requesting HA start for CT %d" % vmid)
    else:
        t.log.append("Requesting HA stop for CT %d" % vmid)
    target = "started" if action == "start" else "stopped"

    def ok(world, task):
        res = world.ha.get(vmid)
        if res is None:
            return
        res["state"] = target

        def apply():
            with world.lock:
                r = world.ha.get(vmid)
                g = world.guests.get(vmid)
                if r is None or g is None or r.get("stuck") or r.get("state") != target:
                    return
                if target == "started" and g.status != "running" and not g.conf.get("lock"):
                    set_running(g)
                elif target == "stopped" and g.status == "running":
                    set_stopped(g)
        world.scheduler.call_at(time.time() + float(world.settings.get("ha_delay", 1.0)),
                                apply)
    t.on_ok = ok
    w.launch(t)
    return t.upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/start", kind="start",
       vmid_from="path")
def post_start(ctx):
    """pve-container src/PVE/API2/LXC/Status.pm vm_start: only
    check_running is synchronous, so a CT that does not exist gets a UPID
    and its worker fails loading the config."""
    p = _power_common(ctx, {"skiplock": o(BOOL), "debug": o(BOOL)})
    w = ctx.world
    vmid = p["vmid"]
    g = w.guests.get(vmid)
    if g is not None and g.status == "running":
        die("CT %d already running" % vmid)
    if vmid in w.ha:
        return ha_request(ctx, vmid, "start", "start")
    t = w.new_task("vzstart", vmid, "start", vmid)
    t.fail = w.worker_lock_config(t, vmid)
    if t.fail is None and g is None:
        t.fail = "Configuration file 'nodes/%s/lxc/%d.conf' does not exist" % (w.node, vmid)
    if t.fail is None and g.conf.get("template"):
        t.fail = "you can't start a CT if it's a template"
    if t.fail is None:
        t.fail = lock_error(g, allow=("mounted",))

    def ok(world, task):
        gg = world.guests.get(vmid)
        if gg is not None:
            set_running(gg)
    t.on_ok = ok
    w.launch(t)
    return t.upid


def _stop_task(ctx, wtype, kind, p, final):
    """vm_stop / vm_shutdown / vm_reboot: 'not running' is checked with
    check_running only, so a CT that does not exist is 'not running'."""
    w = ctx.world
    vmid = p["vmid"]
    g = w.guests.get(vmid)
    if g is None or g.status != "running":
        die(("VM %d not running" if kind == "reboot" else "CT %d not running") % vmid)
    t = w.new_task(wtype, vmid, kind, vmid)
    t.fail = w.worker_lock_config(t, vmid)
    if t.fail is None:
        t.fail = lock_error(g, allow=("mounted",) if kind == "stop" else ())

    def ok(world, task):
        gg = world.guests.get(vmid)
        if gg is not None:
            final(gg)
    t.on_ok = ok
    w.launch(t)
    return t


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/stop", kind="stop",
       vmid_from="path")
def post_stop(ctx):
    extra = {"skiplock": o(BOOL)}
    if ctx.world.v.overrule_shutdown:
        extra["overrule-shutdown"] = o(BOOL)
    p = _power_common(ctx, extra)
    w = ctx.world
    g = w.guests.get(p["vmid"])
    if g is None or g.status != "running":
        die("CT %d not running" % p["vmid"])
    if p["vmid"] in w.ha:
        if p.get("overrule-shutdown"):
            raise ParamError({"overrule-shutdown": "Not applicable for HA resources."})
        return ha_request(ctx, p["vmid"], "stop", "stop")
    t = _stop_task(ctx, "vzstop", "stop", p, set_stopped)
    if p.get("overrule-shutdown"):
        for other in list(w.task_order):
            if other.running and other.kind == "shutdown" and t.vmid in other.vmids:
                other.hung = False
                w.finish_task(other.upid, forced_exit="interrupted by signal")
                t.log.append("overruling active shutdown tasks (%s)" % other.upid)
    return t.upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/shutdown", kind="shutdown",
       vmid_from="path")
def post_shutdown(ctx):
    p = _power_common(ctx, {"timeout": o(INT, minimum=0), "forceStop": o(BOOL)})
    w = ctx.world
    g = w.guests.get(p["vmid"])
    if g is None or g.status != "running":
        die("CT %d not running" % p["vmid"])
    if p["vmid"] in w.ha:
        return ha_request(ctx, p["vmid"], "stop", "shutdown", p.get("timeout") or 60)
    return _stop_task(ctx, "vzshutdown", "shutdown", p, set_stopped).upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/reboot", kind="reboot",
       vmid_from="path")
def post_reboot(ctx):
    p = _power_common(ctx, {"timeout": o(INT, minimum=0)})
    return _stop_task(ctx, "vzreboot", "reboot", p, set_running).upid


# --------------------------------------------------------------------------
# Snapshots

def snapshot_list_items(world, g):
    items = []
    for name in maybe_shuffle(world, sorted(g.snapshots)):
        s = g.snapshots[name]
        d = {"name": name, "snaptime": int(s.get("snaptime", 0)),
             "description": s.get("description") or ""}
        if s.get("parent"):
            d["parent"] = s["parent"]
        if s.get("snapstate"):
            d["snapstate"] = s["snapstate"]
        items.append(d)
    cur = {"name": "current", "description": "You are here!", "digest": g.digest(),
           "running": 1 if g.status == "running" else 0}
    if g.conf.get("parent"):
        cur["parent"] = g.conf["parent"]
    items.append(cur)
    return items


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot")
def get_snapshots(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID})
    g = load_guest(ctx.world, p["vmid"])
    return snapshot_list_items(ctx.world, g)


def snapshot_copy_config(conf):
    """AbstractConfig snapshot_copy_config."""
    out = {}
    for k, v in conf.items():
        if k in ("snapshots", "snapstate", "snaptime", "vmstate", "lock", "digest",
                 "description", "pending") or re.match(r"^unused\d+$", k):
            continue
        out[k] = copy.deepcopy(v)
    return out


def snapshot_feature_error(world, g, conf):
    for k, d in g.mountpoints(conf):
        if d["type"] != "volume":
            return "snapshot feature is not available"
        sid = volume_storage(d["volume"])
        s = world.storages.get(sid)
        if s is None or not s.can_snapshot():
            return "snapshot feature is not available"
    return None


def lvm_lines(world, g, conf, fmt):
    out = []
    for k, d in g.mountpoints(conf):
        if d["type"] != "volume":
            continue
        sid = volume_storage(d["volume"])
        s = world.storages.get(sid)
        if s is not None and s.type == "lvmthin":
            out.append(fmt % d["volume"].split(":", 1)[1])
    return out


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot", kind="snapshot",
       vmid_from="path")
def post_snapshot(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Snapshot")
    p = ctx.validate({"node": NODE, "vmid": VMID,
                      "snapname": {"type": "string", "format": P.fmt_configid, "maxLength": 40},
                      "description": o(STR)})
    w = ctx.world
    vmid, name = p["vmid"], p["snapname"]
    if name in ("current", "vzdump"):
        die("unable to use snapshot name '%s' (reserved name)" % name)
    t = w.new_task("vzsnapshot", vmid, "snapshot", vmid)
    g = w.guests.get(vmid)
    if g is None:
        t.fail = "Configuration file 'nodes/%s/lxc/%d.conf' does not exist" % (w.node, vmid)
    elif g.conf.get("template"):
        t.fail = "you can't take a snapshot if it's a template"
    elif lock_error(g):
        t.fail = lock_error(g)
    elif name in g.snapshots:
        t.fail = "snapshot name '%s' already used" % name
    else:
        t.fail = snapshot_feature_error(w, g, g.conf)
    if t.fail is None:
        # snapshot_prepare: lock + half-finished snapshot section
        snap = snapshot_copy_config(g.conf)
        snap["snapstate"] = "prepare"
        snap["snaptime"] = int(time.time())
        desc = norm_description(p.get("description") or "")
        if desc:
            snap["description"] = desc
        g.snapshots[name] = snap
        g.conf["lock"] = "snapshot"

        def ok(world, task):
            gg = world.guests.get(vmid)
            if gg is None or name not in gg.snapshots:
                return
            task.log.extend(lvm_lines(world, gg, gg.snapshots[name],
                                      '  Logical volume "snap_%s_' + name + '" created.'))
            gg.snapshots[name].pop("snapstate", None)
            gg.conf["parent"] = name
            if gg.conf.get("lock") == "snapshot":
                del gg.conf["lock"]

        def fail(world, task, msg):
            gg = world.guests.get(vmid)
            if gg is None:
                return
            if task.keep_lock:
                return
            gg.snapshots.pop(name, None)
            if gg.conf.get("lock") == "snapshot":
                del gg.conf["lock"]
        t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot/(?P<snapname>[^/]+)")
def get_snapshot_index(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    ctx.validate({"node": NODE, "vmid": VMID, "snapname": STR})
    return [{"rel": "child", "href": "rollback"}, {"rel": "child", "href": "config"}]


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot/(?P<snapname>[^/]+)/config")
def get_snapshot_config(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID, "snapname": STR})
    g = load_guest(ctx.world, p["vmid"])
    snap = g.snapshots.get(p["snapname"])
    if snap is None:
        die("snapshot '%s' does not exist" % p["snapname"])
    d = output_conf(copy.deepcopy(snap))
    d.pop("lxc", None)
    return d


@route("PUT", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot/(?P<snapname>[^/]+)/config",
       kind="snapshot_config", vmid_from="path")
def put_snapshot_config(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Snapshot")
    p = ctx.validate({"node": NODE, "vmid": VMID, "snapname": STR, "description": o(STR)})
    g = load_guest(ctx.world, p["vmid"])
    check_lock(g)
    snap = g.snapshots.get(p["snapname"])
    if snap is None:
        die("snapshot '%s' does not exist" % p["snapname"])
    if "description" in p:
        desc = norm_description(p.get("description") or "")
        if desc:
            snap["description"] = desc
        else:
            snap.pop("description", None)
    return None


@route("DELETE", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot/(?P<snapname>[^/]+)",
       kind="delete_snapshot", vmid_from="path")
def delete_snapshot(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Snapshot")
    p = ctx.validate({"node": NODE, "vmid": VMID,
                      "snapname": {"type": "string", "format": P.fmt_configid, "maxLength": 40},
                      "force": o(BOOL)})
    w = ctx.world
    vmid, name = p["vmid"], p["snapname"]
    t = w.new_task("vzdelsnapshot", vmid, "delete_snapshot", vmid)
    g = w.guests.get(vmid)
    if g is None:
        t.fail = "Configuration file 'nodes/%s/lxc/%d.conf' does not exist" % (w.node, vmid)
    elif lock_error(g) and not p.get("force"):
        t.fail = lock_error(g)
    elif g.conf.get("template"):
        t.fail = "you can't delete a snapshot if vm is a template"
    elif name not in g.snapshots:
        t.fail = "snapshot '%s' does not exist" % name
    if t.fail is None:
        g.snapshots[name]["snapstate"] = "delete"
        g.conf["lock"] = "snapshot-delete"

        def ok(world, task):
            gg = world.guests.get(vmid)
            if gg is None or name not in gg.snapshots:
                return
            task.log.extend(lvm_lines(world, gg, gg.snapshots[name],
                                      '  Logical volume "snap_%s_' + name + '" successfully removed.'))
            removed = gg.snapshots.pop(name)
            parent = removed.get("parent")
            for s in gg.snapshots.values():
                if s.get("parent") == name:
                    if parent:
                        s["parent"] = parent
                    else:
                        s.pop("parent", None)
            if gg.conf.get("parent") == name:
                if parent:
                    gg.conf["parent"] = parent
                else:
                    gg.conf.pop("parent", None)
            if gg.conf.get("lock") == "snapshot-delete":
                del gg.conf["lock"]

        def fail(world, task, msg):
            gg = world.guests.get(vmid)
            if gg is None or task.keep_lock:
                return
            if name in gg.snapshots:
                gg.snapshots[name].pop("snapstate", None)
            if gg.conf.get("lock") == "snapshot-delete":
                del gg.conf["lock"]
        t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/snapshot/(?P<snapname>[^/]+)/rollback",
       kind="rollback", vmid_from="path")
def post_rollback(ctx):
    real_node(ctx)
    ctx.check_any("/vms/%s" % ctx.pp["vmid"], ["VM.Snapshot", "VM.Snapshot.Rollback"])
    p = ctx.validate({"node": NODE, "vmid": VMID,
                      "snapname": {"type": "string", "format": P.fmt_configid, "maxLength": 40},
                      "start": o(BOOL)})
    w = ctx.world
    vmid, name = p["vmid"], p["snapname"]
    t = w.new_task("vzrollback", vmid, "rollback", vmid)
    g = w.guests.get(vmid)
    if g is None:
        t.fail = "Configuration file 'nodes/%s/lxc/%d.conf' does not exist" % (w.node, vmid)
    elif name not in g.snapshots:
        t.fail = "snapshot '%s' does not exist" % name
    else:
        snap = g.snapshots[name]
        newer = [n for n, s in g.snapshots.items()
                 if n != name and int(s.get("snaptime", 0)) > int(snap.get("snaptime", 0))]
        if newer:
            for k, d in g.mountpoints(snap):
                s = w.storages.get(volume_storage(d.get("volume", "")) or "")
                if s is not None and s.type == "zfspool":
                    t.fail = "can't rollback, '%s' is not most recent snapshot on '%s'" % (
                        name, d["volume"])
                    break
        if t.fail is None and snap.get("snapstate"):
            t.fail = "unable to rollback to incomplete snapshot (snapstate = %s)" % snap["snapstate"]
        if t.fail is None:
            t.fail = lock_error(g)
    if t.fail is None:
        # __snapshot_rollback_vm_stop: hard stop, then lock
        if g.status == "running":
            set_stopped(g)
        g.conf["lock"] = "rollback"
        start = bool(p.get("start"))

        def ok(world, task):
            gg = world.guests.get(vmid)
            if gg is None or name not in gg.snapshots:
                return
            snapconf = gg.snapshots[name]
            task.log.extend(lvm_lines(world, gg, snapconf,
                                      '  Logical volume "%s" successfully removed.'))
            newconf = snapshot_copy_config(snapconf)
            newconf.pop("parent", None)
            for k, v in gg.conf.items():
                if k == "description" or re.match(r"^unused\d+$", k):
                    newconf[k] = v
            newconf["parent"] = name
            gg.conf = newconf
            gg.pending = {}
            gg.pending_delete = []
            if start:
                set_running(gg)

        def fail(world, task, msg):
            gg = world.guests.get(vmid)
            if gg is None or task.keep_lock:
                return
            if gg.conf.get("lock") == "rollback":
                del gg.conf["lock"]
        t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


# --------------------------------------------------------------------------
