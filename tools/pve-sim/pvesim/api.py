"""The /api2/json endpoints.  Each handler runs with the world lock held and
follows PVE's order: proxy (node) -> schema permission -> parameter check
-> handler code (sync checks) -> worker (task)."""

import copy
import random
import re
import time

from . import params as P
from .params import ApiError, FormatError, ParamError, PermError, die
from .tasks import decode_upid
from .world import (BOOL_KEYS, FASTPLUG, HOTPLUG, INT_KEYS, LOCK_VALUES, NUM_KEYS,
                    Guest, norm_description, strip_for_backup, sort_indexed_key)

ROUTES = []


def route(method, pattern, kind=None, vmid_from=None):
    rx = re.compile("^" + pattern + "$")

    def deco(fn):
        ROUTES.append((method, rx, fn, kind, vmid_from))
        return fn
    return deco


def find_route(method, path):
    """Returns (handler, path_params, kind, vmid_from) or None; also tells
    whether the path exists for another method."""
    for m, rx, fn, kind, vf in ROUTES:
        mm = rx.match(path)
        if mm and m == method:
            return fn, mm.groupdict(), kind, vf
    return None


class Resp:
    def __init__(self, data, **extra):
        self.data = data
        self.extra = extra


class Ctx:
    def __init__(self, world, method, path, params, pp):
        self.world = world
        self.method = method
        self.path = path
        self.params = params
        self.pp = pp
        self.acl = world.acl

    # permissions ----------------------------------------------------------
    def has(self, path, priv):
        return self.acl.has(path, priv)

    def check(self, path, priv):
        if not self.acl.has(path, priv):
            raise PermError("%s, %s" % (path, priv))

    def check_any(self, path, privs):
        if not any(self.acl.has(path, p) for p in privs):
            raise PermError("%s, %s" % (path, "|".join(privs)))

    def validate(self, schema):
        return P.validate(self.params, schema)


# --------------------------------------------------------------------------
# Schema pieces

NODE = {"type": "string", "format": P.fmt_node}
VMID = {"type": "integer", "minimum": 100, "maximum": 999999999}
OPT = {"optional": True}


def o(spec, **kw):
    d = dict(spec)
    d["optional"] = True
    d.update(kw)
    return d


BOOL = {"type": "boolean"}
INT = {"type": "integer"}
STR = {"type": "string"}
STORAGE_ID = {"type": "string", "format": P.fmt_storage_id}

OSTYPES = ["debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine",
           "gentoo", "nixos", "unmanaged"]


def fmt_mp(v, key):
    P.parse_prop_string(v, P.MP_DESC, key)


def fmt_rootfs(v, key):
    P.parse_prop_string(v, P.ROOTFS_DESC, key)


def fmt_startup(v, key):
    P.parse_prop_string(v, P.STARTUP_DESC, key)


def fmt_features(v, key):
    P.parse_prop_string(v, P.FEATURES_DESC, key)


def fmt_net(v, key):
    P.parse_prop_string(v, P.NET_DESC, key)


def fmt_dev(v, key):
    P.parse_prop_string(v, P.DEV_DESC, key)


def fmt_unused(v, key):
    P.parse_prop_string(v, P.UNUSED_DESC, key)


def lxc_conf_schema(world):
    s = {
        "arch": o(STR, enum=["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"]),
        "cmode": o(STR, enum=["shell", "console", "tty"]),
        "console": o(BOOL), "debug": o(BOOL), "onboot": o(BOOL), "protection": o(BOOL),
        "template": o(BOOL), "unprivileged": o(BOOL),
        "cores": o(INT, minimum=1, maximum=8192),
        "cpulimit": o({"type": "number"}, minimum=0, maximum=8192),
        "cpuunits": o(INT, minimum=0, maximum=500000),
        "memory": o(INT, minimum=16),
        "swap": o(INT, minimum=0),
        "tty": o(INT, minimum=0, maximum=6),
        "description": o(STR, maxLength=8192),
        "features": o(STR, format=fmt_features),
        "hookscript": o(STR),
        "hostname": o(STR, maxLength=255, format=P.fmt_dns_name),
        "lock": o(STR, enum=LOCK_VALUES),
        "nameserver": o(STR),
        "searchdomain": o(STR),
        "ostype": o(STR, enum=OSTYPES),
        "rootfs": o(STR, format=fmt_rootfs),
        "startup": o(STR, format=fmt_startup),
        "tags": o(STR, format=P.fmt_tag_list),
        "timezone": o(STR),
        "mp[n]": o(STR, format=fmt_mp, max_index=255),
        "net[n]": o(STR, format=fmt_net, max_index=31),
        "unused[n]": o(STR, format=fmt_unused, max_index=255),
    }
    if world.v.dev_passthrough:
        s["dev[n]"] = o(STR, format=fmt_dev, max_index=255)
    if world.v.oci_keys:
        s["entrypoint"] = o(STR)
        s["env"] = o(STR)
    return s


# --------------------------------------------------------------------------
# Helpers

def conf_missing(world, vmid):
    die("Configuration file 'nodes/%s/lxc/%s.conf' does not exist" % (world.node, vmid))


def load_guest(world, vmid):
    g = world.guests.get(int(vmid))
    if g is None:
        conf_missing(world, vmid)
    return g


def check_lock(g, allow=()):
    lock = g.conf.get("lock")
    if lock and lock not in allow:
        die("CT is locked (%s)" % lock)


