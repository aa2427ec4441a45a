"""Tests of tools/hub-sim (stdlib unittest only).

Run from the repository root:
    python3 -m unittest discover -s tools/hub-sim -p 'test_*.py'
Fixtures: $FELHOM_FIXTURE_DIR, else <repo>/tests/fixtures.
"""

import base64
import copy
import http.client
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIM = os.path.join(HERE, "hub-sim")
KEYSET = os.path.join(HERE, "keyset.py")
FIXTURES = os.environ.get("FELHOM_FIXTURE_DIR") or os.path.join(
    REPO, "tests", "fixtures")
HUB_FIX = os.path.join(FIXTURES, "hub")
GOLDEN = os.path.join(HUB_FIX, "host-report.golden.json")

sys.path.insert(0, HERE)
import keyset  # noqa: E402


def fixture(name):
    with open(os.path.join(HUB_FIX, name), "rb") as f:
        return f.read()


class Sim:
    """One running hub-sim process."""

    def __init__(self, *args, env=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="hub-sim-test-")
        self.data = os.path.join(self.tmp.name, "data")
        self.errf = open(os.path.join(self.tmp.name, "stderr"), "w+b")
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen(
            [SIM, "--port", "0", "--data", self.data] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.errf, env=e)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not r:
            self.stop()
            raise RuntimeError("hub-sim did not start: " + self.stderr())
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise RuntimeError("hub-sim exited: " + self.stderr())
        self.first_line = line
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.token = self.info["token"]
        self.ctx = ssl.create_default_context(cafile=self.info["ca_file"])

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, auth=True,
                host="127.0.0.1", timeout=10):
        h = {"User-Agent": "felhom-agent/test", "Accept": "application/json"}
        if auth:
            h["Authorization"] = "Bearer " + self.token
        if headers:
            h.update(headers)
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPSConnection(host, self.port, context=self.ctx,
                                           timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp, data
        finally:
            conn.close()

    def api(self, method, ep, body=None, **kw):
        return self.request(method, "/api/agent/v1" + ep, body, **kw)

    def ctl(self, method, ep, body=None):
        st, resp, data = self.request(method, "/_sim" + ep, body, auth=False)
        if st >= 400:
            raise AssertionError("control %s %s: %d %s"
                                 % (method, ep, st, data))
        return json.loads(data) if data else None

    def stop(self, sig=signal.SIGTERM):
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.errf.close()
        self.tmp.cleanup()
        return rc


class HubSimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--quiet")
        with open(GOLDEN, "rb") as f:
            cls.golden = json.loads(f.read())
        # The golden report acknowledges signed-ops seq 41 (v1.1); the
        # reports the tests post acknowledge none unless a test says so.
        cls.golden["agent"]["signed_ops_ack_seq"] = 0
        cls.golden_bytes = json.dumps(cls.golden).encode()

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.ctl("POST", "/reset", {"all": True})

    def report(self, doc=None, **kw):
        body = self.golden_bytes if doc is None else json.dumps(doc).encode()
        return self.sim.api("POST", "/report", body, **kw)

    def fault(self, **f):
        self.sim.ctl("POST", "/fault", f)

    # -- start, TLS ----------------------------------------------------------

    def test_first_line(self):
        info = self.sim.info
        self.assertEqual(set(info), {"port", "url", "ca_file", "token"})
        self.assertEqual(info["url"],
                         "https://127.0.0.1:%d/api/agent/v1" % info["port"])
        self.assertTrue(os.path.isabs(info["ca_file"]))
        self.assertTrue(os.path.isfile(info["ca_file"]))
        self.assertGreaterEqual(len(info["token"]), 16)
        self.assertTrue(self.sim.first_line.endswith(b"\n"))

    def test_tls_verified_against_ca_file(self):
        for host in ("127.0.0.1", "localhost"):
            st, _, _ = self.sim.api("GET", "/desired", host=host)
            self.assertEqual(st, 204)
        # without the CA: verification fails
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.sim.port, context=ssl.create_default_context(),
            timeout=5)
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/_sim/state")
        conn.close()
        # the server is still fine afterwards
        self.assertEqual(self.sim.ctl("GET", "/state")["host_id"], "pve-01")

    # -- auth ----------------------------------------------------------------

    def test_auth_401(self):
        for ep, method in (("/report", "POST"), ("/desired", "GET"),
                           ("/signed-ops", "GET")):
            body = self.golden_bytes if method == "POST" else None
            st, resp, data = self.sim.api(method, ep, body, auth=False)
            self.assertEqual(st, 401)
            self.assertEqual(resp.getheader("Content-Type"),
                             "application/json")
            self.assertIn("message", json.loads(data))
            st, _, _ = self.sim.api(method, ep, body,
                                    headers={"Authorization": "Bearer nope"},
                                    auth=False)
            self.assertEqual(st, 401)
        self.assertEqual(self.sim.ctl("GET", "/reports"), [])
        log = self.sim.ctl("GET", "/requests")
        self.assertEqual(len(log), 6)
        self.assertFalse(any(e["authorized"] for e in log))
        # the token never appears in the request log or the state
        self.assertNotIn(self.sim.token, json.dumps(log))
        self.assertNotIn(self.sim.token,
                         json.dumps(self.sim.ctl("GET", "/state")))

    # -- report --------------------------------------------------------------

    def test_report_stored_and_envelope(self):
        st, resp, data = self.report()
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        env = json.loads(data)
        self.assertEqual(list(env), ["schema", "poll_interval_seconds",
                                     "blocked", "desired_generation",
                                     "has_signed_ops", "audit_ack_seq"])
        self.assertEqual(env["schema"], "felhom.control/v1")
        self.assertEqual(env["poll_interval_seconds"], 300)
        self.assertIs(env["blocked"], False)
        self.assertEqual(env["desired_generation"], 0)
        self.assertIs(env["has_signed_ops"], False)
        self.assertEqual(env["audit_ack_seq"], 991)
        with open(os.path.join(self.sim.data, "reports.jsonl")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertEqual(json.loads(lines[0]), self.golden)
        self.assertEqual(self.sim.ctl("GET", "/reports"), [self.golden])
        log = self.sim.ctl("GET", "/requests")
        self.assertEqual(log[-1]["path"], "/api/agent/v1/report")
        self.assertEqual(log[-1]["status"], 200)
        self.assertEqual(log[-1]["user_agent"], "felhom-agent/test")
        self.assertTrue(log[-1]["authorized"])
        self.assertIsInstance(log[-1]["t"], float)

    def test_report_receive_times_and_host_ids(self):
        """Fleet tests: each report's receive time, and whose report
        each request was, also a refused one."""
        t0 = time.time()
        self.fault(endpoint="report", kind="503", retry_after=7)
        other = dict(self.golden, host_id="pve-77")
        st, resp, _ = self.report(other)
        self.assertEqual(st, 503)
        self.assertEqual(resp.getheader("Retry-After"), "7")
        st, _, _ = self.report(other)
        self.assertEqual(st, 200)
        st, _, _ = self.report()
        self.assertEqual(st, 200)
        t1 = time.time()
        got = self.sim.ctl("GET", "/reports?received=1")
        self.assertEqual([g["report"]["host_id"] for g in got],
                         ["pve-77", self.golden["host_id"]])
        self.assertTrue(t0 <= got[0]["received_at"] <= got[1]["received_at"]
                        <= t1)
        # without the query: the reports alone, as before
        self.assertEqual(self.sim.ctl("GET", "/reports"),
                         [g["report"] for g in got])
        log = [e for e in self.sim.ctl("GET", "/requests")
               if e["path"].endswith("/report")]
        self.assertEqual([(e["host_id"], e["status"]) for e in log],
                         [("pve-77", 503), ("pve-77", 200),
                          (self.golden["host_id"], 200)])
        self.sim.api("GET", "/desired")
        self.assertIsNone(self.sim.ctl("GET", "/requests")[-1]["host_id"])
        # a fault for one host: the others pass, that one gets it once
        self.fault(endpoint="report", kind="503", retry_after=3,
                   host_id="pve-77")
        self.assertEqual(self.report()[0], 200)
        self.assertEqual(self.report(other)[0], 503)
        self.assertEqual(self.report(other)[0], 200)
        st, _, _ = self.sim.request("POST", "/_sim/fault", {
            "endpoint": "desired", "kind": "503", "host_id": "pve-77"},
            auth=False)
        self.assertEqual(st, 400)
        self.sim.ctl("POST", "/reset", {})
        self.assertEqual(self.sim.ctl("GET", "/reports?received=1"), [])

    def test_report_bad_bodies(self):
        st, _, data = self.sim.api("POST", "/report", b"{not json")
        self.assertEqual(st, 400)
        self.assertIn("JSON", json.loads(data)["message"])
        doc = dict(self.golden, schema="felhom.host-report/v2")
        st, _, data = self.report(doc)
        self.assertEqual(st, 400)
        self.assertIn("felhom.host-report/v1", json.loads(data)["message"])
        st, _, _ = self.sim.api("POST", "/report", b"[1,2]")
        self.assertEqual(st, 400)
        self.assertEqual(self.sim.ctl("GET", "/reports"), [])
        # wrong method, unknown endpoint
        st, resp, _ = self.sim.api("GET", "/report")
        self.assertEqual(st, 405)
        st, _, _ = self.sim.api("GET", "/nope")
        self.assertEqual(st, 404)

    def test_audit_auto_ack_and_envelope_control(self):
        doc = copy.deepcopy(self.golden)
        doc["audit"] = [dict(doc["audit"][0], seq=s) for s in (5, 9, 7)]
        st, _, data = self.report(doc)
        self.assertEqual(json.loads(data)["audit_ack_seq"], 9)
        doc["audit"] = []
        st, _, data = self.report(doc)
        self.assertEqual(json.loads(data)["audit_ack_seq"], 9)
        doc["audit"] = [dict(self.golden["audit"][0], seq=12)]
        st, _, data = self.report(doc)
        self.assertEqual(json.loads(data)["audit_ack_seq"], 12)
        # fixed value
        self.sim.ctl("POST", "/envelope", {"audit_ack_seq": 3,
                                           "poll_interval_seconds": 60,
                                           "blocked": True})
        env = json.loads(self.report(doc)[2])
        self.assertEqual(env["audit_ack_seq"], 3)
        self.assertEqual(env["poll_interval_seconds"], 60)
        self.assertIs(env["blocked"], True)
        # no ack: the key is absent
        self.sim.ctl("POST", "/envelope", {"audit_ack_seq": None})
        env = json.loads(self.report(doc)[2])
        self.assertNotIn("audit_ack_seq", env)
        # back to auto; unknown keys pass through
        self.sim.ctl("POST", "/envelope", {"audit_ack_seq": "auto",
                                           "future_field": {"x": 1}})
        env = json.loads(self.report(doc)[2])
        self.assertEqual(env["audit_ack_seq"], 12)
        self.assertEqual(env["future_field"], {"x": 1})
        # bad control values
        st, _, _ = self.sim.request("POST", "/_sim/envelope",
                                    {"audit_ack_seq": "x"}, auth=False)
        self.assertEqual(st, 400)
        st, _, _ = self.sim.request("POST", "/_sim/envelope", b"nope",
                                    auth=False)
        self.assertEqual(st, 400)
        # reset keeps the envelope; reset all restores it
        self.sim.ctl("POST", "/reset", {})
        self.assertIs(self.sim.ctl("GET", "/state")["envelope"]["blocked"],
                      True)
        self.sim.ctl("POST", "/reset", {"all": True})
        self.assertIs(self.sim.ctl("GET", "/state")["envelope"]["blocked"],
                      False)

    # -- desired -------------------------------------------------------------

    def test_desired_etag_304(self):
        st, _, _ = self.sim.api("GET", "/desired")
        self.assertEqual(st, 204)
        raw = fixture("desired.json")
        r = self.sim.ctl("POST", "/desired", raw)
        self.assertEqual(r["generation"], 12)
        st, resp, data = self.sim.api("GET", "/desired")
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        self.assertEqual(data, raw)
        etag = resp.getheader("ETag")
        self.assertEqual(etag, r["etag"])
        st, resp, data = self.sim.api("GET", "/desired",
                                      headers={"If-None-Match": etag})
        self.assertEqual(st, 304)
        self.assertEqual(data, b"")
        st, _, _ = self.sim.api("GET", "/desired",
                                headers={"If-None-Match": '"other"'})
        self.assertEqual(st, 200)
        # envelope follows the generation
        self.assertEqual(json.loads(self.report()[2])["desired_generation"],
                         12)
        # a new document bumps the ETag
        doc = json.loads(raw)
        doc["generation"] = 13
        r2 = self.sim.ctl("POST", "/desired", doc)
        self.assertNotEqual(r2["etag"], etag)
        st, resp, data = self.sim.api("GET", "/desired",
                                      headers={"If-None-Match": etag})
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["generation"], 13)
        self.assertEqual(json.loads(self.report()[2])["desired_generation"],
                         13)
        log = self.sim.ctl("GET", "/requests")
        self.assertIn(etag, [e["if_none_match"] for e in log])

    # -- signed ops ----------------------------------------------------------

    def test_signed_ops_once(self):
        st, _, _ = self.sim.api("GET", "/signed-ops")
        self.assertEqual(st, 204)
        # a v1 hub: no seq, each entry served once
        self.sim.ctl("POST", "/signed-ops", {"delivery": "once"})
        self.sim.ctl("POST", "/signed-ops", fixture("signed-ops.json"))
        self.assertIs(json.loads(self.report()[2])["has_signed_ops"], True)
        st, resp, data = self.sim.api("GET", "/signed-ops")
        self.assertEqual(st, 200)
        doc = json.loads(data)
        self.assertEqual(doc, json.loads(fixture("signed-ops.json")))
        st, _, _ = self.sim.api("GET", "/signed-ops")
        self.assertEqual(st, 204)
        self.assertIs(json.loads(self.report()[2])["has_signed_ops"], False)
        # single entry, blob convenience, defaults
        self.sim.ctl("POST", "/signed-ops", {"blob": {"schema": "felhom.op/v1"}})
        doc = json.loads(self.sim.api("GET", "/signed-ops")[2])
        self.assertEqual(doc["ops"], [{
            "op_id": None,
            "blob_b64": base64.b64encode(b'{"schema":"felhom.op/v1"}')
            .decode(), "signature": None}])
        st, _, _ = self.sim.request("POST", "/_sim/signed-ops",
                                    {"op_id": 5, "blob_b64": "x"}, auth=False)
        self.assertEqual(st, 400)

    def test_signed_ops_at_least_once(self):
        """hub-contract v1.1: seq per entry, kept until a report acks it."""
        golden = json.loads(self.golden_bytes)

        def report_acking(n):
            doc = copy.deepcopy(golden)
            doc["agent"]["signed_ops_ack_seq"] = n
            return json.loads(self.report(doc)[2])

        base = self.sim.ctl("GET", "/state")["signed_ops"]
        self.assertEqual(base["delivery"], "ack")
        self.sim.ctl("POST", "/signed-ops", [{"blob_b64": "YQ=="},
                                             {"blob_b64": "Yg=="}])
        first = json.loads(self.sim.api("GET", "/signed-ops")[2])["ops"]
        seqs = [e["seq"] for e in first]
        self.assertEqual(seqs[1], seqs[0] + 1)
        self.assertEqual(list(first[0])[0], "seq")
        # served again, unchanged, until acknowledged
        again = json.loads(self.sim.api("GET", "/signed-ops")[2])["ops"]
        self.assertEqual(again, first)
        self.assertIs(report_acking(0)["has_signed_ops"], True)
        env = report_acking(seqs[0])
        self.assertIs(env["has_signed_ops"], True)
        left = json.loads(self.sim.api("GET", "/signed-ops")[2])["ops"]
        self.assertEqual([e["seq"] for e in left], [seqs[1]])
        self.assertIs(report_acking(seqs[1])["has_signed_ops"], False)
        self.assertEqual(self.sim.api("GET", "/signed-ops")[0], 204)
        self.assertEqual(self.sim.ctl("GET", "/signed-ops")
                         ["signed_ops_ack_seq"], seqs[1])
        # seq never goes back, not even across a full reset
        self.sim.ctl("POST", "/reset", {"all": True})
        self.sim.ctl("POST", "/signed-ops", {"blob_b64": "Yw=="})
        nxt = json.loads(self.sim.api("GET", "/signed-ops")[2])["ops"]
        self.assertGreater(nxt[0]["seq"], seqs[1])
        st, _, _ = self.sim.request("POST", "/_sim/signed-ops",
                                    {"delivery": "twice"}, auth=False)
        self.assertEqual(st, 400)

    def test_signed_ops_keep_until_ack(self):
        self.sim.ctl("POST", "/signed-ops", {
            "keep_until_ack": True,
            "ops": [{"op_id": "op-1", "blob_b64": "YQ==", "signature": "s"},
                    {"op_id": None, "blob_b64": "Yg==", "signature": None}]})
        for _ in range(2):
            st, _, data = self.sim.api("GET", "/signed-ops")
            self.assertEqual(st, 200)
            self.assertEqual(len(json.loads(data)["ops"]), 2)
        r = self.sim.ctl("POST", "/signed-ops/ack", {"op_ids": ["op-1"]})
        self.assertEqual(r["queue_length"], 1)
        data = self.sim.api("GET", "/signed-ops")[2]
        self.assertEqual(json.loads(data)["ops"][0]["blob_b64"], "Yg==")
        self.sim.ctl("POST", "/signed-ops/ack", {})
        self.assertEqual(self.sim.api("GET", "/signed-ops")[0], 204)
        self.sim.ctl("POST", "/signed-ops", {"blob_b64": "Yw=="})
        self.sim.ctl("DELETE", "/signed-ops")
        self.assertEqual(self.sim.api("GET", "/signed-ops")[0], 204)

    # -- faults --------------------------------------------------------------

    def test_fault_status(self):
        for status in (500, 502, 400, 404):
            self.fault(endpoint="report", kind="status", status=status,
                       message="boom %d" % status)
            st, resp, data = self.report()
            self.assertEqual(st, status)
            self.assertEqual(resp.getheader("Content-Type"),
                             "application/json")
            self.assertEqual(json.loads(data)["message"], "boom %d" % status)
        self.assertEqual(self.sim.ctl("GET", "/reports"), [])  # not stored
        self.assertEqual(self.report()[0], 200)  # count 1 each: used up
        log = self.sim.ctl("GET", "/requests")
        self.assertEqual([e["fault"] for e in log],
                         ["status"] * 4 + [None])

    def test_fault_count_and_wildcard(self):
        self.fault(endpoint="*", kind="status", status=503, count=3)
        self.assertEqual(self.report()[0], 503)
        self.assertEqual(self.sim.api("GET", "/desired")[0], 503)
        self.assertEqual(self.sim.api("GET", "/signed-ops")[0], 503)
        self.assertEqual(self.sim.api("GET", "/desired")[0], 204)
        self.fault(endpoint="desired", kind="status", status=500)
        self.assertEqual(self.report()[0], 200)  # other endpoint untouched
        self.assertEqual(self.sim.api("GET", "/desired")[0], 500)
        self.fault(endpoint="report", kind="status", count=-1)
        for _ in range(3):
            self.assertEqual(self.report()[0], 500)
        self.sim.ctl("DELETE", "/fault")
        self.assertEqual(self.report()[0], 200)
        # reset clears faults
        self.fault(endpoint="report", kind="status")
        self.sim.ctl("POST", "/reset")
        self.assertEqual(self.report()[0], 200)
        # bad fault specs
        for bad in ({"kind": "nope"}, {"endpoint": "x", "kind": "slow"},
                    {"endpoint": "report", "kind": "other_host"},
                    {"kind": "status", "status": "x"},
                    {"kind": "slow", "count": 0}):
            st, _, _ = self.sim.request("POST", "/_sim/fault", bad,
                                        auth=False)
            self.assertEqual(st, 400, bad)

    def test_fault_401_403(self):
        for kind, status in (("401", 401), ("403", 403)):
            self.fault(endpoint="report", kind=kind)
            st, resp, data = self.report()
            self.assertEqual(st, status)
            self.assertEqual(resp.getheader("Content-Type"),
                             "application/json")
            self.assertIn("message", json.loads(data))
        self.assertEqual(self.sim.ctl("GET", "/reports"), [])

    def test_fault_429_and_503_retry_after(self):
        self.fault(endpoint="report", kind="429", retry_after=7)
        st, resp, _ = self.report()
        self.assertEqual(st, 429)
        self.assertEqual(resp.getheader("Retry-After"), "7")
        self.fault(endpoint="desired", kind="status", status=503,
                   retry_after=11)
        st, resp, _ = self.sim.api("GET", "/desired")
        self.assertEqual(st, 503)
        self.assertEqual(resp.getheader("Retry-After"), "11")
        self.fault(endpoint="signed-ops", kind="503", retry_after=2)
        st, resp, _ = self.sim.api("GET", "/signed-ops")
        self.assertEqual(st, 503)
        self.assertEqual(resp.getheader("Retry-After"), "2")

    def test_fault_slow(self):
        self.fault(endpoint="report", kind="slow", delay_ms=400)
        t0 = time.monotonic()
        st, _, data = self.report()
        self.assertGreaterEqual(time.monotonic() - t0, 0.38)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["schema"], "felhom.control/v1")
        self.fault(endpoint="report", kind="slow", delay_ms=1500)
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.report(timeout=0.3)

    def test_fault_hang_until_cleared(self):
        self.fault(endpoint="report", kind="hang")
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.report(timeout=0.5)
        # the request was held, not processed
        self.assertEqual(self.sim.ctl("GET", "/reports"), [])
        # a held request ends (no answer) once the faults are cleared
        self.fault(endpoint="report", kind="hang", count=-1)
        out = {}

        def held():
            try:
                self.report(timeout=10)
                out["answer"] = True
            except (http.client.RemoteDisconnected, ConnectionError,
                    http.client.IncompleteRead, ssl.SSLError) as e:
                out["closed"] = e
        t = threading.Thread(target=held)
        t.start()
        time.sleep(0.3)
        self.assertTrue(t.is_alive())
        t0 = time.monotonic()
        self.sim.ctl("DELETE", "/fault")
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - t0, 2)
        self.assertIn("closed", out)
        self.assertEqual(self.report()[0], 200)
        self.fault(endpoint="report", kind="hang", max_s=0.2)
        with self.assertRaises((http.client.RemoteDisconnected,
                                ConnectionError, ssl.SSLError)):
            self.report(timeout=5)

    def test_fault_drop(self):
        for ep, method in (("/report", "POST"), ("/desired", "GET"),
                           ("/signed-ops", "GET")):
            self.fault(endpoint=ep[1:], kind="drop")
            body = self.golden_bytes if method == "POST" else None
            with self.assertRaises((http.client.IncompleteRead,
                                    http.client.RemoteDisconnected,
                                    ssl.SSLError, ConnectionError)):
                self.sim.api(method, ep, body)
        # the hub processed the report
        self.assertEqual(len(self.sim.ctl("GET", "/reports")), 1)
        self.assertEqual(self.report()[0], 200)

    def test_fault_invalid_json(self):
        self.sim.ctl("POST", "/signed-ops", fixture("signed-ops.json"))
        for ep, method in (("/report", "POST"), ("/desired", "GET"),
                           ("/signed-ops", "GET")):
            self.fault(endpoint=ep[1:], kind="invalid_json")
            body = self.golden_bytes if method == "POST" else None
            st, resp, data = self.sim.api(method, ep, body)
            self.assertEqual(st, 200)
            self.assertEqual(resp.getheader("Content-Type"),
                             "application/json")
            self.assertEqual(int(resp.getheader("Content-Length")),
                             len(data))
            with self.assertRaises(ValueError):
                json.loads(data)
        # the spoiled delivery did not consume the queue
        st, _, data = self.sim.api("GET", "/signed-ops")
        self.assertEqual(len(json.loads(data)["ops"]), 2)

    def test_fault_wrong_content_type(self):
        self.fault(endpoint="*", kind="wrong_content_type", count=2)
        st, resp, data = self.report()
        self.assertEqual(st, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith(
            "text/html"))
        self.assertIn(b"<html", data)
        st, resp, _ = self.sim.api("GET", "/desired")
        self.assertEqual(st, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith(
            "text/html"))

    def test_fault_oversize(self):
        self.fault(endpoint="report", kind="oversize")
        st, resp, data = self.report()
        self.assertEqual(st, 200)
        self.assertGreater(len(data), 4 * 1024 * 1024)
        self.assertEqual(int(resp.getheader("Content-Length")), len(data))
        env = json.loads(data)  # valid JSON, only too big
        self.assertEqual(env["schema"], "felhom.control/v1")
        self.sim.ctl("POST", "/desired", fixture("desired.json"))
        self.fault(endpoint="desired", kind="oversize")
        st, resp, data = self.sim.api("GET", "/desired")
        self.assertGreater(len(data), 4 * 1024 * 1024)
        self.assertEqual(json.loads(data)["schema"], "felhom.desired/v1")

    def test_fault_other_host_and_old_generation(self):
        self.sim.ctl("POST", "/desired", fixture("desired.json"))
        st, resp, data = self.sim.api("GET", "/desired")
        self.assertEqual(json.loads(data)["generation"], 12)
        etag = resp.getheader("ETag")
        self.fault(endpoint="desired", kind="other_host")
        st, resp, data = self.sim.api("GET", "/desired",
                                      headers={"If-None-Match": etag})
        self.assertEqual(st, 200)
        doc = json.loads(data)
        self.assertNotEqual(doc["host_id"], "pve-01")
        self.assertEqual(doc["schema"], "felhom.desired/v1")
        self.fault(endpoint="desired", kind="old_generation")
        st, resp, data = self.sim.api("GET", "/desired")
        self.assertEqual(st, 200)
        doc = json.loads(data)
        self.assertEqual(doc["host_id"], "pve-01")
        self.assertLess(doc["generation"], 12)
        # normal service resumes, ETag unchanged
        st, resp, _ = self.sim.api("GET", "/desired",
                                   headers={"If-None-Match": etag})
        self.assertEqual(st, 304)

    def test_fault_wrong_schema(self):
        self.fault(endpoint="report", kind="wrong_schema")
        st, _, data = self.report()
        self.assertEqual(st, 200)
        env = json.loads(data)
        self.assertNotEqual(env["schema"], "felhom.control/v1")
        self.assertIn("poll_interval_seconds", env)
        self.sim.ctl("POST", "/desired", fixture("desired.json"))
        self.sim.ctl("POST", "/signed-ops", fixture("signed-ops.json"))
        self.fault(endpoint="desired", kind="wrong_schema",
                   schema="felhom.desired/v0")
        self.assertEqual(json.loads(self.sim.api("GET", "/desired")[2])
                         ["schema"], "felhom.desired/v0")
        self.fault(endpoint="signed-ops", kind="wrong_schema")
        self.assertNotEqual(json.loads(self.sim.api("GET", "/signed-ops")[2])
                            ["schema"], "felhom.signed-ops/v1")

    # -- robustness ------------------------------------------------------------

    def raw(self, data):
        with socket.create_connection(("127.0.0.1", self.sim.port), 5) as s:
            with self.sim.ctx.wrap_socket(s, server_hostname="localhost") \
                    as t:
                t.sendall(data)
                out = b""
                while True:
                    try:
                        chunk = t.recv(65536)
                    except (ssl.SSLError, OSError):
                        break
                    if not chunk:
                        break
                    out += chunk
                return out

    def test_malformed_requests(self):
        out = self.raw(b"GARBAGE\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)
        out = self.raw(b"POST /api/agent/v1/report HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: -5\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)
        out = self.raw(b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 414"), out)
        # plain TCP garbage instead of a TLS handshake
        with socket.create_connection(("127.0.0.1", self.sim.port), 5) as s:
            s.sendall(b"\x00\x01garbage\r\n\r\n")
            try:
                s.recv(100)
            except OSError:
                pass
        # chunked request body
        body = self.golden_bytes
        req = (b"POST /api/agent/v1/report HTTP/1.1\r\nHost: x\r\n"
               b"Authorization: Bearer " + self.sim.token.encode() +
               b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        out = self.raw(req)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:200])
        self.assertEqual(self.sim.ctl("GET", "/state")["host_id"], "pve-01")

    def test_keep_alive(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.sim.port,
                                           context=self.sim.ctx, timeout=5)
        h = {"Authorization": "Bearer " + self.sim.token}
        for _ in range(3):
            conn.request("POST", "/api/agent/v1/report",
                         body=self.golden_bytes, headers=h)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
            conn.request("GET", "/api/agent/v1/desired", headers=h)
            r = conn.getresponse()
            self.assertEqual(r.status, 204)
            r.read()
        conn.close()


class StrictAndSignalsTest(unittest.TestCase):
    def test_strict_reports(self):
        sim = Sim("--quiet", "--strict-reports", "--host-id", "pve-01",
                  "--token", "fixed-token-123",
                  env={"FELHOM_FIXTURE_DIR": FIXTURES})
        try:
            self.assertEqual(sim.info["token"], "fixed-token-123")
            with open(GOLDEN, "rb") as f:
                golden_bytes = f.read()
            st, _, _ = sim.api("POST", "/report", golden_bytes)
            self.assertEqual(st, 200)
            doc = json.loads(golden_bytes)
            doc["guests"].append(dict(doc["guests"][0], spec=None))
            doc["audit"] = []
            st, _, _ = sim.api("POST", "/report", doc)
            self.assertEqual(st, 200)
            del doc["host"]["sensors"]
            doc["guests"][0]["spec"]["bogus"] = 1
            st, resp, data = sim.api("POST", "/report", doc)
            self.assertEqual(st, 422)
            msg = json.loads(data)["message"]
            self.assertIn("missing key: host.sensors", msg)
            self.assertIn("extra key: guests[0].spec.bogus", msg)
            self.assertEqual(len(sim.ctl("GET", "/reports")), 2)
        finally:
            self.assertEqual(sim.stop(), 0)

    def test_strict_reports_check_agent_health(self):
        # hub-contract v1.1: a degraded report (host null, lists empty)
        # is taken; agent.health must say ok, or degraded with its cause.
        sim = Sim("--quiet", "--strict-reports",
                  env={"FELHOM_FIXTURE_DIR": FIXTURES})
        try:
            with open(GOLDEN, "rb") as f:
                golden = json.loads(f.read())
            deg = dict(golden, host=None, guests=[], storage=[],
                       backups=[], pbs=[])
            st, _, _ = sim.api("POST", "/report", deg)
            self.assertEqual(st, 200)
            ok = copy.deepcopy(golden)
            ok["agent"]["health"] = {"state": "ok", "cause": None,
                                     "since": None, "message": None}
            st, _, _ = sim.api("POST", "/report", ok)
            self.assertEqual(st, 200)
            bad = [({"state": "sick", "cause": None, "since": None,
                     "message": None}, "agent.health.state"),
                   ({"state": "ok", "cause": "db_full", "since": None,
                     "message": None}, "agent.health.cause must be null"),
                   ({"state": "degraded", "cause": "", "since":
                     "2026-11-28T11:55:00Z", "message": "x"},
                    "agent.health.cause must be a non-empty"),
                   ({"state": "degraded", "cause": "db_full", "since":
                     "yesterday", "message": "x"}, "agent.health.since"),
                   ({"state": "ok"}, "missing key: agent.health.cause")]
            for h, want in bad:
                doc = copy.deepcopy(golden)
                doc["agent"]["health"] = h
                st, _, data = sim.api("POST", "/report", doc)
                self.assertEqual(st, 422, h)
                self.assertIn(want, json.loads(data)["message"])
            got = sim.ctl("GET", "/reports")
            self.assertEqual(len(got), 2)
            self.assertEqual(got[0]["agent"]["health"]["cause"],
                             "pve_unreachable")
            self.assertIsNone(got[0]["host"])
        finally:
            self.assertEqual(sim.stop(), 0)

    def test_sigterm_and_sigint_exit_0(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            sim = Sim("--quiet")
            self.assertEqual(sim.ctl("GET", "/state")["host_id"], "pve-01")
            sim.proc.send_signal(sig)
            self.assertEqual(sim.proc.wait(10), 0)
            # nothing but the first line on stdout
            self.assertEqual(sim.proc.stdout.read(), b"")
            sim.stop()

    def test_port_in_use_fails(self):
        sim = Sim("--quiet")
        try:
            r = subprocess.run([SIM, "--port", str(sim.port), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertEqual(r.stdout, b"")
        finally:
            sim.stop()


class KeysetTest(unittest.TestCase):
    def setUp(self):
        with open(GOLDEN) as f:
            self.golden = json.load(f)

    def run_cli(self, doc_path):
        return subprocess.run([sys.executable, KEYSET, GOLDEN, doc_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=10)

    def test_golden_equals_itself(self):
        self.assertEqual(keyset.keyset_diff(self.golden, self.golden), [])
        r = self.run_cli(GOLDEN)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertEqual(r.stdout, b"")

    def test_modified_document(self):
        doc = copy.deepcopy(self.golden)
        del doc["host"]["disks"][0]["serial"]
        doc["extra_top"] = 1
        doc["ops"][0]["sign_request"]["nope"] = True
        doc["guests"].append(copy.deepcopy(doc["guests"][0]))
        doc["guests"][1]["spec"]["net"][0]["mtu"] = 1500
        doc["host"]["memory"] = [1, 2]
        diffs = keyset.keyset_diff(self.golden, doc)
        self.assertIn("missing key: host.disks[0].serial", diffs)
        self.assertIn("extra key: extra_top", diffs)
        self.assertIn("extra key: ops[0].sign_request.nope", diffs)
        self.assertIn("extra key: guests[1].spec.net[0].mtu", diffs)
        self.assertIn("type mismatch at host.memory: expected object, "
                      "got array", diffs)
        self.assertEqual(len(diffs), 5)
        with tempfile.NamedTemporaryFile("w", suffix=".json",
                                         delete=False) as f:
            json.dump(doc, f)
        try:
            r = self.run_cli(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout.decode().splitlines(), diffs)

    def test_null_and_empty_arrays_accepted(self):
        doc = copy.deepcopy(self.golden)
        doc["guests"][0]["spec"] = None
        for k in ("backups", "restore_tests", "pbs", "ops", "audit"):
            doc[k] = []
        doc["guests"][0]["lock"] = "backup"
        doc["ops"] = [dict(self.golden["ops"][0], sign_request=None,
                           error="failed")]
        self.assertEqual(keyset.keyset_diff(self.golden, doc), [])

    def test_cli_usage_error(self):
        r = subprocess.run([sys.executable, KEYSET, GOLDEN],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
