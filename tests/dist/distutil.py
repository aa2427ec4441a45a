"""Helpers shared by the Debian package tests (tests/dist/test_*.py).

These tests install felhom-agent on the machine they run on, so they
run only as root and only on a machine without felhom-agent (a CI
container, a scratch VM): otherwise they skip with a message and touch
nothing.  Whatever they create is removed at the end — the package is
purged, the user they caused to exist is deleted — and `leftovers()`
checks that nothing stayed.
"""
import glob
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77  # ctest SKIP_RETURN_CODE

SRC = os.environ.get("FELHOM_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
USER = "felhom"
STATE_DIR = "/var/lib/felhom-agent"
CONF_DIR = "/etc/felhom-agent"


def skip(msg):
    sys.stderr.write("SKIPPED: %s\n" % msg)
    sys.exit(SKIP)


def package_path():
    """The .deb to test: $FELHOM_DEB, or the one cpack --preset release made."""
    deb = os.environ.get("FELHOM_DEB")
    if not deb:
        found = sorted(glob.glob(os.path.join(SRC, "build-release",
                                              "felhom-agent_*_amd64.deb")))
        deb = found[-1] if found else None
    if deb is None or not os.path.isfile(deb):
        msg = ("no package: build it with `cmake --preset release && cmake "
               "--build --preset release && cpack --preset release` (or set "
               "FELHOM_DEB)")
        if os.environ.get("FELHOM_REQUIRE_PACKAGE") == "1":
            sys.stderr.write("FAILED: %s\n" % msg)
            sys.exit(1)
        skip(msg)
    return os.path.abspath(deb)


def installed(pkg="felhom-agent"):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and "installed" in r.stdout


def user_exists(name=USER):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def require_clean_slate():
    """Skips unless root on a machine without felhom-agent or PVE."""
    if os.geteuid() != 0:
        skip("needs root: this test installs and purges the felhom-agent "
             "package on this machine (CI runs it as root)")
    if os.path.isdir("/etc/pve"):
        skip("/etc/pve exists: this looks like a Proxmox VE host; the "
             "package tests only run on a scratch machine")
    if dpkg_status("felhom-agent") is not None:
        skip("felhom-agent is installed (or its configuration is left) on "
             "this machine; the test would replace it")
    for d in (STATE_DIR, CONF_DIR):
        if os.path.exists(d):
            skip("%s exists: the test would touch a real installation" % d)
    for tool in ("dpkg", "systemd-analyze", "ssh-keygen", "setpriv"):
        if shutil.which(tool) is None:
            skip("%s is not installed" % tool)
    return user_exists()


def dpkg_status(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    if r.returncode != 0 or r.stdout.strip() in ("", "unknown ok not-installed"):
        return None
    return r.stdout.strip()


def run(argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def cleanup(user_existed):
    """Purges the package and removes what the test made exist."""
    if dpkg_status("felhom-agent") is not None:
        run(["dpkg", "--purge", "felhom-agent"], check=False,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if not user_existed and user_exists():
        run(["userdel", USER], check=False)
        try:
            grp.getgrnam(USER)
            run(["groupdel", USER], check=False)
        except KeyError:
            pass


def leftovers(user_existed):
    """What the package or the test left behind (empty: nothing)."""
    left = []
    for d in (STATE_DIR, CONF_DIR, "/run/felhom-agent"):
        if os.path.exists(d):
            left.append(d)
    for p in glob.glob("/etc/systemd/system/**/felhom-*", recursive=True):
        left.append(p)
    for p in glob.glob("/var/lib/systemd/deb-systemd-helper-*/**/felhom-*",
                       recursive=True):
        left.append(p)
    if not user_existed and user_exists():
        left.append("user " + USER)
    if dpkg_status("felhom-agent") is not None:
        left.append("package felhom-agent")
    return left


class Sim:
    """A simulator process (tools/pve-sim or tools/hub-sim)."""

    def __init__(self, tool, args):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SRC, "tools", tool, tool)] + args,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("%s did not start" % tool)
        self.info = json.loads(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def call(self, method, path, body=None):
        import ssl
        import urllib.request
        base = self.info.get("url") or "https://127.0.0.1:%d" % self.info["port"]
        if "/api/" in base:
            base = base[:base.index("/api/")]
        ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")


class Notify:
    """A datagram socket in the role of systemd's notify socket."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)  # the service user sends to it
        self.msgs = []

    def wait_for(self, text, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in m for m in self.msgs):
                return True
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return any(text in m for m in self.msgs)

    def close(self):
        self.sock.close()


def unit_settings(path):
    """The [Service] assignments of a unit file (last one wins)."""
    res, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == "Service" and "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                res[k] = v
    return res


def start_as_unit(unit_path, notify, extra_env, args=()):
    """Starts the unit's ExecStart as systemd would without sandboxing:
    its User=/Group=, UMask=, Environment=, a clean environment with NOTIFY_SOCKET,
    WATCHDOG_USEC and WATCHDOG_PID, plus extra_env (test stand-ins)."""
    u = unit_settings(unit_path)
    pw = pwd.getpwnam(u["User"])
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "HOME": pw.pw_dir, "USER": pw.pw_name,
           "LOGNAME": pw.pw_name, "SHELL": pw.pw_shell,
           "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}
    # Environment=K=V: one assignment, unquoted (what the unit has).
    if "Environment" in u:
        k, v = u["Environment"].split("=", 1)
        env[k] = v
    env.update(extra_env)
    umask = int(u.get("UMask", "0022"), 8)
    argv = ["setpriv", "--reuid=" + u["User"], "--regid=" + u.get("Group", u["User"]),
            "--init-groups", "--", "sh", "-c",
            'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"]
    argv += u["ExecStart"].split() + list(args)
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: os.umask(umask), cwd="/")
    proc.log = log
    return proc


def output_of(proc):
    proc.log.seek(0)
    return proc.log.read()