def lock_error(g, allow=()):
    lock = g.conf.get("lock")
    if lock and lock not in allow:
        return "CT is locked (%s)" % lock
    return None


def maybe_shuffle(world, items):
    if world.settings.get("shuffle", True):
        items = list(items)
        random.shuffle(items)
    return items


def random_mac():
    return "BC:24:11:%02X:%02X:%02X" % (random.randint(0, 255), random.randint(0, 255),
                                          random.randint(0, 255))


def norm_net(value, key, new_mac=False):
    d = P.parse_prop_string(value, P.NET_DESC, key)
    d["type"] = "veth"
    if new_mac or not d.get("hwaddr"):
        d["hwaddr"] = random_mac()
    return P.print_prop_string(d, P.NET_DESC)


def vmstatus(world, g, full=False):
    """container:src/PVE/LXC.pm vmstatus."""
    conf = g.conf
    now = time.time()
    r = random.Random(g.vmid)
    d = {"vmid": g.vmid, "type": "lxc", "status": g.status, "name": g.name()}
    if conf.get("cores"):
        d["cpus"] = conf["cores"]
    elif conf.get("cpulimit"):
        d["cpus"] = str(conf["cpulimit"])
    else:
        d["cpus"] = 8
    d["maxmem"] = int(conf.get("memory", 512)) * 1048576
    d["maxswap"] = int(conf.get("swap", 0)) * 1048576
    maxdisk = g.maxdisk()
    if g.status == "running":
        up = max(0, int(now - g.started_at))
        fs = int(maxdisk * 0.97) // 4096 * 4096
        d.update({
            "maxdisk": fs, "disk": int(fs * (0.1 + 0.4 * r.random())) // 4096 * 4096,
            "mem": int(d["maxmem"] * (0.05 + 0.5 * r.random())), "swap": 0,
            "cpu": round(random.Random(g.vmid * 1000 + int(now / 5)).random() * 0.05, 6),
            "uptime": up, "netin": up * (100 + g.vmid % 900), "netout": up * (20 + g.vmid % 200),
            "diskread": 290299904 + g.vmid * 4096, "diskwrite": 61440000 + up * 512,
            "pid": g.pid,
        })
        for k in ("pressurecpusome", "pressurecpufull", "pressureiosome", "pressureiofull",
                  "pressurememorysome", "pressurememoryfull"):
            d[k] = "0.00"
    else:
        d.update({"maxdisk": maxdisk, "disk": 0, "mem": 0, "swap": 0, "cpu": 0, "uptime": 0,
                  "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0})
    if conf.get("tags"):
        d["tags"] = conf["tags"]
    if conf.get("lock"):
        d["lock"] = conf["lock"]
    if conf.get("template"):
        d["template"] = 1
    if full:
        d["ha"] = {"managed": 0}
    return d


def output_conf(conf):
    out = {}
    for k, v in conf.items():
        if v is None:
            continue
        out[k] = v
    return out


def volume_storage(volume):
    if ":" in volume:
        return volume.split(":", 1)[0]
    return None


def check_volume_access(ctx, vol, for_list=False):
    """storage:src/PVE/Storage.pm check_volume_access (subset). Raises PermError."""
    sid = vol["storage"]
    spath = "/storage/%s" % sid
    if ctx.has(spath, "Datastore.Allocate"):
        return
    if vol["content"] in ("iso", "vztmpl", "import", "snippets"):
        ctx.check_any(spath, ["Datastore.AllocateSpace", "Datastore.Audit"])
    elif vol["content"] == "backup" and vol.get("vmid"):
        ctx.check(spath, "Datastore.AllocateSpace")
        ctx.check("/vms/%s" % vol["vmid"], "VM.Backup")
    elif vol.get("vmid"):
        ctx.check_any(spath, ["Datastore.AllocateSpace", "Datastore.Audit"])
        ctx.check("/vms/%s" % vol["vmid"], "VM.Audit")
    else:
        raise PermError("%s, Datastore.Allocate" % spath)


# --------------------------------------------------------------------------
# Version, nodes, node status, permissions

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


def real_node(ctx):
    """The {node} path parameter: our name or 'localhost', else pveproxy fails
    to resolve it (there is no cluster)."""
    node = ctx.pp.get("node")
    if node is not None and node not in (ctx.world.node, "localhost"):
        die("hostname lookup '%s' failed - failed to get address info for: %s: "
            "Name or service not known" % (node, node))
    return node


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
# PUT config

def check_features_perm(ctx, vmid, oldconf, newval, delete, unprivileged):
    if not unprivileged:
        raise PermError("changing feature flags for privileged container is only allowed "
                        "for root@pam")
    nesting_changed = other_changed = False
    if not delete:
        new = P.parse_prop_string(newval, P.FEATURES_DESC, "features")
        if oldconf is not None and oldconf.get("features"):
            old = P.parse_prop_string(oldconf["features"], P.FEATURES_DESC, "features")
            for f in list(old) + list(new):
                if str(old.get(f, "")) != str(new.get(f, "")):
                    if f == "nesting":
                        nesting_changed = True
                    else:
                        other_changed = True
                        break
        else:
            if len(new) == 1 and str(new.get("nesting", "0")) == "1":
                nesting_changed = True
            elif new:
                other_changed = True
    else:
        old = P.parse_prop_string((oldconf or {}).get("features") or "", P.FEATURES_DESC, "features")
        if len(old) == 1 and str(old.get("nesting", "0")) == "1":
            nesting_changed = True
        elif old:
            other_changed = True
    if other_changed:
        raise PermError("changing feature flags (except nesting) is only allowed for root@pam")
    if nesting_changed:
        ctx.check("/vms/%s" % vmid, "VM.Allocate")


def check_ct_modify_config_perm(ctx, vmid, oldconf, newconf, delete, unprivileged):
    """container:src/PVE/LXC.pm check_ct_modify_config_perm (a token is never root@pam)."""
    vpath = "/vms/%s" % vmid

    def check(opt, is_delete):
        if opt in ("cores", "cpuunits", "cpulimit"):
            ctx.check(vpath, "VM.Config.CPU")
        elif opt == "rootfs" or re.match(r"^mp\d+$", opt):
            ctx.check(vpath, "VM.Config.Disk")
            if is_delete:
                return
            desc = P.ROOTFS_DESC if opt == "rootfs" else P.MP_DESC
            data = P.parse_prop_string(newconf[opt], desc, opt)
            mtype = P.classify_mountpoint(data["volume"])
            if mtype != "volume":
                raise PermError("mount point type %s is only allowed for root@pam" % mtype)
            m = P.NEW_DISK_RE.match(data["volume"])
            if m:
                sid = m.group(1) or ctx.params.get("storage") or "local"
                ctx.check("/storage/%s" % sid, "Datastore.AllocateSpace")
            else:
                sid = volume_storage(data["volume"])
                if sid:
                    ctx.check("/storage/%s" % sid, "Datastore.AllocateSpace")
        elif opt in ("memory", "swap"):
            ctx.check(vpath, "VM.Config.Memory")
        elif re.match(r"^net\d+$", opt) or opt in ("nameserver", "searchdomain", "hostname"):
            ctx.check(vpath, "VM.Config.Network")
        elif opt == "features":
            check_features_perm(ctx, vmid, oldconf, newconf.get(opt), is_delete, unprivileged)
        elif re.match(r"^dev\d+$", opt):
            raise PermError("configuring device passthrough is only allowed for root@pam")
        elif opt == "hookscript":
            raise PermError("changing the hookscript is only allowed for root@pam")
        else:
            ctx.check(vpath, "VM.Config.Options")

    for opt in sorted(newconf):
        check(opt, False)
    for opt in delete:
        check(opt, True)


def option_exists(world, opt):
    schema = lxc_conf_schema(world)
    if opt in schema:
        return True
    m = re.match(r"^([a-z]+)(\d+)$", opt)
    return bool(m and (m.group(1) + "[n]") in schema)


def typed_value(opt, value):
    if opt in BOOL_KEYS or opt in INT_KEYS:
        return int(value)
    if opt in NUM_KEYS:
        return str(value)
    return value


def alloc_volume(world, vmid, opt, value, default_storage, pending_confs):
    """'STORAGE:SIZE_GiB' in rootfs/mpN -> allocated volume."""
    desc = P.ROOTFS_DESC if opt == "rootfs" else P.MP_DESC
    d = P.parse_prop_string(value, desc, opt)
    m = P.NEW_DISK_RE.match(d["volume"])
    if not m:
        return P.print_prop_string(d, desc)
    sid = m.group(1) or default_storage
    s = world.storages.get(sid)
    if s is None:
        die("storage '%s' does not exist" % sid)
    if not s.supports("rootdir"):
        die("storage '%s' does not allow content type 'rootdir' (Container)" % sid)
    gib = float(m.group(2))
    size = int(gib * (1 << 30))
    d["volume"] = world.next_disk_name(sid, vmid, pending_confs)
    d["size"] = P.format_size(size) if size else "4G"
    return P.print_prop_string(d, desc)


def check_mp_storage(world, opt, value):
    desc = P.ROOTFS_DESC if opt == "rootfs" else P.MP_DESC
    d = P.parse_prop_string(value, desc, opt)
    if P.classify_mountpoint(d["volume"]) != "volume":
        return
    sid = volume_storage(d["volume"])
    if sid is None:
        return
    s = world.storages.get(sid)
    if s is None:
        die("storage '%s' does not exist" % sid)
    if not s.supports("rootdir"):
        die("storage '%s' does not allow content type 'rootdir' (Container)" % sid)


@route("PUT", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/config", kind="config",
       vmid_from="path")
def put_lxc_config(ctx):
    real_node(ctx)
    vmid_raw = ctx.pp["vmid"]
    ctx.check_any("/vms/%s" % vmid_raw, ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory",
                                          "VM.Config.Network", "VM.Config.Options"])
    schema = lxc_conf_schema(ctx.world)
    schema.update({"node": NODE, "vmid": VMID, "delete": o(STR), "revert": o(STR),
                   "digest": o(STR, maxLength=40)})
    p = ctx.validate(schema)
    w = ctx.world
    vmid = p.pop("vmid")
    p.pop("node")
    digest = p.pop("digest", None)
    delete_str = p.pop("delete", None)
    revert_str = p.pop("revert", None)
    if not delete_str and not revert_str and not p:
        die("no options specified")
    delete = P.split_list(delete_str)
    revert = P.split_list(revert_str)
    for opt in delete:
        if p.get(opt) is not None:
            raise ParamError({"delete": "you can't use '-%s' and -delete %s' at the same time"
                              % (opt, opt)})
        if opt in revert:
            raise ParamError({"revert": "you can't use '-delete %s' and '-revert %s' at the "
                              "same time" % (opt, opt)})
        if not option_exists(w, opt):
            raise ParamError({"delete": "unknown option '%s'" % opt})
    for opt in revert:
        if p.get(opt) is not None:
            raise ParamError({"revert": "you can't use '-%s' and -revert %s' at the same time"
                              % (opt, opt)})

    g = load_guest(w, vmid)
    check_lock(g)
    if digest and digest != g.digest():
        die("detected modified configuration - file changed by other user? Try again.")
    newconf = {k: v for k, v in p.items() if v is not None or k == "description"}
    check_ct_modify_config_perm(ctx, vmid, g.conf,
                                {k: ("" if v is None else v) for k, v in newconf.items()},
                                delete, g.conf.get("unprivileged", 0))
    fault = w.consume_task_fault(vmid, "config")
    if fault and fault.get("exitstatus"):
        die(str(fault["exitstatus"]))

    running = g.status == "running"
    # ---- update_pct_config
    for opt in revert:
        g.pending.pop(opt, None)
        if opt in g.pending_delete:
            g.pending_delete.remove(opt)
    modified = set()
    for opt in delete:
        if opt not in g.conf and opt not in g.pending:
            continue     # warn "cannot delete '$opt' - not set in current configuration!"
        modified.add(opt)
        if opt in ("memory", "rootfs", "ostype"):
            die("unable to delete required option '%s'" % opt)
        if re.match(r"^(unused|mp)\d+$", opt) and g.conf.get("protection"):
            die("can't remove CT %d drive '%s' - protection mode enabled" % (vmid, opt))
        if opt == "unprivileged":
            die("unable to delete read-only option: '%s'" % opt)
        g.pending.pop(opt, None)
        if opt in g.conf and opt not in g.pending_delete:
            g.pending_delete.append(opt)
    pending_new = {}
    for opt in sorted(newconf):
        value = newconf[opt]
        modified.add(opt)
        if opt == "description":
            value = norm_description(value or "")
            if value is None:
                if "description" in g.conf or "description" in g.pending:
                    if "description" not in g.pending_delete:
                        g.pending_delete.append("description")
                g.pending.pop("description", None)
                continue
        elif opt == "rootfs" or re.match(r"^mp\d+$", opt):
            if g.conf.get("protection"):
                die("can't update CT %d drive '%s' - protection mode enabled" % (vmid, opt))
            value = alloc_volume(w, vmid, opt, value, "local", [pending_new, g.pending])
            check_mp_storage(w, opt, value)
        elif opt == "unprivileged":
            die("unable to modify read-only option: '%s'" % opt)
        elif opt == "tags":
            value = P.unique_tags(value)
        elif re.match(r"^net\d+$", opt):
            value = norm_net(value, opt)
        else:
            value = typed_value(opt, value)
        pending_new[opt] = value
        g.pending[opt] = value
        if opt in g.pending_delete:
            g.pending_delete.remove(opt)
    # cleanup_pending: drop pending values equal to the current ones
    for k in list(g.pending):
        if g.conf.get(k) == g.pending[k]:
            del g.pending[k]
    for k in list(g.pending_delete):
        if k not in g.conf:
            g.pending_delete.remove(k)
    if running:
        hot = lambda k: (k in FASTPLUG or k in HOTPLUG or re.match(r"^net\d+$", k)
                         or (re.match(r"^(mp|dev)\d+$", k) and k not in g.conf))
        for k in list(g.pending):
            if k in modified and hot(k):
                g.conf[k] = g.pending.pop(k)
        for k in list(g.pending_delete):
            if k in modified and (k in FASTPLUG or k in ("swap", "cpulimit", "cpuunits")
                                  or re.match(r"^(net|unused)\d+$", k)):
                g.conf.pop(k, None)
                g.pending_delete.remove(k)
    else:
        g.apply_pending()
    return None


# --------------------------------------------------------------------------
# Power actions

def _power_common(ctx, extra_schema):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.PowerMgmt")
    schema = {"node": NODE, "vmid": VMID}
    schema.update(extra_schema)
    p = ctx.validate(schema)
    if p.get("skiplock") is not None:
        raise ParamError({"skiplock": "Only root may use this option."})
    return p


def _set_running(g):
    g.status = "running"
    g.started_at = time.time()
    g.pid = random.randint(3000, 4000000)
    g.apply_pending()


def _set_stopped(g):
    g.status = "stopped"
    g.pid = 0


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/start", kind="start",
       vmid_from="path")
