"""HTTPS front end: pveproxy-like responses, token auth, faults, counters and
the /_sim control endpoints."""

import email.utils
import gzip
import json
import random
import re
import socket
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import api
from . import params as P
from .params import ApiError
from .tasks import decode_upid
from .witness import Witness
from .world import Acl, Guest, Storage

api.load_endpoints()

JSON_CT = "application/json;charset=UTF-8"
MAX_BODY = 1 << 20
COUNTER_KINDS = ("start", "stop", "shutdown", "reboot", "config", "snapshot", "delete_snapshot",
                 "rollback", "vzdump", "restore", "create", "destroy", "snapshot_config",
                 "task_stop")


class Fault:
    _next = 1

    def __init__(self, d):
        self.id = Fault._next
        Fault._next += 1
        self.method = str(d.get("method") or "*").upper()
        self.path = str(d.get("path") or ".")
        self.rx = re.compile(self.path)
        self.count = int(d.get("count", 1))
        self.status = int(d.get("status") or 0)
        self.message = d.get("message")
        self.delay_ms = float(d.get("delay_ms") or 0)
        self.drop = bool(d.get("drop"))
        self.hits = 0

    def to_json(self):
        return {"id": self.id, "method": self.method, "path": self.path, "count": self.count,
                "status": self.status, "message": self.message, "delay_ms": self.delay_ms,
                "drop": self.drop, "hits": self.hits}


