"""PUT /nodes/{node}/lxc/{vmid}/config and the per-key permission checks."""

import re

from . import params as P
from .api import (NODE, STR, VMID, check_bridge_access, check_lock, check_volume_access,
                  load_guest, lock_config, lxc_conf_schema, norm_net, o, real_node, route,
                  volume_storage)
from .params import ParamError, PermError, die
from .world import BOOL_KEYS, FASTPLUG, HOTPLUG, INT_KEYS, NUM_KEYS, norm_description


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
    # container:src/PVE/LXC.pm check_ct_modify_config_perm:
    # "return 1 if $authuser eq 'root@pam';" (pct as root, /_sim/root)
    if ctx.root:
        return
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
                # $NEW_DISK_RE: "STORAGE:SIZE"; without a storage the
                # create/restore default ('storage' // 'local')
                sid = m.group(1) or ctx.params.get("storage") or "local"
                ctx.check("/storage/%s" % sid, "Datastore.AllocateSpace")
            else:
                vol = ctx.world.disk_volume(data["volume"])
                if vol is not None:
                    check_volume_access(ctx, vol, vmid=vmid)
        elif opt in ("memory", "swap"):
            ctx.check(vpath, "VM.Config.Memory")
        elif re.match(r"^net\d+$", opt):
            ctx.check(vpath, "VM.Config.Network")
            # check_bridge_access of the old and the new value, also when
            # the key is deleted (pve-guest-common check_vnet_access)
            if oldconf is not None and oldconf.get(opt):
                check_bridge_access(ctx, oldconf[opt])
            if not is_delete and newconf.get(opt):
                check_bridge_access(ctx, newconf[opt])
        elif opt in ("nameserver", "searchdomain", "hostname"):
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


def perl_true(v):
    """A scalar's truth in Perl: undef, "" and "0" are false."""
    return v is not None and v != "" and v != "0"


def assert_if_modified(digest1, digest2):
    """pve-common src/PVE/Tools.pm, assert_if_modified: a change is refused
    only when both digests are true (in Perl's sense) and differ; an empty or
    "0" digest checks nothing.  Called after load_config and check_lock
    (pve-container src/PVE/API2/LXC/Config.pm, update_vm)."""
    if perl_true(digest1) and perl_true(digest2) and digest1 != digest2:
        die("detected modified configuration - file changed by other user? Try again.")


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

    # pve-container src/PVE/API2/LXC/Config.pm update_vm: everything runs
    # under lock_config (10 s to get the lock file, else "got timeout")
    lock_config(ctx, vmid)
    g = load_guest(w, vmid)
    check_lock(g)
    assert_if_modified(digest, g.digest())
    newconf = {k: v for k, v in p.items() if v is not None or k == "description"}
    # update_vm: the deleted keys, the reverted keys, then the new values
    unpriv = g.conf.get("unprivileged", 0)
    check_ct_modify_config_perm(ctx, vmid, g.conf, {}, delete, unpriv)
    check_ct_modify_config_perm(ctx, vmid, g.conf, {}, revert, unpriv)
    check_ct_modify_config_perm(ctx, vmid, g.conf,
                                {k: ("" if v is None else v) for k, v in newconf.items()},
                                [], unpriv)
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
