"""Create / restore (POST /nodes/{node}/lxc), destroy, and reading the
configuration inside a backup (GET /nodes/{node}/vzdump/extractconfig).

The order of checks, what is synchronous (HTTP error) and what happens in
the worker (task error) follow pve-container src/PVE/API2/LXC.pm
create_vm; the comments name the real function each step models."""

import copy
import re

from . import params as P
from .api import (BOOL, NODE, STORAGE_ID, STR, VMID, check_bridge_access, check_lock,
                  check_volume_access, load_guest, lock_config, lxc_conf_schema, norm_net, o,
                  real_node, route, set_running, set_stopped, volume_storage)
from .ep_config import (alloc_volume, check_ct_modify_config_perm, option_exists,
                        typed_value)
from .params import ParamError, PermError, die
from .world import Guest, norm_description, raw_config_text, sort_indexed_key


def detect_ostype(template):
    base = template.rsplit("/", 1)[-1].lower()
    for os_ in ("debian", "ubuntu", "alpine", "centos", "fedora", "archlinux", "devuan",
                "opensuse", "gentoo", "nixos"):
        if base.startswith(os_):
            return os_
    if base.startswith("rockylinux") or base.startswith("almalinux"):
        return "centos"
    return "unmanaged"


def is_mp_key(k):
    return k == "rootfs" or re.match(r"^mp\d+$", k) is not None


def mp_desc(k):
    return P.ROOTFS_DESC if k == "rootfs" else P.MP_DESC


def check_and_activate_storage(ctx, sid, used):
    """create_vm, $check_and_activate_storage: the storage must exist, be
    enabled, hold container directories (else 400 on 'storage') and the
    caller needs Datastore.AllocateSpace on it."""
    w = ctx.world
    s = w.storages.get(sid)
    if s is None:
        # pve-storage Storage.pm storage_config
        die("storage '%s' does not exist" % sid)
    if not s.enabled:
        # pve-storage Storage.pm storage_check_enabled
        die("storage '%s' is disabled" % sid)
    if not s.supports("rootdir"):
        raise ParamError({"storage": "storage '%s' does not support container directories"
                          % sid})
    ctx.check("/storage/%s" % sid, "Datastore.AllocateSpace")
    used.add(sid)


def gib(nbytes):
    """create_vm storage-only branch: size / (1024 * 1024 * 1024), as Perl
    prints the number ('8', '0.5')."""
    v = nbytes / float(1 << 30)
    return ("%d" % v) if v == int(v) else repr(v)


