"""Route registry and helpers shared by the endpoint modules (ep_*.py).

Each handler runs with the world lock held and follows PVE's order: proxy
(the {node} path parameter) -> schema permission -> parameter check ->
handler code (synchronous checks, HTTP errors) -> worker (task, its errors
end up in the task's exit status)."""

import random
import re
import time

from . import params as P
from .params import ApiError, PermError, die
from .world import LOCK_VALUES

ROUTES = []


def route(method, pattern, kind=None, vmid_from=None):
    """Registers a handler.  kind: the counter KIND of a mutating endpoint;
    vmid_from: where the counter's VMID comes from (path, create, vzdump,
    task)."""
    rx = re.compile("^" + pattern + "$")

    def deco(fn):
        ROUTES.append((method, rx, fn, kind, vmid_from))
        return fn
    return deco


def load_endpoints():
    """Import the endpoint modules (they register their routes)."""
    from . import (ep_backup, ep_config, ep_create, ep_guest, ep_read,  # noqa: F401
                   ep_storage, ep_tasks)


def find_route(method, path):
    """Returns (handler, path_params, kind, vmid_from) or None."""
    for m, rx, fn, kind, vf in ROUTES:
        mm = rx.match(path)
        if mm and m == method:
            return fn, mm.groupdict(), kind, vf
    return None


class Resp:
    """A result with extra top-level keys next to 'data' (e.g. total)."""

    def __init__(self, data, **extra):
        self.data = data
        self.extra = extra


class Ctx:
    """One API call: the world, the merged parameters and the path ones."""

    def __init__(self, world, method, path, params, pp):
        self.world = world
        self.method = method
        self.path = path
        self.params = params
        self.pp = pp
        self.acl = world.acl
        self.waited = 0.0             # seconds spent waiting for lock files
        # root@pam (the pct CLI through POST /_sim/root), never a token
        self.root = False

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
        # pve-container src/PVE/API2/LXC/Status.pm vm_status:
        # PVE::HA::Config::get_service_status("ct:<vmid>")
        ha = world.ha.get(g.vmid)
        if ha is None:
            d["ha"] = {"managed": 0}
        else:
            d["ha"] = {"managed": 1, "state": ha.get("state", "started")}
            if world.v.tuple < (9, 0):
                d["ha"]["group"] = ha.get("group") or "null"
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


def check_volume_access(ctx, vol, vmid=None):
    """pve-storage src/PVE/Storage.pm check_volume_access.  Raises PermError
    (or dies 'missing privileges to access')."""
    sid = vol["storage"]
    spath = "/storage/%s" % sid
    if ctx.has(spath, "Datastore.Allocate"):
        return
    owner = vol.get("vmid")
    if vol["content"] in ("iso", "vztmpl", "import"):
        # (custom) templates/ISOs could be sensitive: read access to the storage
        ctx.check_any(spath, ["Datastore.AllocateSpace", "Datastore.Audit"])
    elif owner is not None and vmid is not None and int(owner) == int(vmid):
        return      # we are owner - allow access
    elif vol["content"] == "backup" and owner:
        ctx.check(spath, "Datastore.AllocateSpace")
        ctx.check("/vms/%s" % owner, "VM.Backup")
    elif vol["content"] in ("images", "rootdir") and owner:
        ctx.check(spath, "Datastore.Audit")
        ctx.check("/vms/%s" % owner, "VM.Config.Disk")
    else:
        die("missing privileges to access %s" % vol["volid"])


def trunk_tags(trunks):
    """pve-guest-common GuestHelpers.pm get_tags_from_trunk: 'a;b-c' -> tags."""
    tags = set()
    for part in re.split(r"[;,]", str(trunks)):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            continue
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        tags.update(range(lo, hi + 1))
    return sorted(tags)


def check_bridge_access(ctx, raw, worker=False):
    """pve-container src/PVE/LXC.pm check_bridge_access ->
    pve-guest-common src/PVE/GuestHelpers.pm check_vnet_access (PVE >= 8.0):
    SDN.Use on /sdn/zones/<zone>/<bridge>[/<tag>]; a plain Linux bridge is a
    vnet of the zone 'localnetwork'.  Raises PermError; with worker=True
    returns the error text instead (the check ran inside a worker)."""
    if not ctx.world.v.sdn_use:
        return None
    try:
        net = P.parse_prop_string(str(raw), P.NET_DESC, "net")
    except P.FormatError:
        return None
    bridge = net.get("bridge")
    if not bridge:
        return None
    zone = "localnetwork"
    paths = []
    if net.get("tag"):
        paths.append("/sdn/zones/%s/%s/%s" % (zone, bridge, net["tag"]))
    if net.get("trunks"):
        paths.extend("/sdn/zones/%s/%s/%d" % (zone, bridge, t) for t in trunk_tags(net["trunks"]))
    if not (net.get("tag") or net.get("trunks")):
        paths.append("/sdn/zones/%s/%s" % (zone, bridge))
    for path in paths:
        if not ctx.has(path, "SDN.Use"):
            e = PermError("%s, SDN.Use" % path)
            if worker:
                return e.message.rstrip("\n")
            raise e
    return None


class LockWait(Exception):
    """Raised by a handler that waits for a config lock file: the server
    sleeps `seconds` without holding the world lock, then runs the handler
    again (error None) or answers `error` (the lock timed out)."""

    def __init__(self, seconds, error=None):
        super().__init__("lock wait")
        self.seconds = seconds
        self.error = error


def lock_file_name(vmid):
    """pve-container src/PVE/LXC/Config.pm config_file_lock."""
    return "/run/lock/lxc/pve-config-%d.lock" % int(vmid)


def lock_timeout_text(vmid):
    """pve-common src/PVE/Tools.pm lock_file_full: run_with_timeout dies
    'got timeout', wrapped as "can't lock file '<file>' - got timeout"."""
    return "can't lock file '%s' - got timeout" % lock_file_name(vmid)


def lock_config(ctx, vmid, timeout=10):
    """pve-guest-common src/PVE/AbstractConfig.pm lock_config (10 s;
    create_and_lock_config: 5 s): waits while another worker holds the
    config lock file (a /_sim/config-lock), then proceeds or fails with
    lock_file_full's timeout error.  The sim's 'lock_timeout_scale'
    setting scales the real timeouts down for tests."""
    held = ctx.world.config_lock_remaining(int(vmid))
    if held is None:
        return
    limit = timeout * float(ctx.world.settings.get("lock_timeout_scale", 1.0))
    left = limit - ctx.waited
    if held <= left:
        raise LockWait(max(held, 0.0))
    raise LockWait(max(left, 0.0), ApiError(500, lock_timeout_text(vmid)))


# --------------------------------------------------------------------------


# --------------------------------------------------------------------------


def real_node(ctx):
    """The {node} path parameter: our name or 'localhost', else pveproxy fails
    to resolve it (there is no cluster)."""
    node = ctx.pp.get("node")
    if node is not None and node not in (ctx.world.node, "localhost"):
        die("hostname lookup '%s' failed - failed to get address info for: %s: "
            "Name or service not known" % (node, node))
    return node


def set_running(g):
    g.status = "running"
    g.started_at = time.time()
    g.pid = random.randint(3000, 4000000)
    g.apply_pending()


def set_stopped(g):
    g.status = "stopped"
    g.pid = 0