def post_start(ctx):
    p = _power_common(ctx, {"skiplock": o(BOOL), "debug": o(BOOL)})
    w = ctx.world
    g = load_guest(w, p["vmid"])
    vmid = g.vmid
    if g.status == "running":
        die("CT %d already running" % vmid)
    t = w.new_task("vzstart", vmid, "start", vmid)
    t.fail = lock_error(g, allow=("mounted",))
    if not t.fail and g.conf.get("template"):
        t.fail = "you can't start a CT if it's a template"

    def ok(world, task):
        gg = world.guests.get(vmid)
        if gg is not None:
            _set_running(gg)
    t.on_ok = ok
    w.launch(t)
    return t.upid


def _stop_task(ctx, wtype, kind, p, final):
    w = ctx.world
    g = load_guest(w, p["vmid"])
    vmid = g.vmid
    if g.status != "running":
        die(("VM %d not running" if kind == "reboot" else "CT %d not running") % vmid)
    t = w.new_task(wtype, vmid, kind, vmid)
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
    t = _stop_task(ctx, "vzstop", "stop", p, _set_stopped)
    if p.get("overrule-shutdown"):
        for other in list(w.task_order):
            if other.running and other.kind == "shutdown" and t.vmid in other.vmids:
                other.hung = False
                w.scheduler.call_at(time.time(), lambda u=other.upid: w.finish_task(
                    u, forced_exit="interrupted by signal"))
                t.log.append("overruling active shutdown tasks (%s)" % other.upid)
    return t.upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/shutdown", kind="shutdown",
       vmid_from="path")