@route("POST", r"/nodes/(?P<node>[^/]+)/lxc", kind=None, vmid_from="create")
def post_create(ctx):
    """pve-container src/PVE/API2/LXC.pm create_vm (permissions: user all,
    checked inside)."""
    real_node(ctx)
    w = ctx.world
    schema = lxc_conf_schema(w)
    schema.update({
        "node": NODE, "vmid": VMID, "ostemplate": {"type": "string", "maxLength": 255},
        "password": o(STR, minLength=5), "ssh-public-keys": o(STR), "storage": o(STORAGE_ID),
        "force": o(BOOL), "restore": o(BOOL), "unique": o(BOOL, requires="restore"),
        "pool": o(STR), "ignore-unpack-errors": o(BOOL),
        "bwlimit": o({"type": "number"}, minimum=0), "start": o(BOOL), "ha-managed": o(BOOL),
    })
    p = ctx.validate(schema)
    if p.get("password") is not None and len(p["password"]) < 5:
        raise ParamError({"password": "value must be at least 5 characters long"})
    vmid = p["vmid"]
    vpath = "/vms/%d" % vmid
    restore = bool(p.get("restore"))
    force = bool(p.get("force"))
    unprivileged = p.get("unprivileged")
    if not restore:
        if unprivileged is None:
            unprivileged = 1
        if not unprivileged:
            ctx.check("/", "Sys.Modify")
    if p.get("ha-managed"):
        ctx.check("/", "Sys.Console")
    g_old = w.guests.get(vmid)
    same_exists = g_old is not None
    if not (same_exists and restore and force):
        # pve-cluster Cluster.pm check_vmid_unused
        if same_exists:
            die("CT %d already exists on node '%s'" % (vmid, w.node))
        if vmid in w.remote_vmids:
            die("CT %d already exists on node 'pve-02'" % vmid)
    else:
        # create_vm: only a stopped, unprotected CT may be overwritten
        if g_old.status == "running":
            die("can't overwrite running container")
        if g_old.conf.get("protection"):
            die("unable to restore CT %d - protection mode enabled" % vmid)
    if p.get("pool"):
        die("pool '%s' does not exist" % p["pool"])
    if ctx.has(vpath, "VM.Allocate"):
        pass
    elif restore and force and same_exists and ctx.has(vpath, "VM.Backup"):
        # restore over an existing CT with VM.Backup only
        if g_old.conf.get("unprivileged") and unprivileged is not None and not unprivileged:
            ctx.check("/", "Sys.Modify")
    else:
        raise PermError()
    # create_vm: "my $storage = extract_param($param, 'storage') // 'local';"
    storage_id = p.get("storage") or "local"
    confparams = {k: v for k, v in p.items() if v is not None and option_exists(w, k)
                  and k != "unprivileged"}
    # pve-container src/PVE/LXC.pm check_ct_modify_config_perm (incl. SDN.Use of netN)
    check_ct_modify_config_perm(ctx, vmid, None, confparams, [], unprivileged)
    ostemplate = p["ostemplate"]
    vol = w.volume(ostemplate)
    ctype = "backup" if restore else "vztmpl"
    # pve-storage src/PVE/Storage.pm check_volume_access($vmid, $volid, $content_type)
    if vol is None:
        sid = ostemplate.split(":", 1)[0] if ":" in ostemplate else None
        if sid is None:
            die("Only root can pass arbitrary filesystem paths.")
        if sid not in w.storages:
            die("storage '%s' does not exist" % sid)
        die("volume '%s' does not exist" % ostemplate)
    if vol["content"] != ctype:
        die("unable to use volume %s - content type needs to be '%s'" % (ostemplate, ctype))
    check_volume_access(ctx, vol, vmid=vmid)

    used = set()
    mp_param = {}
    no_disk = {}
    storage_only = True
    for k, v in confparams.items():
        if is_mp_key(k):
            # a bare number is a new volume on 'storage'
            mp_param[k] = "%s:%s" % (storage_id, v) if re.fullmatch(r"\d+(\.\d+)?", str(v)) else v
            storage_only = False
        elif re.match(r"^unused\d+$", k):
            continue
        else:
            no_disk[k] = v
    if not storage_only and "rootfs" not in mp_param:
        die("mount points configured, but 'rootfs' not set - aborting")
    for k in sorted(mp_param, key=sort_indexed_key):
        d = P.parse_prop_string(mp_param[k], mp_desc(k), k)
        # create_vm: 'die "Only root can pass arbitrary filesystem
        # paths.\n" if !$is_root;' (root: pct through /_sim/root)
        if P.classify_mountpoint(d["volume"]) != "volume" and not ctx.root:
            die("Only root can pass arbitrary filesystem paths.")
        m = P.NEW_DISK_RE.match(d["volume"])
        sid = (m.group(1) or storage_id) if m else volume_storage(d["volume"])
        check_and_activate_storage(ctx, sid, used)
    if "rootfs" not in mp_param:
        check_and_activate_storage(ctx, storage_id, used)

    # AbstractConfig.pm create_and_lock_config: lock file (5 s), the vmid
    # still unused (or allowed to exist), no other lock on it
    lock_config(ctx, vmid, timeout=5)
    emsg = "unable to %s CT %d -" % ("restore" if restore else "create", vmid)
    if same_exists and g_old.conf.get("lock"):
        die("%s CT is locked (%s)" % (emsg, g_old.conf["lock"]))

    # ---- what the worker will do ($code under lock_config)
    early = None          # a worker error before the CT is modified
    warnings = []
    bconf = {}
    conf = {}
    if restore:
        bconf = copy.deepcopy(vol.get("config") or {})
        # "early check before disks are created" (SDN.Use of the backup's nets)
        for k in sorted(bconf, key=sort_indexed_key):
            if early is None and re.match(r"^net\d+$", k) and k not in p:
                early = check_bridge_access(ctx, bconf[k], worker=True)
        if unprivileged is None and bconf.get("unprivileged") is not None:
            unprivileged = int(bconf["unprivileged"])
        if early is None and (not same_exists or g_old.conf.get("unprivileged")) \
                and not unprivileged and not ctx.has("/", "Sys.Modify"):
            early = "Permission check failed (/, Sys.Modify)"
    if unprivileged:
        conf["unprivileged"] = 1
    elif restore:
        conf["unprivileged"] = 0
    new_mps = {}
    delayed = {}          # root's bind/device mount points, after extraction
    if storage_only:
        if restore:
            # storage only mode: every mount point of the backup, recreated on 'storage'
            orig = {k: bconf[k] for k in bconf if is_mp_key(k)}
            if early is None and "rootfs" not in orig:
                early = ("rootfs configuration could not be recovered, please check and "
                         "specify manually!")
            for k in sorted(orig, key=sort_indexed_key):
                if early is not None:
                    break
                d = P.parse_prop_string(orig[k], mp_desc(k), k)
                mtype = P.classify_mountpoint(d["volume"])
                if mtype == "volume":
                    size = P.parse_size(d.get("size", "")) if d.get("size") else None
                    if size is None:
                        early = "unable to detect disk size - please specify %s (size)" % k
                        break
                    d.pop("size", None)
                    d["volume"] = "%s:%s" % (storage_id, gib(size))
                    new_mps[k] = P.print_prop_string(d, mp_desc(k))
                elif k == "rootfs":
                    early = ("restoring rootfs to %s mount is only possible by specifying "
                             "-rootfs manually!" % mtype)
                elif ctx.root:
                    # create_vm, storage-only branch: root's bind/device
                    # mount points are delayed and written back after the
                    # extraction
                    delayed[k] = orig[k]
                else:
                    # a token is never root@pam (pve-api.md 2.2)
                    early = "restoring '%s' to %s mount is only possible for root" % (k, mtype)
        else:
            new_mps["rootfs"] = "%s:4" % storage_id
    else:
        new_mps = dict(mp_param)
    if early is None:
        for k in sorted(new_mps, key=sort_indexed_key):
            conf[k] = alloc_volume(w, vmid, k, new_mps[k], storage_id, [conf])
    for k, v in sorted(no_disk.items()):
        if re.match(r"^net\d+$", k):
            v = norm_net(v, k)
        elif k == "tags":
            v = P.unique_tags(v)
        elif k == "description":
            v = norm_description(v)
            if v is None:
                continue
        else:
            v = typed_value(k, v)
        conf[k] = v
    if restore and early is None:
        # pve-container src/PVE/LXC/Create.pm sanitize_and_merge_config
        # (restricted: the caller is not root@pam)
        for k in sorted(bconf, key=sort_indexed_key):
            if k in ("digest", "rootfs", "snapshots", "unprivileged", "parent", "template",
                     "lock") or re.match(r"^(mp|unused)\d+$", k):
                continue
            if k == "lxc":
                # create_vm: "$conf->{lxc} = $orig_conf->{lxc} if $is_root;"
                if ctx.root and bconf["lxc"]:
                    conf["lxc"] = copy.deepcopy(bconf["lxc"])
                elif bconf["lxc"]:
                    warnings.append(["skipping custom lxc options, restore manually as root:",
                                     "--------------------------------"] +
                                    ["%s: %s" % (a, b) for a, b in bconf["lxc"]] +
                                    ["--------------------------------"])
                continue
            if re.match(r"^net\d+$", k) and k not in conf:
                e = check_bridge_access(ctx, bconf[k], worker=True)
                if e:
                    early = e
                    break
            if p.get("unique") and re.match(r"^net\d+$", k):
                conf[k] = norm_net(bconf[k], k, new_mac=True)
                continue
            if k not in conf:
                conf[k] = copy.deepcopy(bconf[k])
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
    if early is not None:
        t.fail = "%s %s" % (emsg, early)
    elif restore and vol.get("broken"):
        # A volume marked "broken" (POST /_sim/world/volume) cannot be
        # extracted: create_vm's worker dies with "unable to restore CT
        # <vmid> - <error>" once the CT is modified (its new volumes and
        # config destroyed: the fail hook below).
        if vol.get("format", "").startswith("pbs"):
            t.fail = ("%s command '/usr/bin/proxmox-backup-client restore %s root.pxar "
                      "/var/lib/lxc/%d/rootfs' failed: exit code 255"
                      % (emsg, ostemplate.split(":", 1)[1], vmid))
        else:
            t.fail = ("%s command 'lxc-usernsexec -m u:0:100000:65536 -m g:0:100000:65536 "
                      "-- tar xpf - --zstd --totals --one-file-system -p --sparse "
                      "--numeric-owner -C /var/lib/lxc/%d/rootfs --skip-old-files "
                      "--anchored --exclude './dev/*'' failed: exit code 2" % (emsg, vmid))
        t.fault_exit = t.fail   # a late failure: the old CT is gone
    # create_and_lock_config: the CT exists from now on, locked
    if same_exists:
        g_old.conf["lock"] = "create"
    else:
        w.guests[vmid] = Guest(vmid, {"lock": "create"})
    start = bool(p.get("start"))
    # create_vm: $destroy_config_on_error is set once the CT is modified;
    # a worker error before that leaves an existing CT as it was
    modified = early is None

    def ok(world, task):
        if world.guests.get(vmid) is None:
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
        # the old volumes (and every snapshot on them) are gone: a new CT
        newg = Guest(vmid, dict(conf, **delayed))
        world.guests[vmid] = newg
        if start:
            set_running(newg)

    def fail(world, task, msg):
        gg = world.guests.get(vmid)
        if gg is None or task.keep_lock:
            return
        if same_exists and not (modified and task.fault_exit):
            # an early error: the old CT stays, only the create lock goes
            if gg.conf.get("lock") == "create":
                del gg.conf["lock"]
            return
        # destroy_config_on_error: old volumes destroyed, config removed
        world.guests.pop(vmid, None)
    t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


