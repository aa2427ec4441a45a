"""Tests for tools/pve-sim (standard library only).

Run from the repository root:
    python3 -m unittest discover -s tools/pve-sim -p 'test_*.py'

Fixtures: $FELHOM_FIXTURE_DIR/pve/api, else <repo>/tests/fixtures/pve/api.
"""

import hashlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURE_DIR = os.environ.get("FELHOM_FIXTURE_DIR") or os.path.join(
    REPO, "tests", "fixtures")
FIXTURES = os.path.join(FIXTURE_DIR, "pve", "api")
SIM = os.path.join(HERE, "pve-sim")

UPID_RE = (r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-F]{8}):([0-9A-F]{8,9}):"
           r"([0-9A-F]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


class Sim:
    """A running pve-sim and a tiny client for it."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([SIM, "--port", "0"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().decode()
            raise RuntimeError("pve-sim did not start: %s" % err)
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        self.conn = None

    def auth(self):
        return "PVEAPIToken=%s=%s" % (self.info["token_id"], self.info["token_secret"])

    def connect(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=20)

    def raw(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.connect()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r, data

    def api(self, method, path, params=None, body=None, ctype=None, auth=True, conn=None):
        headers = {}
        if auth:
            headers["Authorization"] = self.auth()
        url = "/api2/json" + path
        if params is not None:
            enc = urllib.parse.urlencode(params)
            if method in ("GET", "DELETE"):
                url += "?" + enc
            else:
                body = enc
                ctype = ctype or "application/x-www-form-urlencoded"
        if body is not None:
            headers["Content-Type"] = ctype or "application/x-www-form-urlencoded"
        r, data = self.raw(method, url, body=body, headers=headers, conn=conn)
        obj = json.loads(data) if data else None
        return r.status, r.reason, obj, r

    def ok(self, method, path, params=None, **kw):
        st, reason, obj, _ = self.api(method, path, params, **kw)
        if st != 200:
            raise AssertionError("%s %s -> %s %s %r" % (method, path, st, reason, obj))
        return obj["data"]

    def ctl(self, method, path, obj=None):
        body = json.dumps(obj) if obj is not None else None
        r, data = self.raw(method, path, body=body,
                           headers={"Content-Type": "application/json"} if body else {})
        return r.status, json.loads(data)

    def task_status(self, upid):
        node = upid.split(":")[1]
        return self.ok("GET", "/nodes/%s/tasks/%s/status" % (node, urllib.parse.quote(upid, safe="")))

    def task_log(self, upid):
        node = upid.split(":")[1]
        return self.ok("GET", "/nodes/%s/tasks/%s/log" % (node, urllib.parse.quote(upid, safe="")),
                       {"limit": 1000})

    def wait(self, upid, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            s = self.task_status(upid)
            if s["status"] == "stopped":
                return s
            time.sleep(0.03)
        raise AssertionError("task %s did not finish" % upid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            finally:
                self.proc.stdout.close()
                self.proc.stderr.close()
        return self.proc.returncode


def keys(d):
    return set(d.keys())


class PveSimTest(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--task-seconds", "0.1")
        cls.node = cls.sim.info["node"]
        cls.N = "/nodes/" + cls.node

    @classmethod
    def tearDownClass(cls):
        rc = cls.sim.stop()
        assert rc == 0, rc

    def setUp(self):
        # faults, counters and the whole world back to the start
        self.sim.ctl("POST", "/_sim/reset", {"world": True})

    # ---------------------------------------------------------------- TLS
    def test_first_line_and_tls_fingerprint(self):
        info = self.sim.info
        self.assertEqual(set(info), {"port", "fingerprint", "node", "token_id", "token_secret",
                                     "ca_file"})
        self.assertEqual(info["node"], "pve-01")
        self.assertEqual(info["token_id"], "felhom@pve!agent")
        self.assertRegex(info["fingerprint"], r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        self.assertRegex(info["token_secret"],
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        ctx = ssl.create_default_context(cafile=info["ca_file"])
        with socket.create_connection(("127.0.0.1", info["port"])) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1") as ts:
                der = ts.getpeercert(binary_form=True)
        fp = hashlib.sha256(der).hexdigest().upper()
        self.assertEqual(":".join(fp[i:i + 2] for i in range(0, 64, 2)), info["fingerprint"])
        # localhost is in the SANs too
        with socket.create_connection(("127.0.0.1", info["port"])) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                pass
        # /nodes reports the same fingerprint
        nodes = self.sim.ok("GET", "/nodes")
        self.assertEqual(nodes[0]["ssl_fingerprint"], info["fingerprint"])

    def test_keep_alive(self):
        c = self.sim.connect()
        for _ in range(5):
            st, _, obj, r = self.sim.api("GET", "/version", conn=c)
            self.assertEqual(st, 200)
            self.assertIsNotNone(r.getheader("Content-Length"))
            self.assertEqual(r.getheader("Server"), "pve-api-daemon/3.0")
            self.assertEqual(r.getheader("Content-Type"), "application/json;charset=UTF-8")
        sock = c.sock
        self.assertIsNotNone(sock)
        c.close()

    # ---------------------------------------------------------------- auth
    def test_auth_401_empty_body(self):
        r, data = self.sim.raw("GET", "/api2/json/version")
        self.assertEqual((r.status, r.reason), (401, "No ticket"))
        self.assertEqual(data, b"")
        self.assertIsNone(r.getheader("Content-Type"))
        self.assertEqual(r.getheader("Connection"), "close")
        bad = "PVEAPIToken=%s=%s" % (self.sim.info["token_id"], "00000000-0000-0000-0000-000000000000")
        r, data = self.sim.raw("GET", "/api2/json/version", headers={"Authorization": bad})
        self.assertEqual((r.status, r.reason, data), (401, "Authentication failed!", b""))
        # ':' between id and secret is not a token value PVE accepts
        colon = "PVEAPIToken=%s:%s" % (self.sim.info["token_id"], self.sim.info["token_secret"])
        r, data = self.sim.raw("GET", "/api2/json/version", headers={"Authorization": colon})
        self.assertEqual((r.status, data), (401, b""))
        r, data = self.sim.raw("GET", "/api2/json/version",
                               headers={"Authorization": "Bearer abc"})
        self.assertEqual((r.status, r.reason), (401, "No ticket"))

    # ---------------------------------------------------------------- reads
    def test_version_nodes_status_shapes(self):
        v = self.sim.ok("GET", "/version")
        self.assertEqual(keys(v), keys(fixture("version.pve8.4.14.constructed.json")["data"]))
        nodes = self.sim.ok("GET", "/nodes")
        self.assertEqual(keys(nodes[0]), keys(fixture("nodes-list.4-node-cluster.json")["data"][0]))
        st = self.sim.ok("GET", self.N + "/status")
        fx = fixture("node-status.pve8.4.14.pvesh.json")["data"]
        self.assertEqual(keys(st), keys(fx))
        self.assertEqual(keys(st["cpuinfo"]), keys(fx["cpuinfo"]))
        self.assertEqual(keys(st["memory"]), keys(fx["memory"]) | {"available"})   # PVE 9
        self.assertTrue(all(isinstance(x, str) for x in st["loadavg"]))
        self.assertIsInstance(st["cpuinfo"]["mhz"], str)
        self.assertIsInstance(st["cpuinfo"]["hvm"], str)
        # unknown parameter -> 400 as PVE
        stt, reason, obj, _ = self.sim.api("GET", "/version", {"foo": "1"})
        self.assertEqual((stt, reason), (400, "Parameter verification failed."))
        self.assertIn("foo", obj["errors"])
        # unknown method / path
        stt, reason, obj, _ = self.sim.api("GET", self.N + "/foo")
        self.assertEqual(stt, 501)
        self.assertEqual(reason, "Method 'GET %s/foo' not implemented" % self.N)

    def test_lxc_list_and_status_shapes(self):
        lst = self.sim.ok("GET", self.N + "/lxc")
        by = {x["vmid"]: x for x in lst}
        self.assertTrue({101, 102, 103, 104, 105, 106} <= set(by))
        fx = fixture("lxc-list.pve9.constructed.json")["data"]
        self.assertEqual(keys(by[101]), keys(fx[0]))               # running, tags
        self.assertEqual(keys(by[106]), keys(fx[2]))               # stopped template
        self.assertEqual(by[106]["template"], 1)
        self.assertIsInstance(by[101]["pressurecpusome"], str)
        self.assertEqual(by[104]["cpus"], "1.5")                   # only cpulimit set
        self.assertIn("stopped", {x["status"] for x in lst})
        cur = self.sim.ok("GET", self.N + "/lxc/101/status/current")
        self.assertEqual(keys(cur), keys(fixture("lxc-status-current.running.pve9.constructed.json")["data"]))
        self.assertEqual(cur["ha"], {"managed": 0})
        cur = self.sim.ok("GET", self.N + "/lxc/106/status/current")
        fxs = fixture("lxc-status-current.stopped-template.json")["data"]
        self.assertEqual(keys(cur), keys(fxs) - {"tags"})

    def test_config_shape_and_missing(self):
        conf = self.sim.ok("GET", self.N + "/lxc/101/config")
        fx = fixture("lxc-config.pve9.constructed.json")["data"]
        self.assertEqual(keys(conf), keys(fx) - {"mp0"})
        for k in keys(conf):
            self.assertIsInstance(conf[k], type(fx[k]), k)
        self.assertTrue(conf["description"].endswith("\n"))
        self.assertRegex(conf["digest"], r"^[0-9a-f]{40}$")
        raw = self.sim.ok("GET", self.N + "/lxc/103/config")
        self.assertEqual(raw["mp0"], "/srv/data,mp=/data")
        self.assertEqual(raw["lxc"][0][0], "lxc.cgroup2.devices.allow")
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/104/config")["cpulimit"], "1.5")
        st, reason, obj, _ = self.sim.api("GET", self.N + "/lxc/999/config")
        msg = "Configuration file 'nodes/%s/lxc/999.conf' does not exist" % self.node
        self.assertEqual((st, reason), (500, msg))
        self.assertEqual(obj, {"data": None, "message": msg + "\n"})
        st, _, obj, _ = self.sim.api("GET", self.N + "/lxc/abc/config")
        self.assertEqual(st, 400)
        self.assertEqual(obj["errors"]["vmid"], "type check ('integer') failed - got 'abc'")

    def test_snapshot_list_shape(self):
        lst = self.sim.ok("GET", self.N + "/lxc/101/snapshot")
        fx = fixture("lxc-snapshot-list.pve9.constructed.json")["data"]
        self.assertEqual(lst[-1]["name"], "current")
        self.assertEqual(keys(lst[-1]), keys(fx[-1]))
        snap = [x for x in lst if x["name"] == "pre-upgrade"][0]
        self.assertEqual(keys(snap), keys(fx[1]))
        self.assertEqual(snap["description"], "before apt full-upgrade\n")
        conf = self.sim.ok("GET", self.N + "/lxc/101/config")
        self.assertEqual(lst[-1]["digest"], conf["digest"])
        sc = self.sim.ok("GET", self.N + "/lxc/101/snapshot/pre-upgrade/config")
        self.assertIn("snaptime", sc)
        self.assertNotIn("digest", sc)

    def test_storage_shapes(self):
        lst = self.sim.ok("GET", self.N + "/storage")
        fx = {x["storage"]: x for x in fixture("storage-list.constructed.json")["data"]}
        by = {x["storage"]: x for x in lst}
        self.assertEqual(set(by), {"local", "local-lvm", "pbs"})
        for sid in by:
            self.assertEqual(keys(by[sid]), keys(fx[sid]), sid)
            self.assertEqual(by[sid]["type"], fx[sid]["type"])
        self.assertEqual(set(by["local"]["content"].split(",")), {"iso", "vztmpl", "backup"})
        only = self.sim.ok("GET", self.N + "/storage", {"content": "backup", "enabled": 1})
        self.assertEqual({x["storage"] for x in only}, {"local", "pbs"})
        pbs = self.sim.ok("GET", self.N + "/storage/pbs/content", {"content": "backup"})
        self.assertEqual({x["vmid"] for x in pbs}, {101, 102, 103, 104, 105, 106})
        fxp = fixture("storage-content.backup.pbs.constructed.json")["data"]
        allowed = keys(fxp[0]) | keys(fxp[1])
        for item in pbs:
            self.assertLessEqual(keys(item), allowed)
            self.assertEqual(item["format"], "pbs-ct")
        one = self.sim.ok("GET", self.N + "/storage/pbs/content", {"content": "backup", "vmid": 102})
        self.assertEqual(len(one), 1)
        loc = self.sim.ok("GET", self.N + "/storage/local/content", {"content": "backup"})
        fxl = fixture("storage-content.backup.notes-protected.constructed.json")["data"]
        self.assertEqual(keys(loc[0]), keys(fxl[1]))
        self.assertTrue(loc[0]["volid"].startswith("local:backup/vzdump-lxc-101-"))

    # ---------------------------------------------------------------- mutations
    def check_upid(self, upid, wtype, wid):
        self.assertRegex(upid, UPID_RE)
        parts = upid.split(":")
        self.assertEqual(parts[1], self.node)
        self.assertEqual(parts[5], wtype)
        self.assertEqual(parts[6], str(wid))
        self.assertEqual(parts[7], "felhom@pve!agent")
        self.assertTrue(upid.endswith(":"))

    def run_ok(self, method, path, params, wtype, wid):
        upid = self.sim.ok(method, path, params)
        self.check_upid(upid, wtype, wid)
        st = self.sim.wait(upid)
        self.assertEqual(st["exitstatus"], "OK", (st, self.sim.task_log(upid)))
        fx = fixture("task-status.stopped-ok.token-user-split.constructed.json")["data"]
        self.assertEqual(keys(st), keys(fx))
        self.assertEqual((st["user"], st["tokenid"]), ("felhom@pve", "agent"))
        self.assertEqual(self.sim.task_log(upid)[-1]["t"], "TASK OK")
        return upid

    def test_mutations_power_and_config(self):
        N = self.N
        self.run_ok("POST", N + "/lxc/104/status/start", {}, "vzstart", 104)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/status/current")["status"], "running")
        self.run_ok("POST", N + "/lxc/104/status/reboot", {"timeout": 10}, "vzreboot", 104)
        self.run_ok("POST", N + "/lxc/104/status/shutdown", {"timeout": 10}, "vzshutdown", 104)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/status/current")["status"], "stopped")
        self.run_ok("POST", N + "/lxc/104/status/start", {}, "vzstart", 104)
        self.run_ok("POST", N + "/lxc/104/status/stop", {}, "vzstop", 104)
        st, reason, obj, _ = self.sim.api("POST", N + "/lxc/101/status/start", {})
        self.assertEqual((st, reason), (500, "CT 101 already running"))
        st, reason, obj, _ = self.sim.api("POST", N + "/lxc/104/status/stop", {})
        self.assertEqual((st, reason), (500, "CT 104 not running"))
        st, reason, obj, _ = self.sim.api("POST", N + "/lxc/101/status/stop", {"skiplock": 1})
        self.assertEqual(obj["errors"], {"skiplock": "Only root may use this option."})
        # config: synchronous null, description newline, tags normalised, digest
        before = self.sim.ok("GET", N + "/lxc/104/config")["digest"]
        self.assertIsNone(self.sim.ok("PUT", N + "/lxc/104/config",
                                      {"description": "line1\nline2", "tags": "Zed,alpha;beta",
                                       "onboot": 1, "digest": before}))
        conf = self.sim.ok("GET", N + "/lxc/104/config")
        self.assertEqual(conf["description"], "line1\nline2\n")
        self.assertEqual(conf["tags"], "alpha;beta;zed")
        self.assertEqual(conf["onboot"], 1)
        self.assertNotEqual(conf["digest"], before)
        st, reason, _, _ = self.sim.api("PUT", N + "/lxc/104/config", {"cores": 2, "digest": before})
        self.assertEqual((st, reason), (500, "detected modified configuration - file changed by "
                                             "other user? Try again."))
        # assert_if_modified: an empty or "0" digest checks nothing (Perl truth)
        for d in ("", "0"):
            self.assertIsNone(self.sim.ok("PUT", N + "/lxc/104/config", {"cores": 2, "digest": d}))
        # a stale digest refuses the whole write, nothing applied
        st, _, _, _ = self.sim.api("PUT", N + "/lxc/104/config", {"cores": 3, "digest": before})
        self.assertEqual(st, 500)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/config")["cores"], 2)
        self.sim.ok("PUT", N + "/lxc/104/config", {"delete": "description"})
        self.assertNotIn("description", self.sim.ok("GET", N + "/lxc/104/config"))
        # JSON body, real booleans accepted
        self.sim.ok("PUT", N + "/lxc/104/config", body=json.dumps({"onboot": False}),
                    ctype="application/json")
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/config")["onboot"], 0)
        # booleans only 0/1 in forms
        st, _, obj, _ = self.sim.api("PUT", N + "/lxc/104/config", {"onboot": "true"})
        self.assertEqual(st, 400)
        self.assertEqual(obj["errors"], {"onboot": "type check ('boolean') failed - got 'true'"})
        # root-only changes
        st, reason, _, _ = self.sim.api("PUT", N + "/lxc/104/config", {"mp1": "/srv/x,mp=/x"})
        self.assertEqual((st, reason), (403, "Permission check failed (mount point type bind is "
                                             "only allowed for root@pam)"))
        st, reason, _, _ = self.sim.api("PUT", N + "/lxc/104/config", {"features": "keyctl=1,nesting=1"})
        self.assertEqual((st, reason), (403, "Permission check failed (changing feature flags "
                                             "(except nesting) is only allowed for root@pam)"))

    def test_naive_form_decoding(self):
        # unencoded ';' splits the pair like PVE's decode_urlencoded
        st, reason, obj, _ = self.sim.api("PUT", self.N + "/lxc/104/config", body="tags=a;b")
        self.assertEqual((st, reason), (400, "Parameter verification failed."))
        self.assertEqual(obj["errors"], {"b": "property is not defined in schema and the schema "
                                              "does not allow additional properties"})
        # unencoded '=' inside a value: only the first two pieces survive
        st, _, obj, _ = self.sim.api("PUT", self.N + "/lxc/104/config",
                                     body="net0=name=eth0,bridge=vmbr0")
        self.assertEqual(st, 400)
        self.assertIn("net0", obj["errors"])
        # '+' is a space
        self.sim.ok("PUT", self.N + "/lxc/104/config", body="description=a+b")
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/104/config")["description"], "a b\n")
        # properly encoded ';' is fine
        self.sim.ok("PUT", self.N + "/lxc/104/config", body="tags=a%3Bb")
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/104/config")["tags"], "a;b")

    def test_snapshot_rollback_delete(self):
        N = self.N
        up = self.run_ok("POST", N + "/lxc/102/snapshot", {"snapname": "t1", "description": "d"},
                         "vzsnapshot", 102)
        self.assertIn("t1", {x["name"] for x in self.sim.ok("GET", N + "/lxc/102/snapshot")})
        self.sim.ok("PUT", N + "/lxc/102/config", {"cores": 6})
        self.assertEqual(self.sim.ok("GET", N + "/lxc/102/status/current")["status"], "running")
        self.run_ok("POST", N + "/lxc/102/snapshot/t1/rollback", {}, "vzrollback", 102)
        # rollback leaves the CT stopped and restores the config
        self.assertEqual(self.sim.ok("GET", N + "/lxc/102/status/current")["status"], "stopped")
        conf = self.sim.ok("GET", N + "/lxc/102/config")
        self.assertEqual((conf["cores"], conf["parent"]), (4, "t1"))
        self.run_ok("POST", N + "/lxc/102/snapshot/t1/rollback", {"start": 1}, "vzrollback", 102)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/102/status/current")["status"], "running")
        self.run_ok("DELETE", N + "/lxc/102/snapshot/t1", {}, "vzdelsnapshot", 102)
        self.assertNotIn("t1", {x["name"] for x in self.sim.ok("GET", N + "/lxc/102/snapshot")})
        self.assertNotIn("parent", self.sim.ok("GET", N + "/lxc/102/config"))
        st, reason, _, _ = self.sim.api("POST", N + "/lxc/102/snapshot", {"snapname": "current"})
        self.assertEqual((st, reason), (500, "unable to use snapshot name 'current' (reserved name)"))

    def test_snapshot_refused_on_bind_mount(self):
        upid = self.sim.ok("POST", self.N + "/lxc/103/snapshot", {"snapname": "x1"})
        self.check_upid(upid, "vzsnapshot", 103)
        st = self.sim.wait(upid)
        self.assertEqual(st["exitstatus"], "snapshot feature is not available")
        self.assertEqual(self.sim.task_log(upid)[-1]["t"], "TASK ERROR: snapshot feature is not available")
        self.assertNotIn("lock", self.sim.ok("GET", self.N + "/lxc/103/config"))

    def test_vzdump_restore_create_destroy(self):
        N = self.N
        up = self.run_ok("POST", N + "/vzdump", {"vmid": 104, "storage": "local", "mode": "snapshot",
                                                 "compress": "zstd", "notes-template": "{{guestname}} x",
                                                 "protected": 1}, "vzdump", 104)
        log = [x["t"] for x in self.sim.task_log(up)]
        self.assertTrue(log[0].startswith("INFO: starting new backup job: vzdump 104"))
        self.assertIn("INFO: Backup job finished successfully", log)
        vols = self.sim.ok("GET", N + "/storage/local/content", {"content": "backup", "vmid": 104})
        self.assertEqual(len(vols), 1)
        vol = vols[0]
        self.assertEqual((vol["notes"], vol["protected"], vol["format"]), ("dev01 x", 1, "tar.zst"))
        self.assertRegex(vol["volid"], r"^local:backup/vzdump-lxc-104-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst$")
        # several guests: empty task id
        up = self.sim.ok("POST", N + "/vzdump", {"vmid": "101,102", "storage": "pbs"})
        self.check_upid(up, "vzdump", "")
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        # a stale lock makes the job fail per guest
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 105, "lock": "snapshot"})
        up = self.sim.ok("POST", N + "/vzdump", {"vmid": 105, "storage": "pbs"})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "job errors")
        self.assertIn("ERROR: Backup of VM 105 failed - CT is locked (snapshot)",
                      [x["t"] for x in self.sim.task_log(up)])
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 105, "lock": None})
        # restore over an existing, stopped CT from its PBS backup
        pbs = self.sim.ok("GET", N + "/storage/pbs/content", {"content": "backup", "vmid": 104})
        self.sim.ok("PUT", N + "/lxc/104/config", {"hostname": "changed"})
        up = self.run_ok("POST", N + "/lxc", {"vmid": 104, "restore": 1, "force": 1,
                                             "ostemplate": pbs[0]["volid"], "storage": "local-lvm"},
                         "vzrestore", 104)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/config")["hostname"], "dev01")
        st, reason, _, _ = self.sim.api("POST", N + "/lxc", {"vmid": 104, "restore": 1,
                                                             "ostemplate": pbs[0]["volid"]})
        self.assertEqual((st, reason), (500, "CT 104 already exists on node '%s'" % self.node))
        # CT 103's backup has a bind mount: a token's storage-only restore
        # fails in the worker (pve-container API2/LXC.pm create_vm) and
        # leaves nothing behind
        pbs103 = self.sim.ok("GET", N + "/storage/pbs/content", {"content": "backup", "vmid": 103})
        up = self.sim.ok("POST", N + "/lxc", {"vmid": 203, "restore": 1, "storage": "local-lvm",
                                             "ostemplate": pbs103[0]["volid"]})
        self.check_upid(up, "vzrestore", 203)
        self.assertEqual(self.sim.wait(up)["exitstatus"], "unable to restore CT 203 - restoring "
                         "'mp0' to bind mount is only possible for root")
        st, _, _, _ = self.sim.api("GET", N + "/lxc/203/config")
        self.assertEqual(st, 500)
        # with the volumes given explicitly the bind mount is not restored
        # and the raw lxc keys are dropped (Create.pm sanitize_and_merge_config)
        up = self.sim.ok("POST", N + "/lxc", {"vmid": 203, "restore": 1, "rootfs": "local-lvm:8",
                                             "ostemplate": pbs103[0]["volid"]})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "WARNINGS: 1")
        conf = self.sim.ok("GET", N + "/lxc/203/config")
        self.assertNotIn("lxc", conf)
        self.assertNotIn("mp0", conf)
        # create + destroy
        up = self.run_ok("POST", N + "/lxc", {"vmid": 150, "hostname": "new1",
                                             "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                                             "rootfs": "local-lvm:8", "memory": 1024,
                                             "net0": "name=eth0,bridge=vmbr0,ip=dhcp"},
                         "vzcreate", 150)
        conf = self.sim.ok("GET", N + "/lxc/150/config")
        self.assertEqual(conf["rootfs"], "local-lvm:vm-150-disk-0,size=8G")
        self.assertEqual(conf["unprivileged"], 1)
        self.assertRegex(conf["net0"], r"hwaddr=BC:24:11:")
        self.run_ok("DELETE", N + "/lxc/150", {"purge": 1}, "vzdestroy", 150)
        st, _, _, _ = self.sim.api("GET", N + "/lxc/150/config")
        self.assertEqual(st, 500)
        st, reason, _, _ = self.sim.api("DELETE", N + "/lxc/101")
        self.assertEqual((st, reason), (500, "unable to destroy CT 101 - container is running"))
        st, reason, _, _ = self.sim.api("DELETE", N + "/lxc/105")
        self.assertEqual((st, reason), (500, "can't remove CT 105 - protection mode enabled"))

    def test_lock_conflict(self):
        N = self.N
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 101, "kind": "vzdump", "hang": True})
        up = self.sim.ok("POST", N + "/vzdump", {"vmid": 101, "storage": "pbs"})
        self.assertEqual(self.sim.ok("GET", N + "/lxc/101/config")["lock"], "backup")
        lst = {x["vmid"]: x for x in self.sim.ok("GET", N + "/lxc")}
        self.assertEqual(lst[101]["lock"], "backup")
        st, reason, obj, _ = self.sim.api("PUT", N + "/lxc/101/config", {"cores": 3})
        self.assertEqual((st, reason), (500, "CT is locked (backup)"))
        self.assertEqual(obj["message"], "CT is locked (backup)\n")
        up2 = self.sim.ok("POST", N + "/lxc/101/status/shutdown", {})
        s2 = self.sim.wait(up2)
        self.assertEqual(s2["exitstatus"], "CT is locked (backup)")
        # running tasks: only with source=active/all
        arch = self.sim.ok("GET", N + "/tasks", {"vmid": 101})
        self.assertNotIn(up, [x["upid"] for x in arch])
        act = self.sim.ok("GET", N + "/tasks", {"source": "active"})
        item = [x for x in act if x["upid"] == up][0]
        self.assertEqual(keys(item), keys(fixture("tasks-list.source-active.constructed.json")["data"][0]))
        self.assertEqual((item["status"], item["user"], item["saved"]),
                         ("RUNNING", "felhom@pve!agent", "0"))
        st = self.sim.task_status(up)
        self.assertEqual(keys(st), keys(fixture("task-status.running.vzdump.constructed.json")["data"]))
        self.assertEqual(self.sim.ctl("POST", "/_sim/release", {"upid": up})[1]["released"], [up])
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        self.assertNotIn("lock", self.sim.ok("GET", N + "/lxc/101/config"))
        arch = self.sim.ok("GET", N + "/tasks", {"vmid": 101, "typefilter": "vzdump"})
        self.assertEqual(arch[0]["upid"], up)
        self.assertEqual(keys(arch[0]), keys(fixture("tasks-list.vmid-filter.token.constructed.json")["data"][0]))
        _, _, obj, _ = self.sim.api("GET", N + "/tasks", {"source": "all", "limit": 2})
        self.assertEqual(len(obj["data"]), 2)
        self.assertGreaterEqual(obj["total"], 2)

    # ---------------------------------------------------------------- faults
    def test_fault_status_delay_drop(self):
        N = self.N
        self.sim.ctl("POST", "/_sim/fault", {"method": "GET", "path": "/lxc$", "count": 1,
                                             "status": 503, "message": "simulated outage"})
        st, reason, obj, _ = self.sim.api("GET", N + "/lxc")
        self.assertEqual((st, reason), (503, "simulated outage"))
        self.assertEqual(obj, {"data": None, "message": "simulated outage\n"})
        self.assertEqual(self.sim.api("GET", N + "/lxc")[0], 200)           # count exhausted
        self.sim.ctl("POST", "/_sim/fault", {"method": "*", "path": "/version", "count": 1,
                                             "delay_ms": 400})
        t0 = time.time()
        self.assertEqual(self.sim.api("GET", "/version")[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.35)
        self.sim.ctl("POST", "/_sim/fault", {"method": "POST", "path": "/status/start$",
                                             "count": 1, "drop": True})
        c = self.sim.connect()
        try:
            with self.assertRaises((http.client.IncompleteRead, http.client.RemoteDisconnected,
                                    ConnectionError, ssl.SSLError, ValueError)):
                self.sim.api("POST", N + "/lxc/105/status/start", {}, conn=c)
        finally:
            c.close()
        # the request was carried out although the answer was lost
        time.sleep(0.3)
        self.assertEqual(self.sim.ok("GET", N + "/lxc/105/status/current")["status"], "running")
        c = self.sim.ctl("GET", "/_sim/counters?detail=1")[1]
        self.assertEqual(c["105:start"], {"total": 1, "accepted": 1, "refused": 0, "faulted": 1})
        # latency setting
        self.sim.ctl("POST", "/_sim/config", {"latency_ms": 200})
        t0 = time.time()
        self.sim.ok("GET", "/version")
        self.assertGreaterEqual(time.time() - t0, 0.18)
        self.sim.ctl("POST", "/_sim/config", {"latency_ms": 0})
        self.run_ok("POST", N + "/lxc/105/status/stop", {}, "vzstop", 105)

    def test_write_ahead_witness(self):
        """The instrument proofs.soak relies on: a mutation whose guest has
        no op in flight in the given database is early; one that has is
        checked; reads are not looked at."""
        N = self.N
        with tempfile.TemporaryDirectory() as d:
            db = os.path.join(d, "state.db")
            c = sqlite3.connect(db)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("CREATE TABLE ops (vmid INTEGER, state TEXT)")
            c.execute("INSERT INTO ops VALUES (104, 'submitting'), (101, 'succeeded')")
            c.commit()
            self.sim.ctl("POST", "/_sim/witness", {"db": db})
            self.run_ok("POST", N + "/lxc/104/status/start", {}, "vzstart", 104)
            self.assertIsNone(self.sim.ok("PUT", N + "/lxc/101/config",
                                          {"description": "x"}))
            self.sim.ok("GET", N + "/lxc/101/config")
            # uncommitted: not seen yet
            c.execute("BEGIN")
            c.execute("UPDATE ops SET state = 'submitting' WHERE vmid = 101")
            self.run_ok("POST", N + "/lxc/101/status/stop", {}, "vzstop", 101)
            c.commit()
            self.run_ok("POST", N + "/lxc/101/status/start", {}, "vzstart", 101)
            w = self.sim.ctl("GET", "/_sim/witness")[1]
            self.assertEqual(w["db"], db)
            self.assertEqual(w["checked"], 4)
            self.assertEqual([(e["method"], e["key"]) for e in w["early"]],
                             [("PUT", "101:config"), ("POST", "101:stop")])
            self.assertEqual(self.sim.ctl("POST", "/_sim/witness", {"db": None})[1],
                             {"db": None})
            c.close()

    def test_fault_clear_keeps_counters(self):
        N = self.N
        self.sim.ctl("POST", "/_sim/fault", {"method": "PUT", "path": "/config$", "count": 5,
                                             "status": 500, "message": "storm"})
        self.assertEqual(self.sim.api("PUT", N + "/lxc/104/config", {"cores": 2})[0], 500)
        self.assertEqual(self.sim.ctl("DELETE", "/_sim/faults")[1], {"cleared": 1})
        self.assertEqual(self.sim.ctl("GET", "/_sim/faults")[1]["faults"], [])
        self.assertEqual(self.sim.api("PUT", N + "/lxc/104/config", {"cores": 2})[0], 200)
        c = self.sim.ctl("GET", "/_sim/counters?detail=1")[1]
        self.assertEqual(c["104:config"], {"total": 2, "accepted": 1, "refused": 0, "faulted": 1})
        self.assertEqual(self.sim.ctl("DELETE", "/_sim/fault")[1], {"cleared": 0})

    def test_task_faults(self):
        N = self.N
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 104, "kind": "start", "count": 1,
                                                  "exitstatus": "startup for container '104' failed"})
        up = self.sim.ok("POST", N + "/lxc/104/status/start", {})
        st = self.sim.wait(up)
        self.assertEqual(st["exitstatus"], "startup for container '104' failed")
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/status/current")["status"], "stopped")
        lst = self.sim.ok("GET", N + "/tasks", {"vmid": 104, "typefilter": "vzstart", "errors": 1})
        self.assertEqual(lst[0]["status"], "startup for container '104' failed")
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 104, "kind": "start", "warnings": 2})
        up = self.sim.ok("POST", N + "/lxc/104/status/start", {})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "WARNINGS: 2")
        self.assertEqual(self.sim.task_log(up)[-1]["t"], "TASK WARNINGS: 2")
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/status/current")["status"], "running")
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 104, "kind": "stop", "hang": True})
        up = self.sim.ok("POST", N + "/lxc/104/status/stop", {})
        time.sleep(0.4)
        self.assertEqual(self.sim.task_status(up)["status"], "running")
        self.sim.ctl("POST", "/_sim/release", {"vmid": 104})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        self.assertEqual(self.sim.ok("GET", N + "/lxc/104/status/current")["status"], "stopped")
        # stopping a hung snapshot task leaves the stale lock behind, like PVE
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 102, "kind": "snapshot", "hang": True})
        up = self.sim.ok("POST", N + "/lxc/102/snapshot", {"snapname": "hung"})
        self.assertIsNone(self.sim.ok("DELETE", N + "/tasks/" + urllib.parse.quote(up, safe="")))
        self.assertEqual(self.sim.task_status(up)["exitstatus"], "received interrupt")
        st, reason, _, _ = self.sim.api("PUT", N + "/lxc/102/config", {"cores": 2})
        self.assertEqual((st, reason), (500, "CT is locked (snapshot)"))
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 102, "lock": None})   # pct unlock
        self.sim.ok("PUT", N + "/lxc/102/config", {"cores": 2})

    def test_counters(self):
        N = self.N
        self.sim.ok("PUT", N + "/lxc/104/config", {"cores": 1})
        self.sim.api("PUT", N + "/lxc/104/config", {"onboot": "yes"})        # refused (400)
        self.sim.api("POST", N + "/lxc/104/status/stop", {})                  # refused (500)
        up = self.sim.ok("POST", N + "/vzdump", {"vmid": "104,105", "storage": "pbs"})
        self.sim.wait(up)
        self.sim.api("GET", N + "/lxc/104/config")                            # not a mutation
        self.sim.raw("PUT", "/api2/json" + N + "/lxc/104/config")             # 401: not counted
        c = self.sim.ctl("GET", "/_sim/counters")[1]
        self.assertEqual(c, {"104:config": 2, "104:stop": 1, "104:vzdump": 1, "105:vzdump": 1})
        acc = self.sim.ctl("GET", "/_sim/counters?outcome=accepted")[1]
        self.assertEqual(acc, {"104:config": 1, "104:vzdump": 1, "105:vzdump": 1})
        self.sim.ctl("POST", "/_sim/reset", {})
        self.assertEqual(self.sim.ctl("GET", "/_sim/counters")[1], {})

    # ------------------------------------------------------ root (pct CLI)
    def test_root_call_does_what_a_token_may_not(self):
        """container:src/PVE/LXC.pm check_ct_modify_config_perm returns at
        once for root@pam: keyctl and bind mounts via /_sim/root, 403 for the
        token; a root task runs in the foreground and is root's."""
        tmpl = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
        st, _, obj, _ = self.sim.api("POST", self.N + "/lxc", {
            "vmid": 150, "ostemplate": tmpl, "storage": "local-lvm",
            "features": "keyctl=1,nesting=1"})
        self.assertEqual(st, 403)
        self.assertIn("only allowed for root@pam", obj["message"])
        st, res = self.sim.ctl("POST", "/_sim/root", {
            "method": "POST", "path": self.N + "/lxc",
            "params": {"vmid": 150, "ostemplate": tmpl, "storage": "local-lvm",
                       "features": "keyctl=1,nesting=1"}})
        self.assertEqual(st, 200)
        self.assertTrue(res["ok"])
        self.assertEqual(res["exitstatus"], "OK")
        self.assertEqual(res["log"][-1], "TASK OK")
        self.assertIn(":vzcreate:150:root@pam:", res["upid"])
        conf = self.sim.ok("GET", self.N + "/lxc/150/config")
        self.assertEqual(conf["features"], "keyctl=1,nesting=1")
        # a bind mount: root only
        st, _, obj, _ = self.sim.api("PUT", self.N + "/lxc/150/config",
                                     {"mp0": "/srv/x,mp=/x"})
        self.assertEqual(st, 403)
        st, res = self.sim.ctl("POST", "/_sim/root", {
            "method": "PUT", "path": self.N + "/lxc/150/config",
            "params": {"mp0": "/srv/x,mp=/x"}})
        self.assertTrue(res["ok"])
        conf = self.sim.ok("GET", self.N + "/lxc/150/config")
        self.assertEqual(conf["mp0"], "/srv/x,mp=/x")
        # the task is listed as root's, not counted as the token's request
        tasks = self.sim.ok("GET", self.N + "/tasks", {"source": "all", "vmid": 150})
        self.assertTrue(any(t["type"] == "vzcreate" and t["user"] == "root@pam"
                            for t in tasks))
        st, c = self.sim.ctl("GET", "/_sim/counters?outcome=accepted")
        self.assertNotIn("150:create", c)
        # PVE's own errors come back as such
        st, res = self.sim.ctl("POST", "/_sim/root", {
            "method": "POST", "path": self.N + "/lxc",
            "params": {"vmid": 150, "ostemplate": tmpl, "storage": "local-lvm"}})
        self.assertFalse(res["ok"])
        self.assertIn("already exists", res["message"])

    def test_root_restore_brings_bind_mounts_and_lxc_keys_back(self):
        """container:src/PVE/API2/LXC.pm create_vm: root keeps the backup's
        raw lxc keys and re-attaches bind mounts after extraction."""
        w = self.sim.ctl("GET", "/_sim/world")[1]
        vol = [v for v in w["volumes"] if v.get("vmid") == 103
               and v["content"] == "backup"][0]
        st, res = self.sim.ctl("POST", "/_sim/root", {
            "method": "POST", "path": self.N + "/lxc",
            "params": {"vmid": 160, "ostemplate": vol["volid"], "restore": 1,
                       "storage": "local-lvm"}})
        self.assertTrue(res["ok"], res)
        conf = self.sim.ok("GET", self.N + "/lxc/160/config")
        self.assertTrue(conf["mp0"].startswith("/srv/data,"))
        self.assertTrue(conf.get("lxc"))
        self.assertNotIn("WARNINGS", res["exitstatus"])

    def test_broken_backup_fails_its_restore(self):
        """A volume marked broken fails in the worker like create_vm does,
        and the new CT is removed."""
        w = self.sim.ctl("GET", "/_sim/world")[1]
        vol = [v for v in w["volumes"] if v.get("vmid") == 101
               and v["content"] == "backup"][0]
        vol = dict(vol, broken=True)
        vol.pop("storage", None)
        st, _ = self.sim.ctl("POST", "/_sim/world/volume", vol)
        self.assertEqual(st, 200)
        upid = self.sim.ok("POST", self.N + "/lxc", {
            "vmid": 9000, "ostemplate": vol["volid"], "restore": 1,
            "storage": "local-lvm"})
        s = self.sim.wait(upid)
        self.assertTrue(s["exitstatus"].startswith("unable to restore CT 9000 - "))
        st, _, _, _ = self.sim.api("GET", self.N + "/lxc/9000/config")
        self.assertEqual(st, 500)

    def test_world_dump_and_guest_helper(self):
        st, r = self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 777, "config": {"hostname": "x7"},
                                                          "status": "running"})
        self.assertEqual(st, 200)
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/777/status/current")["name"], "x7")
        w = self.sim.ctl("GET", "/_sim/world")[1]
        self.assertIn(777, [g["vmid"] for g in w["guests"]])
        self.assertIn("pbs", w["storages"])
        self.sim.ctl("DELETE", "/_sim/world/guest?vmid=777")
        self.assertEqual(self.sim.api("GET", self.N + "/lxc/777/config")[0], 500)

    def test_permissions_endpoint(self):
        perms = self.sim.ok("GET", "/access/permissions")
        self.assertEqual(perms["/"]["VM.PowerMgmt"], 1)
        self.assertEqual(perms["/"]["Sys.Audit"], 1)


