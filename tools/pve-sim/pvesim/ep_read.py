"""Read endpoints: version, nodes, node status, permissions, LXC list/status/config."""

import copy
import random
import time

from . import params as P
from .api import (BOOL, NODE, STR, VMID, load_guest, maybe_shuffle, o, output_conf, real_node,
                  route, vmstatus)
from .params import ParamError, die
from .world import sort_indexed_key


@route("GET", r"/version")
def get_version(ctx):
    ctx.validate({})
    v = ctx.world.v
    return {"version": v.version, "release": v.release, "repoid": v.repoid}


def node_stats(world):
    running = [g for g in world.guests.values() if g.status == "running"]
    maxmem = 33537990656
    used = min(maxmem - (1 << 30), 1952485376 + sum(
        int(int(g.conf.get("memory", 512)) * 1048576 * 0.3) for g in running))
    return maxmem, used


@route("GET", r"/nodes")
def get_nodes(ctx):
    ctx.validate({})
    w = ctx.world
    d = {"id": "node/%s" % w.node, "node": w.node, "type": "node", "status": "online",
         "ssl_fingerprint": w.fingerprint}
    if ctx.has("/nodes/%s" % w.node, "Sys.Audit"):
        maxmem, used = node_stats(w)
        d.update({"cpu": round(0.002 + random.random() * 0.05, 6), "maxcpu": 8, "mem": used,
                  "maxmem": maxmem, "disk": 12836352000, "maxdisk": 13471539200,
                  "uptime": int(time.time() - w.boot_time), "level": ""})
    return [d]


@route("GET", r"/nodes/(?P<node>[^/]+)")
def get_node_index(ctx):
    real_node(ctx)
    ctx.validate({"node": NODE})
    return [{"name": n} for n in ("lxc", "status", "storage", "tasks", "vzdump", "version")]


@route("GET", r"/nodes/(?P<node>[^/]+)/status")
def get_node_status(ctx):
    node = real_node(ctx)
    ctx.check("/nodes/%s" % node, "Sys.Audit")
    ctx.validate({"node": NODE})
    w = ctx.world
    v = w.v
    maxmem, used = node_stats(w)
    first = w.first_status
    w.first_status = False
    la = [0.16 + random.random() * 0.3, 0.10 + random.random() * 0.2, 0.02 + random.random() * 0.1]
    d = {
        "uptime": int(time.time() - w.boot_time),
        "idle": 0,
        "loadavg": ["%.2f" % x for x in la],
        "kversion": "Linux %s %s" % v.kernel,
        "cpuinfo": {"model": "Intel(R) Core(TM) i7-6700 CPU @ 3.40GHz", "sockets": 1,
                    "cores": 4, "cpus": 8, "mhz": "3400.000", "hvm": "1", "user_hz": 100,
                    "flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov "
                             "pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall "
                             "nx pdpe1gb rdtscp lm constant_tsc vmx smx est tm2 ssse3 fma cx16 "
                             "sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand"},
        "cpu": 0 if first else round(0.01 + random.random() * 0.1, 6),
        "wait": 0 if first else round(random.random() * 0.01, 6),
        "memory": {"total": maxmem, "used": used, "free": maxmem - used},
        "swap": {"total": 8589930496, "used": 0, "free": 8589930496},
        "ksm": {"shared": 0},
        "rootfs": {"total": 13471539200, "used": 12836352000, "avail": 1564672,
                   "free": 13471539200 - 12836352000},
        "pveversion": v.pveversion,
    }
    if v.memory_available:
        d["memory"]["available"] = maxmem - used + (1 << 28)
    if v.boot_info:
        d["current-kernel"] = {"sysname": "Linux", "release": v.kernel[0],
                               "version": v.kernel[1], "machine": "x86_64"}
        d["boot-info"] = {"mode": "efi", "secureboot": 0}
    return d


@route("GET", r"/access/permissions")
def get_permissions(ctx):
    p = ctx.validate({"path": o(STR), "userid": o(STR)})
    w = ctx.world
    uid = p.get("userid")
    if uid and uid not in (w.token_id,):
        ctx.check("/access", "Sys.Audit")
        return {}
    perms = w.acl.permissions(["/nodes/%s" % w.node] + ["/vms/%d" % v for v in w.guests]
                              + ["/storage/%s" % s for s in w.storages])
    if p.get("path"):
        privs, prop = w.acl.lookup(p["path"])
        return {p["path"]: {x: (1 if prop else 0) for x in sorted(privs)}}
    return perms


# --------------------------------------------------------------------------
# LXC read endpoints

@route("GET", r"/nodes/(?P<node>[^/]+)/lxc")
def get_lxc_list(ctx):
    real_node(ctx)
    ctx.validate({"node": NODE})
    w = ctx.world
    out = []
    for vmid in maybe_shuffle(w, sorted(w.guests)):
        if not ctx.has("/vms/%d" % vmid, "VM.Audit"):
            continue
        d = vmstatus(w, w.guests[vmid])
        if not w.v.vmid_int:
            d["vmid"] = str(d["vmid"])
        out.append(d)
    return out


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)")
def get_lxc_index(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID})
    load_guest(ctx.world, p["vmid"])
    return [{"subdir": s} for s in ("config", "pending", "status", "vncproxy", "termproxy",
                                     "vncwebsocket", "spiceproxy", "migrate", "clone", "rrd",
                                     "rrddata", "firewall", "snapshot", "resize", "interfaces")]


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status")
def get_lxc_status_index(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID})
    load_guest(ctx.world, p["vmid"])
    return [{"subdir": s} for s in ("current", "start", "stop", "shutdown", "reboot",
                                     "suspend", "resume")]


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/current")
def get_lxc_status(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID})
    g = load_guest(ctx.world, p["vmid"])
    return vmstatus(ctx.world, g, full=True)


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/config")
def get_lxc_config(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID, "current": o(BOOL),
                      "snapshot": o(STR, format=P.fmt_configid, maxLength=40)})
    g = load_guest(ctx.world, p["vmid"])
    if p.get("snapshot"):
        if p.get("current"):
            raise ParamError({"current": "option is mutually exclusive with 'snapshot'"})
        snap = g.snapshots.get(p["snapshot"])
        if snap is None:
            die("snapshot '%s' does not exist" % p["snapshot"])
        conf = copy.deepcopy(snap)
        conf.pop("snapstate", None)
    else:
        conf = g.current_conf(with_pending=not p.get("current"))
    conf = output_conf(conf)
    conf["digest"] = g.digest()
    if "env" in conf and not ctx.has("/vms/%d" % g.vmid, "VM.Config.Options"):
        conf.pop("env")
    return conf


@route("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/pending")
def get_lxc_pending(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Audit")
    p = ctx.validate({"node": NODE, "vmid": VMID})
    g = load_guest(ctx.world, p["vmid"])
    out = []
    keys = set(g.conf) | set(g.pending) | set(g.pending_delete)
    for k in sorted(keys, key=sort_indexed_key):
        if k in ("lxc",):
            continue
        item = {"key": k}
        if k in g.conf:
            item["value"] = g.conf[k]
        if k in g.pending:
            item["pending"] = g.pending[k]
        if k in g.pending_delete:
            item["delete"] = 1
        out.append(item)
    return out


# --------------------------------------------------------------------------