def post_shutdown(ctx):
    p = _power_common(ctx, {"timeout": o(INT, minimum=0), "forceStop": o(BOOL)})
    return _stop_task(ctx, "vzshutdown", "shutdown", p, _set_stopped).upid


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/reboot", kind="reboot",
       vmid_from="path")
def post_reboot(ctx):
    p = _power_common(ctx, {"timeout": o(INT, minimum=0)})
    return _stop_task(ctx, "vzreboot", "reboot", p, _set_running).upid


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
            _set_stopped(g)
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
                _set_running(gg)

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
# vzdump

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
    if p.get("storage"):
        ctx.check("/storage/%s" % p["storage"], "Datastore.AllocateSpace")

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
                elif p.get("protected"):
                    nprot = sum(1 for v in w.volumes if v["storage"] == sid and
                                v.get("vmid") == vmid and v.get("protected"))
                    if storage.max_protected > -1 and nprot >= storage.max_protected:
                        entry["err"] = ("The number of protected backups per guest is limited "
                                        "to %d on storage '%s'" % (storage.max_protected, sid))
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
        remove = p.get("remove", 1)
        if remove and storage.prune and not storage.prune.get("keep-all"):
            keep = int(storage.prune.get("keep-last", 0))
            keepstr = ", ".join("%s=%s" % (k, v) for k, v in sorted(storage.prune.items()))
            t.log.append("INFO: prune older backups with retention: %s" % keepstr)
            mine = sorted((v for v in world.volumes if v["storage"] == sid and v.get("vmid") == vmid
                           and v["content"] == "backup" and not v.get("protected")),
                          key=lambda v: v["ctime"], reverse=True)
            pruned = 0
            if keep:
                for old in mine[keep:]:
                    world.volumes.remove(old)
                    pruned += 1
                    t.log.append("INFO: removing backup '%s'" % old["volid"])
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