def max_concurrent_value(v):
    """A cap from a control request: an integer >= 0 (0: no cap)."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("max_concurrent must be an integer >= 0 (0: no cap), not %r" % (v,))
    return v


class Limiter:
    """At most `cap` API requests served at once (0: no cap); the rest wait
    their turn, they are not refused.

    pve-manager PVE/Service/pveproxy.pm, %daemon_options: `max_workers => 3`
    (PROXY's MAX_WORKERS may override it in init): pve-common
    src/PVE/Daemon.pm, start_workers() forks `$self->{max_workers} - $count`
    worker processes, and each worker runs one API handler at a time, so a
    node serves at most max_workers calls at once; the server_config's
    `max_conn => 500` lets the other connections in, where they wait for a
    worker instead of being turned away.  The counters tell a test how many
    were ever served at the same time."""

    def __init__(self, cap=0):
        self.cond = threading.Condition()
        self.cap = cap
        self.in_flight = 0
        self.max_in_flight = 0
        self.served = 0
        self.waited = 0

    def set_cap(self, cap):
        with self.cond:
            self.cap = cap
            self.cond.notify_all()

    def enter(self):
        with self.cond:
            if self.cap > 0 and self.in_flight >= self.cap:
                self.waited += 1
            while self.cap > 0 and self.in_flight >= self.cap:
                self.cond.wait()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self):
        with self.cond:
            self.in_flight -= 1
            self.served += 1
            self.cond.notify()

    def reset(self):
        with self.cond:
            self.max_in_flight = self.in_flight
            self.served = 0
            self.waited = 0

    def to_json(self):
        with self.cond:
            return {"max_concurrent": self.cap, "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight, "served": self.served,
                    "waited": self.waited}


class SimState:
    """Everything the front end keeps besides the world."""

    def __init__(self, world, verbose=False, state_file=None, initial=None,
                 max_concurrent=0):
        self.limiter = Limiter(max_concurrent)
        self.world = world
        self.verbose = verbose
        self.state_file = state_file
        self.initial = initial
        self.faults = []
        self.lock = threading.Lock()
        self.counters = {}
        self.requests = []      # mutating requests as received (GET /_sim/requests)
        self.witness = None     # the write-ahead witness (witness.py)

    MAX_REQUESTS = 5000

    def record(self, method, path, params, keys, status):
        """One mutating request: its decoded parameters (body and query,
        before the path parameters are merged in) and its answer."""
        with self.lock:
            self.requests.append({"method": method, "path": path, "params": params,
                                  "keys": list(keys), "status": status})
            if len(self.requests) > self.MAX_REQUESTS:
                del self.requests[:len(self.requests) - self.MAX_REQUESTS]

    def count(self, key, field):
        with self.lock:
            c = self.counters.setdefault(key, {"total": 0, "accepted": 0, "refused": 0,
                                               "faulted": 0})
            c[field] += 1

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f.count <= 0:
                    continue
                if f.method not in ("*", method):
                    continue
                if not f.rx.search(path):
                    continue
                f.count -= 1
                f.hits += 1
                return f
        return None


def log(state, msg):
    if state.verbose:
        print("pve-sim: %s" % msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------

class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, addr, handler, sim, sslctx):
        self.sim = sim
        self.sslctx = sslctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread
        try:
            request.settimeout(30)
            # pve-common src/PVE/Daemon.pm, create_reusable_socket: pveproxy
            # turns Nagle off ("we often observe delays").  With it on, the
            # TLS 1.3 session tickets (two small writes after the handshake)
            # held every new connection's answer for the client's delayed
            # ACK: ~40 ms per connection.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ssock = self.sslctx.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as e:
            log(self.sim, "TLS handshake with %s failed: %s" % (client_address, e))
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            self.RequestHandlerClass(ssock, client_address, self)
        finally:
            try:
                ssock.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.sim.verbose:
            traceback.print_exc()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    timeout = 120

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            sys.stderr.write("pve-sim: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_GET

    # ---- low level output ------------------------------------------------
    def write_response(self, status, reason, body, ctype=JSON_CT, close=False,
                       extra=(), drop=False, no_length=False):
        reason = re.sub(r"[\r\n]", " ", reason or "")
        date = email.utils.formatdate(usegmt=True)
        headers = [("Cache-Control", "max-age=0"),
                   ("Connection", "close" if close else "Keep-Alive"),
                   ("Date", date), ("Pragma", "no-cache"),
                   ("Server", "pve-api-daemon/3.0"), ("Expires", date)]
        if body is not None:
            ae = self.headers.get("Accept-Encoding", "") if self.headers else ""
            if len(body) > 1024 and "gzip" in ae.lower():
                body = gzip.compress(body)
                headers.append(("Content-Encoding", "gzip"))
            if ctype:
                headers.append(("Content-Type", ctype))
        if not no_length:
            headers.append(("Content-Length", str(len(body or b""))))
        headers.extend(extra)
        head = "HTTP/1.1 %d %s\r\n" % (status, reason)
        head += "".join("%s: %s\r\n" % kv for kv in headers) + "\r\n"
        raw = head.encode("latin-1", "replace")
        if self.command == "HEAD":
            body = b""
        if drop:
            part = (body or b"")[:max(1, len(body or b"") // 2)]
            try:
                self.wfile.write(raw + part)
                self.wfile.flush()
                # no TLS close_notify: the peer sees a truncated body
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        try:
            self.wfile.write(raw + (body or b""))
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        if close:
            self.close_connection = True

    def send_json(self, status, obj, reason=None, close=False, drop=False):
        body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.write_response(status, reason or {200: "OK", 400: "Bad Request", 404: "Not Found"}
                            .get(status, "OK"), body, close=close, drop=drop)

    def send_api_error(self, e, drop=False):
        world = self.server.sim.world
        reason = e.message.split("\n")[0]
        if e.status == 401:
            self.write_response(401, reason, None, ctype=None, close=True, no_length=True,
                                drop=drop)
            return
        body = {"data": None}
        if e.errors:
            body["errors"] = e.errors
        if world.v.error_message:
            body["message"] = e.message
        data = json.dumps(shuffle(world, body), separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
        self.write_response(e.status, reason, data, close=e.status >= 400, drop=drop)

    # ---- request input ---------------------------------------------------
    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise ApiError(413, "Request Entity Too Large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0:
            raise ApiError(400, "Bad Request")
        if n > MAX_BODY:
            raise ApiError(413, "Request Entity Too Large")
        return self.rfile.read(n) if n else b""

    # ---- dispatch ----------------------------------------------------------
    def dispatch(self):
        sim = self.server.sim
        t0 = time.time()
        status_for_log = 0
        try:
            rawpath, _, query = self.path.partition("?")
            if self.headers.get("Connection", "").lower() == "close":
                self.close_connection = True
            try:
                body = self.read_body()
            except (ValueError, ApiError) as e:
                self.send_api_error(e if isinstance(e, ApiError) else ApiError(400, "Bad Request"))
                self.close_connection = True
                return
            path = urllib.parse.unquote(rawpath)
            if path == "/_sim" or path.startswith("/_sim/"):
                status_for_log = self.control(path, query, body)
            elif path == "/api2/json" or path.startswith("/api2/json/"):
                sim.limiter.enter()
                try:
                    status_for_log = self.api(path, query, body)
                finally:
                    sim.limiter.leave()
            else:
                self.write_response(404, "Not Found", b"", ctype=None, close=True)
                status_for_log = 404
        except Exception as e:  # a malformed request never kills the server
            traceback.print_exc(file=sys.stderr)
            try:
                self.send_api_error(ApiError(500, "internal error - %s" % e))
            except Exception:
                pass
            self.close_connection = True
            status_for_log = 500
        finally:
            log(sim, "%s %s -> %s (%.1f ms)" % (self.command, self.path, status_for_log,
                                               (time.time() - t0) * 1000))

    # ---- /api2/json ----------------------------------------------------------
    def authenticate(self):
        world = self.server.sim.world
        auth = self.headers.get("Authorization") or ""
        m = re.search(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)", auth)
        if not m:
            return "No ticket"
        value = urllib.parse.unquote(m.group(1).strip())
        reason = None
        mm = re.match(r"^(.*)=(.*)$", value, re.S)
        if not mm:
            reason = "no tokenid specified"
        else:
            tokenid, secret = mm.group(1), mm.group(2)
            im = re.match(r"^(([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+))!([A-Za-z][A-Za-z0-9.\-_]+)$",
                          tokenid)
            user, tok = world.token_id.split("!", 1)
            if not im:
                reason = "'%s' is not a valid token ID" % tokenid
            elif im.group(1) != user:
                reason = "no such user ('%s')" % im.group(1)
            elif im.group(4) != tok:
                reason = "no such token '%s' for user '%s'" % (im.group(4), im.group(1))
            elif secret != world.token_secret:
                reason = "invalid token value!"
        if reason is None:
            return None
        if world.v.auth_failed_unified:
            return "Authentication failed!"
        return reason

    def api(self, path, query, body):
        sim = self.server.sim
        world = sim.world
        method = self.command
        latency = float(world.settings.get("latency_ms") or 0)
        if latency > 0:
            time.sleep(latency / 1000.0)
        bad = self.authenticate()
        if bad is not None:
            d = float(world.settings.get("auth_fail_delay_ms") or 0)
            if d > 0:
                time.sleep(d / 1000.0)
            self.send_api_error(ApiError(401, bad))
            return 401
        rel = path[len("/api2/json"):] or "/"
        if len(rel) > 1:
            rel = rel.rstrip("/")
        found = api.find_route(method, rel)

        # ---- parameters (pve-http-server extract_params)
        params = {}
        pre_error = None
        try:
            if method in ("POST", "PUT"):
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ctype == "application/json":
                    params = P.wrap_json_params(P.decode_json_body(body))
                else:
                    params = P.decode_urlencoded(body)
            for k, v in P.decode_urlencoded(query).items():
                params[k] = v
        except ApiError as e:
            pre_error = e

        keys = []
        sent = {k: (str(v) if isinstance(v, P.JsonBool) else v) for k, v in params.items()}
        if found is not None:
            fn, pp, kind, vmid_from = found
            keys = self.counter_keys(kind, vmid_from, pp, params)
            for k in keys:
                sim.count(k, "total")
            witness = sim.witness
            if witness is not None and method != "GET" and keys:
                witness.check(method, rel, keys)

        fault = sim.take_fault(method, path)
        if fault is not None:
            if fault.delay_ms > 0:
                time.sleep(fault.delay_ms / 1000.0)
            if fault.status:
                msg = fault.message or {500: "Internal Server Error", 502: "Bad Gateway",
                                        503: "Service Unavailable", 596: "Connection timed out",
                                        595: "Errors during connection establishment",
                                        401: "Authentication failed!"}.get(
                    fault.status, "simulated failure")
                for k in keys:
                    sim.count(k, "faulted")
                if keys:
                    sim.record(method, rel, sent, keys, fault.status)
                self.send_api_error(ApiError(fault.status, msg), drop=fault.drop)
                return fault.status
        drop = bool(fault is not None and fault.drop)

        if found is None:
            e = P.NotImplementedErr(method, rel)
            self.send_api_error(e, drop=drop)
            return e.status
        fn, pp, kind, vmid_from = found
        status = 200
        reply = None            # (data) or (ApiError): sent after the books

        def book(st):
            # counted and recorded before the answer goes out, so a client
            # that got its answer finds its request in /_sim/requests
            for k in keys:
                if drop:
                    sim.count(k, "faulted")
                sim.count(k, "accepted" if st == 200 else "refused")
            if keys:
                sim.record(method, rel, sent, keys, st)

        try:
            if pre_error is not None:
                raise pre_error
            for k, v in pp.items():
                if params.get(k) is not None and str(params[k]) != v:
                    raise P.ParamError({k: "duplicate parameter (already defined in URI) with "
                                        "conflicting values!"})
            params.update(pp)
            waited = 0.0
            while True:
                try:
                    with world.lock:
                        ctx = api.Ctx(world, method, rel, params, pp)
                        ctx.waited = waited
                        res = fn(ctx)
                    break
                except api.LockWait as lw:
                    # waiting for a lock file never holds up the others
                    time.sleep(lw.seconds)
                    waited += lw.seconds
                    if lw.error is not None:
                        raise lw.error
            if isinstance(res, api.Resp):
                obj = {"data": res.data}
                obj.update(res.extra)
            else:
                obj = {"data": res}
            reply = json.dumps(shuffle(world, obj), separators=(",", ":"),
                               ensure_ascii=False).encode("utf-8")
        except ApiError as e:
            status = e.status
            reply = e
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            status = 500
            reply = ApiError(500, "internal simulator error: %s" % e)
        book(status)
        if status == 200:
            self.write_response(200, "OK", reply, drop=drop)
        else:
            self.send_api_error(reply, drop=drop)
        return status

    def counter_keys(self, kind, vmid_from, pp, params):
        if vmid_from is None:
            return []
        if vmid_from == "path":
            return ["%s:%s" % (pp.get("vmid"), kind)]
        if vmid_from == "create":
            r = params.get("restore")
            k = "restore" if (r is not None and str(r) == "1") else "create"
            return ["%s:%s" % (params.get("vmid", "?"), k)]
        if vmid_from == "vzdump":
            ids = P.split_list(params.get("vmid")) if isinstance(params.get("vmid"), (str, list)) else []
            if not ids:
                return ["*:vzdump"]
            return ["%s:vzdump" % x for x in dict.fromkeys(ids)]
        if vmid_from == "task":
            info = decode_upid(pp.get("upid", ""))
            return ["%s:%s" % (info["id"] if info and info["id"] else "*", kind)]
        return []

    # ---- /_sim ---------------------------------------------------------------
    def control(self, path, query, body):
        sim = self.server.sim
        world = sim.world
        method = self.command
        q = urllib.parse.parse_qs(query)
        try:
            req = json.loads(body.decode("utf-8")) if body.strip() else {}
            if not isinstance(req, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            self.send_json(400, {"error": "bad JSON body: %s" % e})
            return 400
        try:
            res = self.control_inner(sim, world, method, path, q, req)
        except (ValueError, KeyError, TypeError, re.error) as e:
            self.send_json(400, {"error": str(e)})
            return 400
        if res is None:
            self.send_json(404, {"error": "unknown control endpoint %s %s" % (method, path)})
            return 404
        self.send_json(200, res)
        return 200

    def control_inner(self, sim, world, method, path, q, req):
        if path == "/_sim/fault" and method == "POST":
            f = Fault(req)
            with sim.lock:
                sim.faults.append(f)
            return {"ok": True, "id": f.id}
        if path in ("/_sim/fault", "/_sim/faults") and method == "DELETE":
            # Only the request faults: counters, task faults and hung
            # tasks stay (a soak lifts its faults and goes on counting).
            with sim.lock:
                n = sum(1 for f in sim.faults if f.count > 0)
                sim.faults = []
            return {"cleared": n}
        if path == "/_sim/faults" and method == "GET":
            with sim.lock:
                return {"faults": [f.to_json() for f in sim.faults],
                        "task_faults": list(world.task_faults)}
        if path == "/_sim/task-fault" and method == "POST":
            kind = str(req.get("kind") or "")
            if kind not in COUNTER_KINDS and kind != "*":
                raise ValueError("unknown kind %r (one of %s)" % (kind, ", ".join(COUNTER_KINDS)))
            vmid = req.get("vmid")
            f = {"vmid": None if vmid in (None, "*") else int(vmid), "kind": kind,
                 "count": int(req.get("count", 1)), "exitstatus": req.get("exitstatus"),
                 "warnings": int(req.get("warnings") or 0), "hang": bool(req.get("hang")),
                 "keep_lock": bool(req.get("keep_lock"))}
            with world.lock:
                world.task_faults.append(f)
            return {"ok": True}
        if path == "/_sim/release" and method == "POST":
            rel = world.release(upid=req.get("upid"), vmid=req.get("vmid"),
                                exitstatus=req.get("exitstatus"))
            return {"released": rel}
        if path == "/_sim/reset" and method == "POST":
            with sim.lock:
                sim.faults = []
                sim.counters = {}
                sim.requests = []
            with world.lock:
                world.task_faults = []
                world.config_locks = {}
            world.release()
            if req.get("world"):
                with world.lock:
                    world.load_state(sim.initial)
                    world.tasks = {}
                    world.task_order = []
            return {"ok": True}
        if path == "/_sim/config":
            if method == "POST":
                with world.lock:
                    for k in ("task_seconds", "latency_ms", "archive_delay",
                              "auth_fail_delay_ms"):
                        if k in req:
                            world.settings[k] = float(req[k])
                    for k in ("lock_timeout_scale", "ha_delay"):
                        if k in req:
                            v = float(req[k])
                            if v < 0:
                                raise ValueError("%s must be >= 0" % k)
                            world.settings[k] = v
                    if "shuffle" in req:
                        world.settings["shuffle"] = bool(req["shuffle"])
                    if "max_concurrent" in req:
                        sim.limiter.set_cap(max_concurrent_value(req["max_concurrent"]))
                    if "acl" in req:
                        world.acl = Acl(req["acl"])
            elif method != "GET":
                return None
            out = dict(world.settings)
            out["max_concurrent"] = sim.limiter.cap
            return out
        if path == "/_sim/concurrency":
            if method == "POST":
                if "max_concurrent" in req:
                    sim.limiter.set_cap(max_concurrent_value(req["max_concurrent"]))
                if req.get("reset"):
                    sim.limiter.reset()
            elif method != "GET":
                return None
            return sim.limiter.to_json()
        if path == "/_sim/counters" and method == "GET":
            outcome = (q.get("outcome") or ["total"])[0]
            detail = (q.get("detail") or ["0"])[0] == "1"
            with sim.lock:
                if detail:
                    return {k: dict(v) for k, v in sim.counters.items()}
                if outcome not in ("total", "accepted", "refused", "faulted"):
                    raise ValueError("outcome must be total|accepted|refused|faulted")
                return {k: v[outcome] for k, v in sim.counters.items() if v[outcome]}
        if path == "/_sim/world" and method == "GET":
            return world_dump(world, sim)
        if path == "/_sim/world/guest" and method in ("POST", "DELETE"):
            return guest_helper(world, req if method == "POST" else
                                {"vmid": (q.get("vmid") or [req.get("vmid")])[0], "remove": True})
        if path == "/_sim/world/storage" and method == "POST":
            return storage_helper(world, req)
        if path == "/_sim/config-lock" and method == "POST":
            return config_lock_helper(world, req)
        if path == "/_sim/world/volume" and method == "POST":
            return volume_helper(world, req)
        if path == "/_sim/requests" and method == "GET":
            vmid = (q.get("vmid") or [None])[0]
            with sim.lock:
                return [dict(r) for r in sim.requests
                        if vmid is None or any(k.split(":", 1)[0] == vmid for k in r["keys"])]
        if path == "/_sim/witness":
            if method == "POST":
                db = req.get("db")
                if db is not None and not isinstance(db, str):
                    raise ValueError("db must be a path or null")
                sim.witness = Witness(db) if db else None
            elif method != "GET":
                return None
            w = sim.witness
            return w.to_json() if w is not None else {"db": None}
        if path == "/_sim/acl" and method == "POST":
            with world.lock:
                world.acl = Acl(req)
            return {"ok": True, "permissions": world.acl.permissions()}
        if path == "/_sim/root" and method == "POST":
            return root_call(world, req)
        if path == "/_sim/save" and method == "POST":
            target = req.get("path") or sim.state_file
            if not target:
                raise ValueError("no path given and no --state file")
            world.save(target)
            return {"ok": True, "path": target}
        return None


def shuffle(world, obj):
    """Perl hash order: random key order in every object."""
    if not world.settings.get("shuffle", True):
        return obj
    if isinstance(obj, dict):
        items = list(obj.items())
        random.shuffle(items)
        return {k: shuffle(world, v) for k, v in items}
    if isinstance(obj, list):
        return [shuffle(world, x) for x in obj]
    return obj


def world_dump(world, sim):
    with world.lock:
        d = world.to_state(include_tasks=False)
        for gd in d["guests"]:
            g = world.guests[gd["vmid"]]
            gd["digest"] = g.digest()
            gd["lock"] = g.conf.get("lock")
        now = time.time()
        d["tasks"] = [{"upid": t.upid, "kind": t.kind, "vmid": t.vmid, "vmids": t.vmids,
                       "type": t.type, "id": t.id, "user": t.user,
                       "status": "running" if t.running else "stopped",
                       "exitstatus": t.exitstatus, "hung": t.hung,
                       "archived": t.archived(now), "starttime": t.starttime,
                       "endtime": t.endtime, "log": list(t.log)} for t in world.task_order]
        d["task_faults"] = list(world.task_faults)
        d["config_locks"] = {str(k): (None if v is None else max(0.0, v - now))
                             for k, v in world.config_locks.items()}
        d["settings"] = dict(world.settings)
        d["version"] = {"spec": world.v.spec, "version": world.v.version}
        d["token_id"] = world.token_id
        d["acl"] = world.acl.to_state()
    with sim.lock:
        d["faults"] = [f.to_json() for f in sim.faults]
    return d


def guest_helper(world, req):
    """POST /_sim/world/guest: add or modify a container behind the API's back
    (like editing /etc/pve/lxc/<vmid>.conf or 'pct unlock' as root)."""
    vmid = int(req["vmid"])
    with world.lock:
        if req.get("remove"):
            existed = world.guests.pop(vmid, None) is not None
            return {"ok": True, "removed": existed}
        g = world.guests.get(vmid)
        if g is None:
            conf = {"arch": "amd64", "ostype": "debian", "hostname": "ct%d" % vmid,
                    "memory": 512, "swap": 512, "unprivileged": 1,
                    "rootfs": "local-lvm:vm-%d-disk-0,size=4G" % vmid}
            conf.update(req.get("config") or {})
            g = Guest(vmid, conf, req.get("status", "stopped"))
            world.guests[vmid] = g
        else:
            for k, v in (req.get("config") or {}).items():
                if v is None:
                    g.conf.pop(k, None)
                else:
                    tmp = Guest(vmid, {k: v})
                    if k in tmp.conf:
                        g.conf[k] = tmp.conf[k]
                    else:
                        g.conf.pop(k, None)
        for k in req.get("delete") or []:
            g.conf.pop(k, None)
        if "lock" in req:
            if req["lock"]:
                g.conf["lock"] = str(req["lock"])
            else:
                g.conf.pop("lock", None)
        if "status" in req and req["status"] in ("running", "stopped") and req["status"] != g.status:
            if req["status"] == "running":
                g.status = "running"
                g.started_at = time.time()
                g.pid = random.randint(3000, 4000000)
            else:
                g.status = "stopped"
                g.pid = 0
        if "snapshots" in req:
            tmp = Guest.from_state({"vmid": vmid, "snapshots": req["snapshots"] or {}})
            g.snapshots = tmp.snapshots
        if "ha" in req:
            # like 'ha-manager add ct:<vmid> --state started' (null: remove)
            if req["ha"] is None:
                world.ha.pop(vmid, None)
            else:
                ha = dict(req["ha"])
                if ha.get("state", "started") not in ("started", "stopped"):
                    raise ValueError("ha.state must be started or stopped")
                world.ha[vmid] = {"state": ha.get("state", "started"),
                                  "stuck": bool(ha.get("stuck"))}
        return {"ok": True, "vmid": vmid, "digest": g.digest(), "config": g.conf,
                "status": g.status, "ha": world.ha.get(vmid)}


def storage_helper(world, req):
    """POST /_sim/world/storage: add a storage or change one (like editing
    /etc/pve/storage.cfg): {"storage": id, <state keys>...}, or
    {"storage": id, "remove": true}."""
    sid = str(req["storage"])
    with world.lock:
        if req.get("remove"):
            return {"ok": True, "removed": world.storages.pop(sid, None) is not None}
        old = world.storages.get(sid)
        d = old.to_state() if old is not None else {}
        d.update({k: v for k, v in req.items() if k != "storage"})
        world.storages[sid] = Storage(sid, d)
        return {"ok": True, "storage": sid, "config": world.storages[sid].to_state()}


def config_lock_helper(world, req):
    """POST /_sim/config-lock: another worker holds vmid's config lock file
    (/run/lock/lxc/pve-config-<vmid>.lock) for `seconds` (null: until
    released); {"vmid": N, "release": true} frees it."""
    vmid = int(req["vmid"])
    with world.lock:
        if req.get("release"):
            return {"ok": True, "released": world.config_locks.pop(vmid, None) is not None
                    or False}
        secs = req.get("seconds")
        world.config_locks[vmid] = None if secs is None else time.time() + float(secs)
        return {"ok": True, "vmid": vmid, "seconds": secs}


def root_call(world, req):
    """POST /_sim/root: one API handler run as root@pam, the way the pct and
    pvesm CLIs run them on a real host (pve-container src/PVE/CLI/pct.pm maps
    `pct create/restore/set` onto PVE::API2::LXC create_vm / update_vm; the
    CLI's RPC environment user is root@pam).  A task runs in the foreground as
    in the CLI: the answer waits for it (up to "timeout", 60 s).  Not counted
    in /_sim/counters, which count the API's callers."""
    method = str(req.get("method") or "").upper()
    rel = str(req.get("path") or "")
    params = req.get("params") or {}
    if method not in ("GET", "POST", "PUT", "DELETE") or not rel.startswith("/"):
        raise ValueError("root call needs a method and an API path like /nodes/pve-01/lxc")
    if not isinstance(params, dict):
        raise ValueError("params must be an object of strings")
    found = api.find_route(method, rel)
    if found is None:
        raise ValueError("no API endpoint %s %s" % (method, rel))
    fn, pp, _kind, _vf = found
    params = {str(k): (v if isinstance(v, list) else str(v)) for k, v in params.items()}
    params.update(pp)
    try:
        with world.lock:
            ctx = api.Ctx(world, method, rel, params, pp)
            ctx.root = True
            ctx.acl = Acl({"/": ["*"]})
            world.acting_user = "root@pam"
            try:
                res = fn(ctx)
            finally:
                world.acting_user = None
    except ApiError as e:
        return {"ok": False, "status": e.status, "message": e.message,
                "errors": e.errors or None}
    data = res.data if isinstance(res, api.Resp) else res
    out = {"ok": True, "data": data}
    t = world.tasks.get(data) if isinstance(data, str) else None
    if t is not None:
        deadline = time.time() + float(req.get("timeout") or 60)
        while time.time() < deadline:
            with world.lock:
                if not t.running:
                    break
            time.sleep(0.02)
        with world.lock:
            out.update({"upid": t.upid, "running": t.running, "exitstatus": t.exitstatus,
                        "log": list(t.log)})
    return out


def volume_helper(world, req):
    volid = req["volid"]
    with world.lock:
        v = world.volume(volid)
        if req.get("remove"):
            if v is not None:
                world.volumes.remove(v)
            return {"ok": True, "removed": v is not None}
        sid = volid.split(":", 1)[0]
        if sid not in world.storages:
            raise ValueError("storage '%s' does not exist" % sid)
        if v is not None:
            world.volumes.remove(v)
        nv = world.norm_volume(req)
        world.volumes.append(nv)
        return {"ok": True, "volume": {k: nv[k] for k in nv if k != "config"}}