class PveSimConcurrencyTest(unittest.TestCase):
    """--max-concurrent: a node with N API workers serves N requests at
    once, the others wait their turn (none is refused)."""

    def burst(self, sim, n):
        """n version reads at once, each on its own connection."""
        results = []
        lock = threading.Lock()

        def one():
            try:
                sim.ok("GET", "/version")
                ok = True
            except Exception:  # noqa: BLE001 (counted below)
                ok = False
            with lock:
                results.append(ok)
        threads = [threading.Thread(target=one) for _ in range(n)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results, time.time() - t0

    def test_cap_waits_and_counts(self):
        sim = Sim("--max-concurrent", "2", "--latency-ms", "100")
        try:
            st, c = sim.ctl("GET", "/_sim/concurrency")
            self.assertEqual((st, c["max_concurrent"], c["max_in_flight"]), (200, 2, 0))
            results, took = self.burst(sim, 6)
            self.assertEqual(results, [True] * 6)       # waited, never refused
            c = sim.ctl("GET", "/_sim/concurrency")[1]
            self.assertEqual(c["max_in_flight"], 2)
            self.assertEqual(c["served"], 6)
            self.assertGreaterEqual(c["waited"], 1)
            self.assertGreaterEqual(took, 0.28)         # 3 waves of 100 ms
            # lifted through the control endpoint: more at once
            st, c = sim.ctl("POST", "/_sim/concurrency", {"max_concurrent": 0, "reset": True})
            self.assertEqual((st, c["max_concurrent"], c["max_in_flight"], c["served"]),
                             (200, 0, 0, 0))
            results, _ = self.burst(sim, 6)
            self.assertEqual(results, [True] * 6)
            self.assertGreater(sim.ctl("GET", "/_sim/concurrency")[1]["max_in_flight"], 2)
            # and set again through /_sim/config
            st, c = sim.ctl("POST", "/_sim/config", {"max_concurrent": 1})
            self.assertEqual((st, c["max_concurrent"]), (200, 1))
            sim.ctl("POST", "/_sim/concurrency", {"reset": True})
            self.burst(sim, 3)
            self.assertEqual(sim.ctl("GET", "/_sim/concurrency")[1]["max_in_flight"], 1)
            for bad in (-1, "3", 1.5, True):
                st, obj = sim.ctl("POST", "/_sim/concurrency", {"max_concurrent": bad})
                self.assertEqual(st, 400, bad)
            self.assertEqual(sim.ctl("GET", "/_sim/concurrency")[1]["max_concurrent"], 1)
        finally:
            self.assertEqual(sim.stop(), 0)

    def test_bad_flag(self):
        p = subprocess.run([SIM, "--max-concurrent", "-1"], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--max-concurrent must be >= 0", p.stderr)
        self.assertEqual(p.stdout, b"")


class PveSimAclStateTest(unittest.TestCase):
    """A second simulator: --acl, --state and --pve-version 7."""

    def test_acl_version7_and_state(self):
        with tempfile.TemporaryDirectory(prefix="pve-sim-test-") as tmp:
            self.run_acl_version7_and_state(tmp)

    def run_acl_version7_and_state(self, tmp):
        acl = os.path.join(tmp, "acl.json")
        state = os.path.join(tmp, "state.json")
        with open(acl, "w") as f:
            json.dump({"/": ["Sys.Audit", "VM.Audit", "Datastore.Audit"],
                       "/vms/101": ["VM.Audit", "VM.Snapshot"],
                       "/vms/104": ["VM.Audit", "VM.PowerMgmt", "VM.Config.Options"],
                       "/storage/local": ["Datastore.AllocateSpace"],
                       "/vms/102": {"privs": [], "propagate": False}}, f)
        sim = Sim("--acl", acl, "--state", state, "--pve-version", "7", "--node", "pve7",
                  "--task-seconds", "0.05")
        try:
            N = "/nodes/pve7"
            # before 9.1.5 the 401 reason is verify_token's error text
            bad = "PVEAPIToken=%s=%s" % (sim.info["token_id"], "wrong")
            r, data = sim.raw("GET", "/api2/json/version", headers={"Authorization": bad})
            self.assertEqual((r.status, r.reason, data), (401, "invalid token value!", b""))
            # 403 body exactly as PVE (no 'message' before http-server 5.2.0)
            st, reason, obj, _ = sim.api("POST", N + "/lxc/101/status/start", {})
            self.assertEqual((st, reason), (403, "Permission check failed (/vms/101, VM.PowerMgmt)"))
            self.assertEqual(obj, fixture("error-403.pre-8.4-no-message.json"))
            st, reason, _, _ = sim.api("PUT", N + "/lxc/101/config", {"cores": 2})
            self.assertEqual(reason, "Permission check failed (/vms/101, VM.Config.Disk|"
                                     "VM.Config.CPU|VM.Config.Memory|VM.Config.Network|"
                                     "VM.Config.Options)")
            st, reason, _, _ = sim.api("PUT", N + "/lxc/104/config", {"cores": 2})
            self.assertEqual(reason, "Permission check failed (/vms/104, VM.Config.CPU)")
            sim.ok("PUT", N + "/lxc/104/config", {"onboot": 1})
            # 102 is hidden: a deeper ACL entry replaces the inherited privileges
            lst = sim.ok("GET", N + "/lxc")
            self.assertNotIn("102", [x["vmid"] for x in lst])
            # PVE 7: vmid is a string in the list
            self.assertIn("101", [x["vmid"] for x in lst])
            # a privilege missing at task run time: vzdump without VM.Backup
            up = sim.ok("POST", N + "/vzdump", {"vmid": 101, "storage": "local"})
            s = sim.wait(up)
            self.assertEqual(s["exitstatus"], "Permission check failed (/vms/101, VM.Backup)")
            # ... while the storage privilege is checked at once
            st, reason, _, _ = sim.api("POST", N + "/vzdump", {"vmid": 101, "storage": "pbs"})
            self.assertEqual((st, reason), (403, "Permission check failed (/storage/pbs, "
                                                 "Datastore.AllocateSpace)"))
            # overrule-shutdown did not exist before PVE 8.2
            st, _, obj, _ = sim.api("POST", N + "/lxc/104/status/stop", {"overrule-shutdown": 1})
            self.assertEqual(obj, fixture("error-400.unknown-parameter.json"))
            perms = sim.ok("GET", "/access/permissions")
            self.assertEqual(set(perms["/vms/104"]), {"VM.Audit", "VM.PowerMgmt", "VM.Config.Options"})
            self.assertNotIn("/vms/102", perms)
            # a change that must survive the restart
            up = sim.ok("POST", N + "/lxc/104/status/start", {})
            self.assertEqual(sim.wait(up)["exitstatus"], "OK")
            st, reason, _, _ = sim.api("GET", N + "/lxc/999/config")
            self.assertEqual(reason, "Configuration file 'nodes/pve7/lxc/999.conf' does not exist")
        finally:
            rc = sim.stop()
        self.assertEqual(rc, 0)
        with open(state) as f:
            saved = json.load(f)
        self.assertEqual(saved["node"], "pve7")
        g104 = [g for g in saved["guests"] if g["vmid"] == 104][0]
        self.assertEqual((g104["status"], g104["config"]["onboot"]), ("running", 1))
        self.assertTrue(any(t["upid"] == up for t in saved["tasks"]))
        # reload: the world comes back
        sim = Sim("--state", state, "--task-seconds", "0.05")
        try:
            self.assertEqual(sim.info["node"], "pve7")
            self.assertEqual(sim.ok("GET", "/nodes/pve7/lxc/104/status/current")["status"], "running")
            lst = sim.ok("GET", "/nodes/pve7/tasks", {"vmid": 104})
            self.assertIn(up, [x["upid"] for x in lst])
            st, w = sim.ctl("GET", "/_sim/world")
            self.assertEqual(st, 200)
            self.assertIn(up, [t["upid"] for t in w["tasks"]])
        finally:
            self.assertEqual(sim.stop(), 0)


if __name__ == "__main__":
    unittest.main()