# --------------------------------------------------------------------------
# Create / restore / destroy

def detect_ostype(template):
    base = template.rsplit("/", 1)[-1].lower()
    for os_ in ("debian", "ubuntu", "alpine", "centos", "fedora", "archlinux", "devuan",
                "opensuse", "gentoo", "nixos"):
        if base.startswith(os_):
            return os_
    if base.startswith("rockylinux") or base.startswith("almalinux"):
        return "centos"
    return "unmanaged"


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc", kind=None, vmid_from="create")
def post_create(ctx):
    real_node(ctx)
    w = ctx.world
    vmid_raw = ctx.params.get("vmid")
    vpath = "/vms/%s" % vmid_raw
    # schema permission: VM.Allocate on /vms/{vmid}, or VM.Backup with restore
    if not (ctx.has(vpath, "VM.Allocate") or
            (ctx.params.get("restore") is not None and ctx.has(vpath, "VM.Backup"))):
        raise PermError()
    schema = lxc_conf_schema(w)
    schema.update({
        "node": NODE, "vmid": VMID, "ostemplate": {"type": "string", "maxLength": 255},
        "password": o(STR, minLength=5), "ssh-public-keys": o(STR), "storage": o(STORAGE_ID),
        "force": o(BOOL), "restore": o(BOOL), "unique": o(BOOL), "pool": o(STR),
        "ignore-unpack-errors": o(BOOL), "bwlimit": o({"type": "number"}, minimum=0),
        "start": o(BOOL), "ha-managed": o(BOOL),
    })
    p = ctx.validate(schema)
    if p.get("password") is not None and len(p["password"]) < 5:
        raise ParamError({"password": "value must be at least 5 characters long"})
    vmid = p["vmid"]
    restore = bool(p.get("restore"))
    force = bool(p.get("force"))
    storage_id = p.get("storage") or "local"
    g_old = w.guests.get(vmid)
    same_exists = g_old is not None
    if not (same_exists and restore and force):
        if same_exists:
            die("CT %d already exists on node '%s'" % (vmid, w.node))
        if vmid in w.remote_vmids:
            die("CT %d already exists on node 'pve-02'" % vmid)
    else:
        if g_old.status == "running":
            die("can't overwrite running container")
        if g_old.conf.get("protection"):
            die("unable to restore CT %d - protection mode enabled" % vmid)
    if restore and same_exists:
        ctx.check(vpath, "VM.Backup")
    else:
        ctx.check(vpath, "VM.Allocate")
    if p.get("pool"):
        die("pool '%s' does not exist" % p["pool"])
    ctx.check("/storage/%s" % storage_id, "Datastore.AllocateSpace")
    if p.get("ha-managed"):
        ctx.check("/", "Sys.Console")
    ostemplate = p["ostemplate"]
    vol = w.volume(ostemplate)
    if vol is not None:
        check_volume_access(ctx, vol)
    elif ":" in ostemplate and w.storages.get(ostemplate.split(":", 1)[0]) is not None:
        ctx.check_any("/storage/%s" % ostemplate.split(":", 1)[0],
                      ["Datastore.AllocateSpace", "Datastore.Audit"])
    if vol is None or vol["content"] != ("backup" if restore else "vztmpl"):
        die("volume '%s' does not exist" % ostemplate)
    bconf = copy.deepcopy(vol.get("config") or {}) if restore else {}
    unprivileged = p.get("unprivileged")
    if unprivileged is None:
        unprivileged = int(bconf.get("unprivileged", 0)) if restore else 1
    if not unprivileged:
        ctx.check("/", "Sys.Modify")
    confparams = {k: v for k, v in p.items() if v is not None and option_exists(w, k)
                  and k not in ("unprivileged",)}
    check_ct_modify_config_perm(ctx, vmid, None, confparams, [], unprivileged)
    st = w.storages.get(storage_id)
    if st is None:
        die("storage '%s' does not exist" % storage_id)

    # ---- build the new config (the worker writes it)
    conf = {}
    warnings = []
    if restore:
        conf = {k: v for k, v in bconf.items() if k not in ("lock", "parent", "lxc")}
        if bconf.get("lxc"):
            warnings.append(["skipping custom lxc options, restore manually as root:",
                             "--------------------------------"] +
                            ["%s: %s" % (a, b) for a, b in bconf["lxc"]] +
                            ["--------------------------------"])
        for k in list(conf):
            if k == "rootfs" or re.match(r"^mp\d+$", k):
                d = P.parse_prop_string(conf[k], P.ROOTFS_DESC if k == "rootfs" else P.MP_DESC, k)
                if P.classify_mountpoint(d["volume"]) != "volume":
                    warnings.append(["restoring '%s' to %s mount is only possible for root" %
                                     (k, P.classify_mountpoint(d["volume"]))])
                    del conf[k]
    conf["unprivileged"] = int(unprivileged)
    new_vols = []
    if restore and p.get("storage") and "rootfs" not in p:
        if not st.supports("rootdir"):
            raise ParamError({"storage": "storage '%s' does not support container directories"
                              % storage_id})
        for k in sorted(conf, key=sort_indexed_key):
            if k == "rootfs" or re.match(r"^mp\d+$", k):
                desc = P.ROOTFS_DESC if k == "rootfs" else P.MP_DESC
                d = P.parse_prop_string(conf[k], desc, k)
                d["volume"] = w.next_disk_name(storage_id, vmid, [conf] + new_vols)
                new_vols.append({k: d["volume"]})
                conf[k] = P.print_prop_string(d, desc)
    for k, v in sorted(confparams.items()):
        if k == "rootfs" or re.match(r"^mp\d+$", k):
            v = alloc_volume(w, vmid, k, v, storage_id, [conf])
            check_mp_storage(w, k, v)
        elif re.match(r"^net\d+$", k):
            v = norm_net(v, k)
        elif k == "tags":
            v = P.unique_tags(v)
        elif k == "description":
            v = norm_description(v)
            if v is None:
                conf.pop(k, None)
                continue
        else:
            v = typed_value(k, v)
        conf[k] = v
    if "rootfs" not in conf:
        if not st.supports("rootdir"):
            raise ParamError({"storage": "storage '%s' does not support container directories"
                              % storage_id})
        conf["rootfs"] = alloc_volume(w, vmid, "rootfs", "%s:4" % storage_id, storage_id, [conf])
    if restore and p.get("unique"):
        for k in list(conf):
            if re.match(r"^net\d+$", k):
                conf[k] = norm_net(conf[k], k, new_mac=True)
    if not restore:
        conf.setdefault("arch", "amd64")
        conf.setdefault("ostype", detect_ostype(ostemplate))
        conf.setdefault("hostname", "CT%d" % vmid)
        conf.setdefault("memory", 512)
        conf.setdefault("swap", 512)

    kind = "restore" if restore else "create"
    t = w.new_task("vzrestore" if restore else "vzcreate", vmid, kind, vmid)
    if restore:
        t.log.append("recovering backed-up configuration from '%s'" % ostemplate)
    # create_and_lock_config: the CT exists from now on, locked
    if same_exists:
        g_old.conf["lock"] = "create"
        target = g_old
    else:
        target = Guest(vmid, {"lock": "create"})
        w.guests[vmid] = target
    start = bool(p.get("start"))

    def ok(world, task):
        gg = world.guests.get(vmid)
        if gg is None:
            return
        for k, d in Guest(vmid, conf).mountpoints():
            s = world.storages.get(volume_storage(d["volume"]) or "")
            if s is not None and s.type == "lvmthin":
                task.log.append('  Logical volume "%s" created.' % d["volume"].split(":", 1)[1])
        if restore:
            task.log.append("restoring '%s' now.." % ostemplate)
        else:
            task.log.append("extracting archive '/var/lib/vz/template/cache/%s'"
                            % ostemplate.rsplit("/", 1)[-1])
            task.log.append("Total (sum) of bytes written: %d" % (vol.get("size", 0) * 3))
        task.log.append("Detected container architecture: %s" % conf.get("arch", "amd64"))
        if restore:
            task.log.append("merging backed-up and given configuration..")
        else:
            task.log.append("Creating SSH host key 'ssh_host_ed25519_key' - this may take some "
                            "time ...")
        for wl in warnings:
            task.log.append("WARN: " + wl[0])
            task.log.extend(wl[1:])
            task.warn_lines.append(wl[0])
        newg = Guest(vmid, conf)
        world.guests[vmid] = newg
        if start:
            _set_running(newg)
            if restore:
                pass

    def fail(world, task, msg):
        gg = world.guests.get(vmid)
        if gg is None:
            return
        if same_exists:
            if not task.keep_lock and gg.conf.get("lock") == "create":
                del gg.conf["lock"]
        else:
            if not task.keep_lock:
                world.guests.pop(vmid, None)
    t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


