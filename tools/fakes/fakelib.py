"""Shared by the fake pct, pvesm, smartctl and sensors (tools/fakes/README.md).

A fake finds its settings in fakes.json beside the path it was started by
(the helper clears the environment, so nothing can come from there), appends
one JSON line per call to the record file, and, for pct and pvesm, acts on
pve-sim's world through POST /_sim/root, as the real CLIs act as root@pam."""

import json
import os
import ssl
import sys
import urllib.request


def settings():
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    path = os.path.join(here, "fakes.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def record(cfg, tool, argv):
    rec = cfg.get("record")
    if not rec:
        return
    line = json.dumps({"tool": tool, "argv": argv}, separators=(",", ":"))
    with open(rec, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def sim_call(cfg, method, path, body=None):
    sim = cfg["sim"]
    ctx = ssl.create_default_context(cafile=sim["ca_file"])
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(sim["base"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=90) as r:
        return json.loads(r.read().decode("utf-8"))


def die(msg, code=255):
    """As a Perl CLI dies: the message on stderr, exit 255."""
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(code)
