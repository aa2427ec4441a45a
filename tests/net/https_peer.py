#!/usr/bin/env python3
"""https_peer: a tiny HTTPS server the net/https suite talks to.

Python standard library plus the openssl CLI (a throw-away CA and a leaf
for 127.0.0.1).  First stdout line: {"port", "ca_file", "fingerprint",
"other_ca_file"} (other_ca_file: a second CA that did NOT sign the leaf).

Endpoints (query parameters in brackets):
  /echo                 200 JSON {method, path, body, content_type,
                        authorization, accept, user_agent, expect}
  /status/<code>        that status [reason, retry_after, etag, ctype, body]
  /big                  200 with n bytes [n, chunked=1]
  /slow                 200 after ms milliseconds [ms]
  /stats                {connections, requests, max_concurrent, paths}
  /reset                zeroes the stats
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import hashlib
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"connections": 0, "requests": 0, "current": 0, "max_concurrent": 0,
         "paths": []}


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_ca(d, name):
    key = os.path.join(d, name + ".key")
    crt = os.path.join(d, name + ".pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
        "-days", "2", "-subj", "/CN=" + name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return key, crt


def make_certs(d):
    ca_key, ca_crt = make_ca(d, "peer-ca")
    _, other_crt = make_ca(d, "other-ca")
    key = os.path.join(d, "leaf.key")
    csr = os.path.join(d, "leaf.csr")
    crt = os.path.join(d, "leaf.pem")
    ext = os.path.join(d, "leaf.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    fp = hashlib.sha256(der).hexdigest().upper()
    fp = ":".join(fp[i:i + 2] for i in range(0, 64, 2))
    return ca_crt, other_crt, crt, key, fp


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "https-peer/1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def reply(self, status, body=b"", reason=None, headers=(), chunked=False):
        self.send_response(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 16384
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def handle_one(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with LOCK:
            STATS["requests"] += 1
            STATS["paths"].append(u.path)
            STATS["current"] += 1
            STATS["max_concurrent"] = max(STATS["max_concurrent"], STATS["current"])
        try:
            self.route(u.path, q, body)
        finally:
            with LOCK:
                STATS["current"] -= 1

    def route(self, path, q, body):
        if path == "/echo":
            d = {"method": self.command, "path": self.path,
                 "body": body.decode("latin-1"),
                 "content_type": self.headers.get("Content-Type"),
                 "authorization": self.headers.get("Authorization"),
                 "accept": self.headers.get("Accept"),
                 "user_agent": self.headers.get("User-Agent"),
                 "expect": self.headers.get("Expect")}
            self.reply(200, json.dumps(d).encode(), headers=[("Content-Type", "application/json")])
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            hdrs = [("Content-Type", q.get("ctype", "application/json;charset=UTF-8"))]
            if "retry_after" in q:
                hdrs.append(("Retry-After", q["retry_after"]))
            if "etag" in q:
                hdrs.append(("ETag", q["etag"]))
            self.reply(code, q.get("body", "{}").encode(), reason=q.get("reason"),
                       headers=hdrs)
        elif path == "/big":
            n = int(q.get("n", "1024"))
            self.reply(200, b"x" * n, headers=[("Content-Type", "text/plain")],
                       chunked=q.get("chunked") == "1")
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.reply(200, b'{"slow":true}', headers=[("Content-Type", "application/json")])
        elif path == "/stats":
            with LOCK:
                d = dict(STATS)
            self.reply(200, json.dumps(d).encode(), headers=[("Content-Type", "application/json")])
        elif path == "/reset":
            with LOCK:
                STATS.update({"connections": 0, "requests": 0, "current": 0,
                              "max_concurrent": 0, "paths": []})
            self.reply(200, b"{}", headers=[("Content-Type", "application/json")])
        else:
            self.reply(404, b"{}", headers=[("Content-Type", "application/json")])

    do_GET = do_POST = do_PUT = do_DELETE = handle_one


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            # No Nagle (as the sims): the TLS 1.3 session tickets would
            # hold each new connection's answer ~40 ms (delayed ACK).
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            request.close()
            return
        try:
            self.RequestHandlerClass(s, client_address, self)
        finally:
            try:
                s.close()
            except OSError:
                pass


def main():
    d = tempfile.mkdtemp(prefix="https-peer-")
    try:
        ca, other, crt, key, fp = make_certs(d)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        srv = Server(("127.0.0.1", 0), Handler, ctx)
        sys.stdout.write(json.dumps({"port": srv.server_address[1], "ca_file": ca,
                                     "other_ca_file": other, "fingerprint": fp}) + "\n")
        sys.stdout.flush()
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        import signal
        ev = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: ev.set())
        ev.wait()
        srv.shutdown()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