@route("DELETE", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)", kind="destroy", vmid_from="path")
def delete_lxc(ctx):
    real_node(ctx)
    ctx.check("/vms/%s" % ctx.pp["vmid"], "VM.Allocate")
    p = ctx.validate({"node": NODE, "vmid": VMID, "force": o(BOOL), "purge": o(BOOL),
                      "destroy-unreferenced-disks": o(BOOL)})
    w = ctx.world
    g = load_guest(w, p["vmid"])
    vmid = g.vmid
    if g.conf.get("protection"):
        die("can't remove CT %d - protection mode enabled" % vmid)
    check_lock(g)
    if g.status == "running" and not p.get("force"):
        die("unable to destroy CT %d - container is running" % vmid)
    t = w.new_task("vzdestroy", vmid, "destroy", vmid)
    if g.status == "running":
        _set_stopped(g)
    g.conf["lock"] = "destroyed"
    purge = bool(p.get("purge"))

    def ok(world, task):
        gg = world.guests.get(vmid)
        if gg is None:
            return
        for k, d in gg.mountpoints():
            s = world.storages.get(volume_storage(d.get("volume", "")) or "")
            if d["type"] == "volume" and s is not None and s.type == "lvmthin":
                task.log.append('  Logical volume "%s" successfully removed.'
                                % d["volume"].split(":", 1)[1])
        if purge:
            task.log.append("purging CT %d from related configurations.." % vmid)
        world.guests.pop(vmid, None)

    def fail(world, task, msg):
        gg = world.guests.get(vmid)
        if gg is not None and not task.keep_lock and gg.conf.get("lock") == "destroyed":
            del gg.conf["lock"]
    t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


