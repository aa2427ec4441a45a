#!/usr/bin/env python3
"""docs/install.md followed as written (R-39): its `sh` blocks, run in
order in one `sh -e` as root, install the package, create the PVE token
with pveum, write the configuration and the signer files, run the
self-test as the agent's user and enable the units.  Then the agent is
started as its installed unit says and must become ready and report to
the hub.

Stand-ins (docs/install.md "How this page is tested" lists them): pveum
and systemctl are fakes (tests/dist/fakes), tools/pve-sim plays PVE and
tools/hub-sim the hub, /etc/pve/pve-root-ca.pem is the simulator's CA,
the three site values of step 3 are replaced, and the PVE URL and the
hub's CA come from FELHOM_AGENT_* variables.

Root only, on a machine without felhom-agent and without /etc/pve (it
skips otherwise); it purges the package and removes what it made.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distutil as du  # noqa: E402

DOC = os.path.join(du.SRC, "docs", "install.md")
FAKES = os.path.join(du.SRC, "tests", "dist", "fakes")
HOST_ID = "test-host-01"


def sh_blocks(text):
    """The ```sh blocks of a markdown text, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", text, re.S | re.M)


def substitute(script, values):
    """Replaces the value of each NAME=... line named in values; each
    must occur exactly once (the doc's site-values block)."""
    for name, value in values.items():
        pat = re.compile(r"^%s=.*$" % name, re.M)
        found = pat.findall(script)
        if len(found) != 1:
            raise AssertionError("docs/install.md: expected one '%s=' line, "
                                 "found %d" % (name, len(found)))
        script = pat.sub(lambda m: "%s='%s'" % (name, value), script)
    return script


def main():
    user_existed = du.require_clean_slate()
    deb = du.package_path()
    work = tempfile.mkdtemp(prefix="felhom-install-doc-")
    os.chmod(work, 0o755)  # apt's _apt user and felhom read from here
    made_pve = False
    pve = hub = agent = notify = None
    failed = True
    try:
        # The simulators: PVE with this host's node name and a token that
        # has no privileges until pveum grants them; the hub for HOST_ID.
        node = socket.gethostname().split(".")[0]
        secret = str(uuid.uuid4())
        with open(os.path.join(work, "acl.json"), "w") as f:
            f.write("{}")
        pve = du.Sim("pve-sim", ["--node", node, "--token-id",
                                 "felhom@pve!agent", "--token-secret", secret,
                                 "--acl", os.path.join(work, "acl.json")])
        hub = du.Sim("hub-sim", ["--quiet", "--host-id", HOST_ID])
        hub_ca = os.path.join(work, "hub-ca.pem")
        shutil.copy(hub.info["ca_file"], hub_ca)
        os.chmod(hub_ca, 0o644)
        os.makedirs("/etc/pve")
        made_pve = True
        shutil.copy(pve.info["ca_file"], "/etc/pve/pve-root-ca.pem")
        shutil.copy(deb, work)
        for name in ("alice", "recovery"):
            du.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                    name, "-f", os.path.join(work, name)])

        with open(DOC) as f:
            blocks = sh_blocks(f.read())
        assert len(blocks) >= 6, "docs/install.md has %d sh blocks" % len(blocks)
        script = substitute("\n".join(blocks), {
            "HOST_ID": HOST_ID, "HUB_URL": hub.info["url"],
            "HUB_TOKEN": hub.info["token"]})
        with open(os.path.join(work, "walkthrough.sh"), "w") as f:
            f.write(script)
        env = dict(os.environ)
        env.update({
            "PATH": FAKES + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "DEBIAN_FRONTEND": "noninteractive",
            "FAKE_PVEUM_LOG": os.path.join(work, "pveum.log"),
            "FAKE_PVEUM_STATE": os.path.join(work, "pveum.json"),
            "FAKE_PVEUM_SIM_URL": "https://127.0.0.1:%d" % pve.info["port"],
            "FAKE_PVEUM_SIM_CA": pve.info["ca_file"],
            "FAKE_PVEUM_SIM_TOKEN": "felhom@pve!agent",
            "FAKE_PVEUM_TOKEN_SECRET": secret,
            "FAKE_SYSTEMCTL_LOG": os.path.join(work, "systemctl.log"),
            "FELHOM_AGENT_PVE_URL":
                "https://127.0.0.1:%d/api2/json" % pve.info["port"],
            "FELHOM_AGENT_HUB_CA_FILE": hub_ca,
        })
        r = subprocess.run(["sh", "-e", "walkthrough.sh"], cwd=work, env=env,
                           capture_output=True, text=True)
        out = r.stdout + r.stderr
        assert r.returncode == 0, "the walkthrough failed (%d):\n%s" % (
            r.returncode, out)

        # Step 2 grants exactly what the self-test checked, and it passed.
        checked = set(re.findall(r"^priv (\S+)\s+ok\b", r.stdout, re.M))
        assert checked, "no self-test privilege rows in:\n" + out
        assert not re.search(r"^priv \S+\s+FAIL", r.stdout, re.M), out
        granted = None
        with open(env["FAKE_PVEUM_LOG"]) as f:
            for line in f:
                argv = __import__("json").loads(line)
                if argv[:2] == ["role", "add"]:
                    granted = set(argv[argv.index("--privs") + 1].split(","))
        assert granted == checked, (
            "the role grants %s; the self-test checks %s" % (
                sorted(granted or []), sorted(checked)))

        # Step 6: enabled (offline) and asked to start now.
        with open(env["FAKE_SYSTEMCTL_LOG"]) as f:
            calls = f.read()
        assert re.search(r"^enable --now .*felhom-agent\.service", calls, re.M), calls
        assert os.path.islink("/etc/systemd/system/multi-user.target.wants/"
                              "felhom-agent.service")
        assert os.path.islink("/etc/systemd/system/sockets.target.wants/"
                              "felhom-privhelper.socket")

        # What `--now` starts: the agent as its unit says.
        notify = du.Notify(work)
        agent = du.start_as_unit("/lib/systemd/system/felhom-agent.service",
                                 notify, {
                                     "FELHOM_AGENT_PVE_URL": env["FELHOM_AGENT_PVE_URL"],
                                     "FELHOM_AGENT_HUB_CA_FILE": hub_ca})
        assert notify.wait_for("READY=1", 60), (
            "no READY=1; agent output:\n" + du.output_of(agent))
        end = time.monotonic() + 30
        reports = []
        while time.monotonic() < end and not reports:
            reports = hub.call("GET", "/_sim/reports") or []
            time.sleep(0.2)
        assert reports, "no report at the hub:\n" + du.output_of(agent)
        st = os.stat(os.path.join(du.STATE_DIR, "state.db"))
        import pwd
        assert pwd.getpwuid(st.st_uid).pw_name == du.USER
        assert st.st_mode & 0o777 == 0o600, oct(st.st_mode)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(5) == 0, du.output_of(agent)
        assert notify.wait_for("STOPPING=1", 1)
        failed = False
        print("walkthrough: %d sh blocks ran; %d privileges granted = checked; "
              "agent ready, reported, stopped cleanly" % (len(blocks),
                                                         len(checked)))
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        if notify is not None:
            notify.close()
        for s in (pve, hub):
            if s is not None:
                s.stop()
        du.cleanup(user_existed)
        if made_pve:
            shutil.rmtree("/etc/pve", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    left = du.leftovers(user_existed)
    if left:
        print("left behind: %s" % ", ".join(left))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