@route("GET", r"/nodes/(?P<node>[^/]+)/vzdump/extractconfig")
def get_extractconfig(ctx):
    """pve-manager PVE/API2/VZDump.pm extractconfig: the raw guest config
    stored in a backup (check_volume_access with content 'backup', then
    VM.Backup on the owner)."""
    real_node(ctx)
    p = ctx.validate({"node": NODE, "volume": STR})
    w = ctx.world
    volid = p["volume"]
    if ":" not in volid:
        die("Only root can pass arbitrary filesystem paths.")
    sid = volid.split(":", 1)[0]
    if sid not in w.storages:
        die("storage '%s' does not exist" % sid)
    vol = w.volume(volid)
    if vol is None:
        die("volume '%s' does not exist" % volid)
    if vol["content"] != "backup":
        die("unable to use volume %s - content type needs to be 'backup'" % volid)
    check_volume_access(ctx, vol)
    if vol.get("vmid"):
        ctx.check("/vms/%s" % vol["vmid"], "VM.Backup")
    return raw_config_text(vol.get("config") or {})


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
    # destroy_vm $early_checks: protection, lock, HA resource without purge
    if vmid in w.ha and not p.get("purge"):
        die("unable to remove CT %d - used in HA resources and purge parameter not set." % vmid)
    if g.status == "running" and not p.get("force"):
        die("unable to destroy CT %d - container is running" % vmid)
    t = w.new_task("vzdestroy", vmid, "destroy", vmid)
    if g.status == "running":
        set_stopped(g)
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
            if world.ha.pop(vmid, None) is not None:
                task.log.append("NOTE: removed CT %d from HA resource configuration." % vmid)
        world.guests.pop(vmid, None)

    def fail(world, task, msg):
        gg = world.guests.get(vmid)
        if gg is not None and not task.keep_lock and gg.conf.get("lock") == "destroyed":
            del gg.conf["lock"]
    t.on_ok, t.on_fail = ok, fail
    w.launch(t)
    return t.upid


# --------------------------------------------------------------------------