# --------------------------------------------------------------------------
# Storage

CONTENT_TYPES = ["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"]


def fmt_content_list(v, key):
    for c in P.split_list(v):
        if c not in CONTENT_TYPES:
            raise FormatError("invalid content type '%s'\n" % c)


@route("GET", r"/nodes/(?P<node>[^/]+)/storage")
def get_storage_list(ctx):
    real_node(ctx)
    p = ctx.validate({"node": NODE, "content": o(STR, format=fmt_content_list),
                      "enabled": o(BOOL), "format": o(BOOL), "storage": o(STORAGE_ID),
                      "target": o(NODE)})
    w = ctx.world
    want = set(P.split_list(p.get("content")))
    out = []
    for sid, s in w.storages.items():
        if p.get("storage") and sid != p["storage"]:
            continue
        spath = "/storage/%s" % sid
        if not (ctx.has(spath, "Datastore.Audit") or ctx.has(spath, "Datastore.AllocateSpace")):
            continue
        if want:
            if not s.enabled or not (want & set(s.content)):
                continue
        if p.get("enabled") and not s.enabled:
            continue
        active = 1 if (s.active and s.enabled) else 0
        d = {"storage": sid, "type": s.type,
             "content": ",".join(maybe_shuffle(w, s.content)),
             "active": active, "enabled": s.enabled, "shared": s.shared}
        if active:
            used = w.storage_used(s)
            d.update({"total": s.total, "used": used, "avail": s.total - used})
            if s.total > 0:
                d["used_fraction"] = used / s.total
        else:
            d.update({"total": 0, "used": 0, "avail": 0})
        if p.get("format"):
            d["format"] = [{"raw": 1}, "raw"] if s.type != "dir" else [
                {"raw": 1, "qcow2": 1, "vmdk": 1, "subvol": 1}, "raw"]
            d["select_existing"] = 0
        out.append(d)
    return out


def guest_disk_volumes(w, sid):
    out = []
    for g in w.guests.values():
        for k, d in g.mountpoints():
            if d["type"] != "volume" or volume_storage(d["volume"]) != sid:
                continue
            size = P.parse_size(d.get("size", "4G")) or (4 << 30)
            out.append({"volid": d["volume"], "content": "rootdir", "format": "raw",
                        "size": size, "vmid": g.vmid, "storage": sid,
                        "ctime": int(g.started_at)})
    return out


@route("GET", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)")
def get_storage_index(ctx):
    real_node(ctx)
    ctx.check_any("/storage/%s" % ctx.pp["storage"], ["Datastore.Audit", "Datastore.AllocateSpace"])
    ctx.validate({"node": NODE, "storage": STORAGE_ID})
    return [{"subdir": s} for s in ("content", "download-url", "file-restore", "import-metadata",
                                     "prunebackups", "rrd", "rrddata", "status", "upload")]


