"""Task list, status, log and stop."""

import time

from . import params as P
from .api import BOOL, INT, NODE, Resp, STR, VMID, o, real_node, route
from .params import ParamError
from .tasks import decode_upid


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
        # the worker's process group gets SIGTERM and the call waits for it
        t.hung = False
        if t.kind in ("snapshot", "delete_snapshot", "rollback", "destroy"):
            t.keep_lock = True     # died inside the config lock: the 'lock' stays
        msg = "interrupted by signal" if t.type == "vzdump" else "received interrupt"
        ctx.world.finish_task(t.upid, forced_exit=msg)
    return None
