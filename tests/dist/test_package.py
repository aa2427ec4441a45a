#!/usr/bin/env python3
"""The Debian package's life on a host (R-39): lintian finds no error;
`cmake --install` lays out exactly the package's files; install creates
the user and the state directory and enables the units without starting
anything; the installed units pass `systemd-analyze verify`; an upgrade
over the previous version keeps the state, and the new agent started as
its unit says migrates the database, keeping the pre-migration backup;
remove keeps state and configuration; a reinstall unmasks and enables
again; purge deletes state and configuration and forgets the units.

The previous version is this package relabelled (dpkg-deb) with a lower
version, and its database is the one an agent one schema older leaves:
the migrations before the newest, applied with sqlite3 as that agent
would have, holding a row that must survive.

Root only, on a machine without felhom-agent (it skips otherwise); it
purges the package and removes what it made.
"""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distutil as du  # noqa: E402

UNITDIR = "/lib/systemd/system"
WANTS = "/etc/systemd/system/%s.wants/%s"
APP_ID = 0x46484147  # DB_APPLICATION_ID, "FHAG"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def dpkg(*args):
    return du.run(["dpkg"] + list(args),
                  env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def deb_files(deb):
    """path -> mode letter and permission bits of the package's entries."""
    out = du.run(["dpkg-deb", "-c", deb]).stdout
    res = {}
    for line in out.splitlines():
        f = line.split(None, 5)
        path = f[5].split(" -> ")[0]
        path = "/" + path.lstrip("./")
        if f[0][0] != "d":
            res[path.rstrip("/")] = f[0]
    return res


def tree_files(root):
    """The same for an install tree (DESTDIR)."""
    res = {}
    for d, _dirs, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            res["/" + os.path.relpath(p, root)] = stat.filemode(st.st_mode)
    return res


def lintian(deb):
    if shutil.which("lintian") is None:
        if os.environ.get("FELHOM_REQUIRE_PACKAGE") == "1":
            raise AssertionError("lintian is not installed "
                                 "(tools/install-deps.sh installs it)")
        print("lintian: not installed, not run")
        return
    r = du.run(["lintian", "--no-tag-display-limit", deb], check=False)
    tags = [l for l in (r.stdout + r.stderr).splitlines()
            if re.match(r"^[EWIPX]: ", l)]
    errors = [l for l in tags if l.startswith("E: ")]
    check(not errors, "lintian errors:\n" + "\n".join(errors))
    for l in tags:
        print("lintian: " + l)


def same_layout(deb, workdir):
    """`cmake --install` of the build the package came from = the package."""
    build = os.environ.get("FELHOM_RELEASE_BUILD_DIR") or os.path.dirname(deb)
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        print("layout: no build directory beside the package, not compared")
        return
    dest = os.path.join(workdir, "destdir")
    du.run(["cmake", "--install", build, "--prefix", "/usr", "--strip"],
           env=dict(os.environ, DESTDIR=dest))
    want, got = deb_files(deb), tree_files(dest)
    check(want == got, "cmake --install differs from the package:\n"
          "only in the package: %s\nonly installed: %s\nmodes: %s" % (
              sorted(set(want) - set(got)), sorted(set(got) - set(want)),
              sorted((p, want[p], got[p]) for p in set(want) & set(got)
                     if want[p] != got[p])))
    print("layout: cmake --install = the package (%d files)" % len(want))


def relabel(deb, version, workdir):
    """The same package with another version (the 'previous' one)."""
    root = os.path.join(workdir, "relabel")
    du.run(["dpkg-deb", "-R", deb, root])
    ctl = os.path.join(root, "DEBIAN", "control")
    with open(ctl) as f:
        text = f.read()
    text = re.sub(r"^Version: .*$", "Version: " + version, text, flags=re.M)
    with open(ctl, "w") as f:
        f.write(text)
    out = os.path.join(workdir, "felhom-agent_%s_amd64.deb" % version)
    du.run(["dpkg-deb", "--root-owner-group", "-b", root, out])
    shutil.rmtree(root)
    return out


def deb_version(deb):
    return du.run(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()


def as_felhom(argv, stdin=None):
    return du.run(["setpriv", "--reuid=felhom", "--regid=felhom",
                   "--init-groups", "--"] + argv, input=stdin)


def sql(db, query):
    return du.run(["sqlite3", db, query]).stdout.strip()


def enabled():
    return (os.path.islink(WANTS % ("multi-user.target", "felhom-agent.service")),
            os.path.islink(WANTS % ("sockets.target", "felhom-privhelper.socket")))


def masked(unit):
    p = "/etc/systemd/system/" + unit
    return os.path.islink(p) and os.readlink(p) == "/dev/null"


def check_installed(version):
    check(du.dpkg_status("felhom-agent") == "install ok installed",
          "not installed: %s" % du.dpkg_status("felhom-agent"))
    check(deb_version_installed() == version, "installed version %s, "
          "want %s" % (deb_version_installed(), version))
    pw = pwd.getpwnam(du.USER)
    st = os.stat(du.STATE_DIR)
    check(st.st_uid == pw.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
          "%s: uid %d mode %o" % (du.STATE_DIR, st.st_uid, st.st_mode))
    check(pw.pw_shell.endswith("nologin") and pw.pw_uid < 1000,
          "felhom is not a system user without a shell: %s" % (pw,))
    ex = os.stat(os.path.join(du.CONF_DIR, "config.json.example"))
    check(stat.S_IMODE(ex.st_mode) == 0o600, "config.json.example mode %o"
          % ex.st_mode)
    check(enabled() == (True, True), "units not enabled: %s" % (enabled(),))
    for u in ("felhom-agent.service", "felhom-privhelper.socket",
              "felhom-privhelper.service"):
        check(not masked(u), u + " is masked")
    for b in ("/usr/sbin/felhom-agent", "/usr/bin/felhom-admin"):
        check(os.access(b, os.X_OK), b + " missing")


def deb_version_installed():
    return du.run(["dpkg-query", "-W", "-f=${Version}",
                   "felhom-agent"]).stdout.strip()


def verify_units():
    units = [os.path.join(UNITDIR, "felhom-agent.service"),
             os.path.join(UNITDIR, "felhom-privhelper.socket")]
    helper = os.path.join(UNITDIR, "felhom-privhelper.service")
    with open(helper) as f:
        exe = re.search(r"^ExecStart=(\S+)", f.read(), re.M).group(1)
    if os.access(exe, os.X_OK):
        units.append(helper)
    else:
        print("units: %s not in this build; felhom-privhelper.service "
              "not verified" % exe)
    r = du.run(["systemd-analyze", "verify", "--man=no"] + units, check=False)
    check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
          "systemd-analyze verify:\n" + r.stdout + r.stderr)
    print("units: systemd-analyze verify clean: %s" % ", ".join(
        os.path.basename(u) for u in units))


def old_database(schema):
    """state.db as an agent of schema-1 left it, owned by felhom."""
    migs = sorted(glob.glob(os.path.join(du.SRC, "migrations", "[0-9]*.sql")))
    check(len(migs) == schema, "%d migrations, schema %d" % (len(migs), schema))
    script = "PRAGMA journal_mode=WAL;\nPRAGMA application_id=%d;\n" % APP_ID
    for m in migs[:-1]:
        with open(m) as f:
            script += "BEGIN;\n" + f.read() + "\nCOMMIT;\n"
    script += ("PRAGMA user_version=%d;\n"
               "INSERT INTO kv(key, value) VALUES ('test.marker', "
               "'from the previous version');\n" % (schema - 1))
    db = os.path.join(du.STATE_DIR, "state.db")
    du.run(["setpriv", "--reuid=felhom", "--regid=felhom", "--init-groups",
            "--", "sh", "-c", "umask 077; exec sqlite3 " + db], input=script)
    check(sql(db, "PRAGMA user_version") == str(schema - 1), "old schema")
    return db


def configure(pve, workdir):
    """A standalone configuration (hub off) against the simulator."""
    ca = os.path.join(du.CONF_DIR, "pve-root-ca.pem")
    shutil.copy(pve.info["ca_file"], ca)
    os.chmod(ca, 0o644)
    desired = os.path.join(du.CONF_DIR, "desired.json")
    with open(desired, "w") as f:
        json.dump({"schema": "felhom.desired/v1", "host_id": "pve-01",
                   "generation": 1, "guests": []}, f)
    os.chmod(desired, 0o644)
    cfg = {"host": {"id": "pve-01", "node": pve.info["node"]},
           "pve": {"url": "https://127.0.0.1:%d/api2/json" % pve.info["port"],
                   "token_id": pve.info["token_id"],
                   "token_secret": pve.info["token_secret"], "ca_file": ca},
           "hub": {"mode": "off"}, "desired_file": desired}
    path = os.path.join(du.CONF_DIR, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    # Holds a secret: the agent's own, nobody else's (issue 10).
    pw = pwd.getpwnam(du.USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o600)


def run_agent_until_ready(workdir):
    notify = du.Notify(workdir)
    agent = du.start_as_unit(os.path.join(UNITDIR, "felhom-agent.service"),
                             notify, {})
    try:
        check(notify.wait_for("READY=1", 60),
              "no READY=1:\n" + du.output_of(agent))
        agent.send_signal(signal.SIGTERM)
        check(agent.wait(5) == 0, "exit on SIGTERM:\n" + du.output_of(agent))
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        notify.close()
    return du.output_of(agent)


def main():
    user_existed = du.require_clean_slate()
    deb = du.package_path()
    version = deb_version(deb)
    schema = len(glob.glob(os.path.join(du.SRC, "migrations", "[0-9]*.sql")))
    work = tempfile.mkdtemp(prefix="felhom-package-")
    os.chmod(work, 0o755)
    pve = None
    failed = True
    try:
        lintian(deb)
        same_layout(deb, work)
        prev = relabel(deb, version + "~prev1", work)

        # Install the previous version: user, state dir, units enabled,
        # nothing started (no systemd here; no config either).
        dpkg("-i", prev)
        check_installed(version + "~prev1")
        check(not os.path.exists(os.path.join(du.STATE_DIR, "state.db")),
              "a database before any start")
        verify_units()
        db = old_database(schema)

        # Upgrade: the state stays as it was until the agent starts.
        dpkg("-i", deb)
        check_installed(version)
        check(sql(db, "PRAGMA user_version") == str(schema - 1),
              "the package itself touched the database")
        pve = du.Sim("pve-sim", ["--task-seconds", "0.1"])
        configure(pve, work)
        out = run_agent_until_ready(work)
        check(sql(db, "PRAGMA user_version") == str(schema),
              "not migrated to %d:\n%s" % (schema, out))
        check(sql(db, "SELECT value FROM kv WHERE key='test.marker'") ==
              "from the previous version", "the old data is gone")
        bak = "%s.pre-%d.bak" % (db, schema)
        check(os.path.isfile(bak), "no pre-migration backup %s:\n%s" % (
            bak, os.listdir(du.STATE_DIR)))
        check(sql(bak, "PRAGMA user_version") == str(schema - 1),
              "the backup is not the old database")
        st = os.stat(bak)
        check(pwd.getpwuid(st.st_uid).pw_name == du.USER and
              stat.S_IMODE(st.st_mode) & 0o077 == 0,
              "backup owner/mode: %d %o" % (st.st_uid, st.st_mode))
        print("upgrade: %s -> %s, schema %d -> %d, %s kept" % (
            version + "~prev1", version, schema - 1, schema,
            os.path.basename(bak)))

        # Remove: binaries go, state and configuration stay, units masked.
        dpkg("-r", "felhom-agent")
        check(not os.path.exists("/usr/sbin/felhom-agent"), "binary left")
        for p in (db, bak, os.path.join(du.CONF_DIR, "config.json")):
            check(os.path.isfile(p), p + " removed by 'remove'")
        check(masked("felhom-agent.service"), "not masked after remove")

        # Reinstall after remove: unmasked and enabled again.
        dpkg("-i", deb)
        check_installed(version)
        dpkg("-r", "felhom-agent")

        # Purge: state and configuration gone, units forgotten.
        dpkg("-P", "felhom-agent")
        check(du.dpkg_status("felhom-agent") is None, "still known to dpkg")
        for p in (du.STATE_DIR, du.CONF_DIR):
            check(not os.path.exists(p), p + " left by purge")
        left = [p for p in glob.glob("/etc/systemd/system/**/felhom-*",
                                     recursive=True)]
        check(not left, "unit links left by purge: %s" % left)
        print("remove kept state and configuration; purge removed both")
        failed = False
    finally:
        if pve is not None:
            pve.stop()
        du.cleanup(user_existed)
        shutil.rmtree(work, ignore_errors=True)
    left = du.leftovers(user_existed)
    if left:
        print("left behind: %s" % ", ".join(left))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