@route("GET", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/content")
def get_storage_content(ctx):
    real_node(ctx)
    ctx.check_any("/storage/%s" % ctx.pp["storage"], ["Datastore.Audit", "Datastore.AllocateSpace"])
    p = ctx.validate({"node": NODE, "storage": STORAGE_ID,
                      "content": o(STR, enum=CONTENT_TYPES), "vmid": o(VMID)})
    w = ctx.world
    sid = p["storage"]
    s = w.storages.get(sid)
    if s is None:
        die("storage '%s' does not exist" % sid)
    if not s.enabled:
        die("storage '%s' is disabled" % sid)
    vols = [v for v in w.volumes if v["storage"] == sid]
    if s.supports("rootdir") or s.supports("images"):
        vols = vols + guest_disk_volumes(w, sid)
    out = []
    for v in sorted(vols, key=lambda x: x["volid"].lower()):
        if p.get("content") and v["content"] != p["content"]:
            continue
        if p.get("vmid") is not None and v.get("vmid") != p["vmid"]:
            continue
        try:
            check_volume_access(ctx, v, for_list=True)
        except PermError:
            continue
        d = {}
        for k in ("volid", "content", "format", "size", "ctime", "vmid", "subtype",
                  "verification", "encrypted"):
            if v.get(k) is not None:
                d[k] = v[k]
        if v.get("notes"):
            d["notes"] = v["notes"].split("\n")[0]
        if v.get("protected"):
            d["protected"] = 1
        if d.get("content") == "vztmpl":
            d.pop("vmid", None)
            d.pop("subtype", None)
        out.append(d)
    return out


# --------------------------------------------------------------------------
# Tasks

def can_see_task(ctx, t, node):
    return t.user == ctx.world.token_id or ctx.has("/nodes/%s" % node, "Sys.Audit")


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks")
def get_tasks(ctx):
    node = real_node(ctx)
    p = ctx.validate({"node": NODE, "start": o(INT, minimum=0), "limit": o(INT, minimum=0),
                      "vmid": o(VMID), "typefilter": o(STR), "userfilter": o(STR),
                      "errors": o(BOOL), "statusfilter": o(STR), "since": o(INT),
                      "until": o(INT), "source": o(STR, enum=["archive", "active", "all"])})
    w = ctx.world
    source = p.get("source") or "archive"
    now = time.time()
    sfilter = set(P.split_list(p.get("statusfilter")))
    items = []
    for t in sorted(w.task_order, key=lambda x: (x.starttime, x.pid), reverse=True):
        archived = t.archived(now)
        if archived and source == "active":
            continue
        if not archived and source == "archive":
            continue
        if not can_see_task(ctx, t, node):
            continue
        if p.get("vmid") is not None and t.id != str(p["vmid"]):
            continue
        if p.get("typefilter") and t.type != p["typefilter"]:
            continue
        if p.get("userfilter") and p["userfilter"].lower() not in t.user.lower():
            continue
        if p.get("since") is not None and t.starttime < p["since"]:
            continue
        if p.get("until") is not None and t.starttime > p["until"]:
            continue
        st = "RUNNING" if t.running else t.exitstatus
        if p.get("errors") and st == "OK":
            continue
        if sfilter:
            if t.running:
                continue
            cls = ("ok" if st == "OK" else "warning" if st.startswith("WARNINGS:")
                   else "unknown" if st == "unexpected status" else "error")
            if cls not in sfilter:
                continue
        items.append(t.list_obj(active_view=not archived))
    total = len(items)
    start = p.get("start") or 0
    limit = p.get("limit")
    if limit is None:
        limit = 50
    page = items[start:start + limit] if limit else items[start:]
    return Resp(page, total=total)


def find_task(ctx):
    upid = ctx.pp["upid"]
    node = real_node(ctx)
    if decode_upid(upid) is None:
        raise ParamError({"upid": "unable to parse worker upid"})
    t = ctx.world.tasks.get(upid)
    if t is None:
        raise ParamError({"upid": "no such task"})
    return t, node


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)")
def get_task_index(ctx):
    t, node = find_task(ctx)
    ctx.validate({"node": NODE, "upid": STR})
    return [{"name": "log"}, {"name": "status"}]


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/status")
def get_task_status(ctx):
    t, node = find_task(ctx)
    ctx.validate({"node": NODE, "upid": STR})
    if t.user != ctx.world.token_id:
        ctx.check("/nodes/%s" % node, "Sys.Audit")
    return t.status_obj()


@route("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/log")
def get_task_log(ctx):
    t, node = find_task(ctx)
    p = ctx.validate({"node": NODE, "upid": STR, "start": o(INT, minimum=0),
                      "limit": o(INT, minimum=0), "download": o(BOOL)})
    if t.user != ctx.world.token_id:
        ctx.check("/nodes/%s" % node, "Sys.Audit")
    start = p.get("start") or 0
    limit = p.get("limit")
    if limit is None:
        limit = 50
    lines = []
    count = 0
    for line in t.log:
        count += 1
        if count <= start:
            continue
        if limit <= 0:
            continue
        lines.append({"n": count, "t": line})
        limit -= 1
    if not count:
        count = 1
        lines.append({"n": 1, "t": "no content"})
    return Resp(lines, total=count)


@route("DELETE", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)", kind="task_stop",
       vmid_from="task")
def delete_task(ctx):
    t, node = find_task(ctx)
    ctx.validate({"node": NODE, "upid": STR})
    if t.user != ctx.world.token_id:
        ctx.check("/nodes/%s" % node, "Sys.Modify")
    if t.running:
        t.hung = False
        if t.kind in ("snapshot", "delete_snapshot", "rollback", "destroy"):
            t.keep_lock = True     # the worker died inside lock_config: stale lock
        msg = "interrupted by signal" if t.type == "vzdump" else "received interrupt"
        w = ctx.world
        w.scheduler.call_at(time.time(), lambda: w.finish_task(t.upid, forced_exit=msg))
    return None
