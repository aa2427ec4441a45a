"""Storage list and storage content."""


from . import params as P
from .api import (BOOL, NODE, STORAGE_ID, STR, VMID, check_volume_access, maybe_shuffle, o,
                  real_node, route, volume_storage)
from .params import ApiError, FormatError, die


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
        # pve-storage src/PVE/API2/Storage/Content.pm index: every item
        # filtered by check_volume_access (eval { ... }; next if $@), so a
        # backup is listed only with Datastore.AllocateSpace on the storage
        # and VM.Backup on its guest (or Datastore.Allocate)
        try:
            check_volume_access(ctx, v)
        except ApiError:
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


#


STORAGE_TYPES = ["btrfs", "cephfs", "cifs", "dir", "esxi", "glusterfs", "iscsi", "iscsidirect",
                 "lvm", "lvmthin", "nfs", "pbs", "rbd", "zfs", "zfspool"]


@route("GET", r"/storage")
def get_storage_config(ctx):
    """pve-storage src/PVE/API2/Storage/Config.pm index: the cluster-wide
    storage configuration, each entry listed only with Datastore.Audit or
    Datastore.AllocateSpace on /storage/<id> ($api_storage_config: the
    storage.cfg section plus 'storage' and 'digest', content as a comma
    list).  This is where a PBS storage's server, datastore and
    fingerprint are; secrets (password, encryption key) live in other
    files and are never part of it."""
    p = ctx.validate({"type": o(STR, enum=STORAGE_TYPES)})
    w = ctx.world
    out = []
    digest = w.storage_cfg_digest()
    for sid in sorted(w.storages):
        s = w.storages[sid]
        spath = "/storage/%s" % sid
        if not (ctx.has(spath, "Datastore.Audit") or ctx.has(spath, "Datastore.AllocateSpace")):
            continue
        if p.get("type") and p["type"] != s.type:
            continue
        d = s.config_section()
        d.update({"storage": sid, "digest": digest,
                  "content": ",".join(maybe_shuffle(w, s.content))})
        out.append(d)
    return out


# --------------------------------------------------------------------------
