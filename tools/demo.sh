#!/bin/bash
# The demo (README's first command): one command on a fresh Debian 12
# machine, as root.  It installs what is needed, builds the agent (default
# preset: a test build, whose FELHOM_TEST_* hooks shorten the hub interval
# and the task poll to seconds), starts pve-sim, hub-sim and the privileged
# helper with the fake root tools of tools/fakes, makes operator keys with
# ssh-keygen, and runs the real felhom-agent as a daemon through eight acts,
# each narrated with the real commands and their real output, and each
# checked: an act that does not show what it should stops the demo with a
# non-zero status naming the act.
#
# Usage: tools/demo.sh [--keep]
#   --keep   keep the demo's directory (database, logs, keys, blobs)
#
# It leaves nothing running: every process it starts is stopped by pid on
# exit, whatever the exit.
set -euo pipefail

keep=0
for a in "$@"; do
	case $a in
	--keep) keep=1 ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $a (usage: tools/demo.sh [--keep])" >&2
	   exit 64 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
t0=$SECONDS
act_no=0
act_title="setup"

# ---- narration, checks ----------------------------------------------------

if [ -t 1 ]; then B=$'\033[1m'; D=$'\033[2m'; G=$'\033[32m'; R=$'\033[31m'; N=$'\033[0m'
else B=""; D=""; G=""; R=""; N=""; fi

act() {	# act N TITLE WHY
	act_no=$1 act_title=$2
	case $1 in
	[0-9]*) printf '\n%s== Act %s: %s%s\n' "$B" "$1" "$2" "$N" ;;
	*) printf '\n%s== %s%s\n' "$B" "${2^}" "$N" ;;
	esac
	printf '%swhy: %s%s\n' "$D" "$3" "$N"
}
say() { printf '%s\n' "$*"; }
ok() { printf '%s  ok: %s%s\n' "$G" "$*" "$N"; }
fail() {
	printf '\n%sdemo: act %s (%s) FAILED: %s%s\n' "$R" "$act_no" "$act_title" "$*" "$N" >&2
	if [ -n "${work:-}" ] && [ -s "$work/agent.log" ]; then
		echo "demo: the agent's last log lines ($work/agent.log):" >&2
		tail -n 20 "$work/agent.log" >&2
	fi
	exit 1
}
# Shown as typed: paths relative to the demo directory, binaries on PATH.
echo_cmd() {	# one argument: as given; several: quoted where needed
	local a s=""
	if [ $# -eq 1 ]; then printf '%s$ %s%s\n' "$B" "$1" "$N"; return; fi
	for a in "$@"; do
		case $a in
		*[[:space:]\'\(\)\*\>\<]*) s="$s \"$a\"" ;;
		*) s="$s $a" ;;
		esac
	done
	printf '%s$%s%s\n' "$B" "$s" "$N"
}
# run CMD...: echo it, run it, show its output; it must succeed.
run() {
	local rc=0
	echo_cmd "$@"
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || fail "'$*' exited $rc"
}
# run_rc WANT CMD...: echo it, run it, show its output and status; the
# status must be WANT.  The output is kept in $out.
run_rc() {
	local want=$1 rc=0
	shift
	echo_cmd "$@"
	out=$("$@" 2>&1) || rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
	printf '%s(exit status %d)%s\n' "$D" "$rc" "$N"
	[ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
}
# wait_for SECONDS WHAT CMD...: until CMD succeeds; the agent must live.
wait_for() {
	local secs=$1 what=$2 limit=$((SECONDS + $1))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ -n "${agent_pid:-}" ] && ! kill -0 "$agent_pid" 2>/dev/null; then
			fail "the agent exited while waiting for: $what"
		fi
		[ "$SECONDS" -lt "$limit" ] || fail "not seen within $secs s: $what"
		sleep 0.2
	done
}

# ---- the processes it starts, and their end -------------------------------

pids=()
agent_pid=""
work=""
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in ${agent_pid:+"$agent_pid"} "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in ${agent_pid:+"$agent_pid"} "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$work" ]; then
		if [ "$keep" -eq 1 ]; then
			echo "demo: kept $work"
		else
			rm -rf "$work"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- install, build --------------------------------------------------------

printf '%s== Setup: dependencies and the build%s\n' "$B" "$N"
"$top/tools/install-deps.sh"
cd "$top"
if [ ! -f build/CMakeCache.txt ]; then
	cmake --preset default >/dev/null
fi
# Only what the demo runs; an up-to-date build dir costs a second.
cmake --build --preset default -j "$(nproc 2>/dev/null || echo 2)" \
    --target felhom-agent felhom-admin felhom-privhelper >"${TMPDIR:-/tmp}/felhom-demo-build.$$.log" 2>&1 ||
    { tail -n 40 "${TMPDIR:-/tmp}/felhom-demo-build.$$.log" >&2; rm -f "${TMPDIR:-/tmp}/felhom-demo-build.$$.log"; fail "the build failed"; }
rm -f "${TMPDIR:-/tmp}/felhom-demo-build.$$.log"
say "built build/bin/felhom-agent, felhom-admin, felhom-privhelper ($((SECONDS - t0)) s so far)"
export PATH="$top/build/bin:$PATH"

work=$(mktemp -d /tmp/felhom-demo-XXXXXX)
cd "$work"

# ---- JSON and the simulators' control endpoints ---------------------------

# js EXPR: evaluate a Python expression over the JSON document `d` on stdin.
js() {
	python3 -c 'import json,sys
d=json.load(sys.stdin)
r=eval(sys.argv[1])
print(r if isinstance(r,str) else json.dumps(r, sort_keys=True))' "$1"
}
pretty() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=1, sort_keys=True))'; }
first_line() {	# first_line FILE PID LOG: a process's first stdout line
	local n=0
	until [ -s "$1" ] && [ "$(wc -l <"$1")" -ge 1 ]; do
		kill -0 "$2" 2>/dev/null || fail "$1: the process exited: $(tail -n 3 "$3")"
		n=$((n + 1))
		[ "$n" -lt 200 ] || fail "$1: no first line within 20 s"
		sleep 0.1
	done
}
pvectl() {	# pvectl METHOD PATH [BODY]
	curl -sS --fail-with-body --cacert "$pve_ca" -X "$1" ${3:+-H 'Content-Type: application/json' --data "$3"} \
	    "https://127.0.0.1:$pve_port$2"
}
hubctl() {
	curl -sS --fail-with-body --cacert "$hub_ca" -X "$1" ${3:+-H 'Content-Type: application/json' --data "$3"} \
	    "https://127.0.0.1:$hub_port$2"
}
counters() { pvectl GET /_sim/counters; }
count() { counters | js "d.get('$1', 0)"; }
guest_exists() { pvectl GET /_sim/world | js "any(g.get('vmid')==$1 or str(g.get('vmid'))=='$1' for g in (d['guests'].values() if isinstance(d['guests'],dict) else d['guests']))"; }
q() { sqlite3 -readonly -cmd '.timeout 5000' "$db" "$@"; }
is_true() { [ "$("$@")" = "True" ] || [ "$("$@")" = "1" ]; }
op_state() { q "select state from ops where uid = '$1'"; }
op_is() { [ "$(op_state "$1")" = "$2" ]; }
sql_ge() { [ "$(q "$2")" -ge "$1" ]; }	# sql_ge N SQL: a count, at least N
count_is() { [ "$(count "$1")" = "$2" ]; }
# Nothing can move without outside input (the crash matrix's test).
quiet() {
	[ "$(q "select count(*) from ops where state not in ('succeeded','failed',
	    'rejected','expired','superseded','cancelled','rolled_back',
	    'pending_signature')")" = 0 ] &&
	[ "$(q "select count(*) from signed_inbox where state = 'new'")" = 0 ]
}
show_counters() {	# show_counters KEY...: pve-sim's counters of these keys
	echo_cmd "curl --cacert pve-ca.pem 'https://127.0.0.1:$pve_port/_sim/counters?detail=1'   # keys: $*"
	pvectl GET '/_sim/counters?detail=1' | js "{k: d.get(k, 'never asked') for k in '$*'.split()}"
}
reports() { hubctl GET /_sim/reports | js 'len(d)'; }
# Two reports after now, with nothing in flight: the agent has seen
# everything the hub had.
settle() {
	local n
	n=$(reports)
	wait_for "${1:-60}" "two more reports to the hub" test_reports_gt $((n + 1))
	wait_for "${1:-60}" "every operation finished or waiting for a signature" quiet
}
test_reports_gt() { [ "$(reports)" -ge "$1" ]; }
post_signed() {	# post_signed BLOBFILE SIGFILE|"" [OP_ID]: queue an entry at the hub
	python3 - "$@" >"$work/entry.json" <<'PY'
import base64, json, sys
blob = open(sys.argv[1], "rb").read()
sig = open(sys.argv[2]).read() if sys.argv[2] else None
op = sys.argv[3] if len(sys.argv) > 3 else None
print(json.dumps({"op_id": op, "blob_b64": base64.b64encode(blob).decode(), "signature": sig}))
PY
	echo_cmd "curl --cacert hub-ca.pem -X POST https://127.0.0.1:$hub_port/_sim/signed-ops --data @entry.json   # the hub queues it"
	hubctl POST /_sim/signed-ops "@$work/entry.json" | js '"queued; the hub now holds %d entr%s" % (d["queue_length"], "y" if d["queue_length"]==1 else "ies")'
}

# ---- the simulators, the helper, keys, configuration ----------------------

printf '\n%s== Setup: simulators, the privileged helper, operator keys%s\n' "$B" "$N"
say "demo directory: $work"
python3 "$top/tools/pve-sim/pve-sim" --port 0 --task-seconds 0.2 >pve.json 2>pve.log &
pids+=("$!"); first_line pve.json "$!" pve.log
python3 "$top/tools/hub-sim/hub-sim" --port 0 --data "$work/hub" --quiet >hub.json 2>hub.log &
pids+=("$!"); first_line hub.json "$!" hub.log
pve_port=$(js 'd["port"]' <pve.json); pve_ca=$(js 'd["ca_file"]' <pve.json)
hub_port=$(js 'd["port"]' <hub.json); hub_ca=$(js 'd["ca_file"]' <hub.json)
node=$(js 'd["node"]' <pve.json)
cp "$pve_ca" pve-ca.pem; cp "$hub_ca" hub-ca.pem
say "pve-sim (the Proxmox API) on 127.0.0.1:$pve_port, node $node, fingerprint $(js 'd["fingerprint"]' <pve.json | cut -c1-23)…"
say "hub-sim (the felhom hub) at $(js 'd["url"]' <hub.json)"
# A one-second hub interval (the agent clamps it to FELHOM_TEST_MIN_INTERVAL_MS).
hubctl POST /_sim/envelope '{"poll_interval_seconds": 1}' >/dev/null

# The fake root tools, started by the helper as it would start pct, pvesm,
# smartctl and sensors (tools/fakes/README.md), and a fake /sys with two disks.
mkdir -p fakes sys/block/sda sys/block/nvme0n1 sys/bus/usb/devices roots
for t in pct pvesm smartctl sensors; do ln -s "$top/tools/fakes/$t" "fakes/$t"; done
cat >fakes/fakes.json <<JSON
{"record": "$work/fakes/calls.jsonl",
 "sim": {"base": "https://127.0.0.1:$pve_port", "ca_file": "$pve_ca", "node": "$node"},
 "smartctl": {"/dev/sda": "$top/tests/fixtures/pve/smartctl/ata-wd-red-wd20efrx.smartctl7.3.json",
              "/dev/nvme0n1": "$top/tests/fixtures/pve/smartctl/nvme-samsung-980pro.pve-kernel.smartctl7.3.json"},
 "sensors": "$top/tests/fixtures/pve/sensors/sensors-j.amd-k10temp-nvme.pve-host.json"}
JSON

ssh-keygen -q -t ed25519 -N '' -C operator@demo -f operator
ssh-keygen -q -t ed25519 -N '' -C recovery@demo -f recovery
ssh-keygen -q -t ed25519 -N '' -C stranger@elsewhere -f stranger
printf 'operator@demo namespaces="felhom-op-v1" %s\n' "$(cut -d' ' -f1,2 operator.pub)" >operational_signers
printf 'recovery@demo namespaces="felhom-op-v1" %s\n' "$(cut -d' ' -f1,2 recovery.pub)" >recovery_signers
chmod 600 operational_signers recovery_signers
echo_cmd "ssh-keygen -t ed25519 -f operator; cat operational_signers"
cat operational_signers
say "(a recovery key too, and a 'stranger' key that is in no allowed_signers file)"

db=$work/state.db
cfg=$work/config.json
cat >"$cfg" <<JSON
{
  "host": {"id": "pve-01", "node": "$node"},
  "database": "$db",
  "pve": {"url": "https://127.0.0.1:$pve_port/api2/json",
          "token_id": "$(js 'd["token_id"]' <pve.json)",
          "token_secret": "$(js 'd["token_secret"]' <pve.json)",
          "fingerprint": "$(js 'd["fingerprint"]' <pve.json)",
          "timeout_s": 10},
  "hub": {"mode": "on", "url": "$(js 'd["url"]' <hub.json)",
          "token": "$(js 'd["token"]' <hub.json)", "ca_file": "$hub_ca"},
  "authz": {"operational_signers": "$work/operational_signers",
            "recovery_signers": "$work/recovery_signers",
            "sign_request_ttl_s": 3600},
  "priv": {"mode": "on", "socket": "$work/priv.sock", "agent_user": "$(id -u)",
           "bind_roots": "$work/roots", "pct": "$work/fakes/pct",
           "pvesm": "$work/fakes/pvesm", "smartctl": "$work/fakes/smartctl",
           "sensors": "$work/fakes/sensors", "sysfs_root": "$work/sys",
           "vmid_min": 100, "vmid_max": 999999999},
  "restore_tests": {"hold_s": 2},
  "log": {"level": "info", "format": "text"}
}
JSON
chmod 600 "$cfg"
run felhom-agent --config config.json --print-config

felhom-privhelper --config "$cfg" --listen >helper.json 2>helper.log &
pids+=("$!"); first_line helper.json "$!" helper.log
say "felhom-privhelper listening on priv.sock (pid $(js 'd["pid"]' <helper.json)), running the fakes"

run felhom-admin --db state.db db init

# The daemon, as systemd would run it; the FELHOM_TEST_* variables (test
# builds only) shorten its hub interval, task poll and backoffs to seconds.
start_agent() {
	echo_cmd "felhom-agent --config config.json &      # the daemon; its log: agent.log"
	FELHOM_TEST_MIN_INTERVAL_MS=1000 FELHOM_TEST_POLL_MS=100 \
	FELHOM_TEST_CONVERGE_BASE_S=1 \
	    felhom-agent --config "$cfg" >>"$work/agent.log" 2>&1 &
	agent_pid=$!
	say "agent pid $agent_pid"
}

# ===========================================================================
act 1 "the first report reaches the hub" \
    "the hub sees the host and its guests only through the agent's reports"
start_agent
wait_for 30 "a report at hub-sim" test_reports_gt 1
echo_cmd "curl --cacert hub-ca.pem https://127.0.0.1:$hub_port/_sim/reports   # hub-sim's control endpoint (summarized)"
hubctl GET /_sim/reports >reports.json
python3 - reports.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
print("schema %s, host %s, seq %s, agent %s, PVE %s on node %s, signers %s" % (r["schema"], r["host_id"],
      r["seq"], r["agent_version"], r["host"]["pve_version"], r["host"]["node"], r["agent"]["signers"]))
for g in r["guests"]:
    print("  CT %-4s %-12s %s" % (g["vmid"], g.get("name"), g.get("status")))
for dk in (r.get("host") or {}).get("disks", []):
    print("  disk %-13s %s smart_passed=%s (through the helper's smartctl)" % (dk["device"], dk["model"], dk["smart_passed"]))
PY
n=$(js 'len(d[0]["guests"])' <reports.json)
[ "$n" -ge 6 ] || fail "the first report lists $n guests, expected the sim's 6"
[ "$(js 'len(d[0]["host"]["disks"])' <reports.json)" -eq 2 ] ||
    fail "the first report does not carry the two disks read through the helper"
ok "the hub holds the first report: $n guests, 2 disks read through the helper"

# ===========================================================================
act 2 "a desired state converges" \
    "the hub says what should run; only guests it lists are managed, and nothing destructive runs on its word"
cat >desired1.json <<'JSON'
{"schema": "felhom.desired/v1", "host_id": "pve-01", "generation": 1,
 "guests": [
  {"vmid": 101, "state": "running", "spec": {"cores": 2, "memory_mib": 768, "tags": ["demo", "web"]}},
  {"vmid": 102, "state": "stopped"},
  {"vmid": 105, "state": "running"},
  {"vmid": 103, "state": "absent"}],
 "restore_tests": []}
JSON
cat desired1.json
echo_cmd "curl --cacert hub-ca.pem -X POST https://127.0.0.1:$hub_port/_sim/desired --data @desired1.json"
hubctl POST /_sim/desired @desired1.json; echo
settle 60
wait_for 30 "the destroy of 103 waiting for a signature" \
    sql_ge 1 "select count(*) from ops where vmid = 103 and kind = 'destroy' and state = 'pending_signature'"
echo_cmd "curl --cacert pve-ca.pem https://127.0.0.1:$pve_port/_sim/counters   # every mutating request PVE got"
counters | pretty
say "guest by guest (desired state, the agent's operations, what PVE was asked):"
counters >counters.json
python3 - "$db" desired1.json counters.json <<'PY'
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
want = {g["vmid"]: g for g in json.load(open(sys.argv[2]))["guests"]}
cnt = json.load(open(sys.argv[3]))
for v in range(101, 107):
    ops = db.execute("select kind, state from ops where vmid = ?", (v,)).fetchall()
    reqs = ", ".join("%s x%d" % (k.split(":")[1], n) for k, n in sorted(cnt.items()) if k.split(":")[0] == str(v))
    g = want.get(v)
    d = "not listed" if g is None else g["state"] + (" + spec" if "spec" in g else "")
    if g is None:
        why = "skipped: absent from the list, so never touched (absence never means destroy)"
    elif any(s == "pending_signature" for _, s in ops):
        why = "parked: a destroy is destructive, it waits for an operator's signature"
    elif not ops:
        why = "already as desired: nothing to do"
    else:
        why = "changed: " + ", ".join("%s %s" % o for o in ops)
    print("  CT %d  %-18s PVE: %-18s %s" % (v, d, reqs or "-", why))
PY
[ "$(count 101:config)" = 1 ] || fail "101's config was not set exactly once"
[ "$(count 102:shutdown)" = 1 ] || fail "102 was not shut down exactly once"
[ "$(count 105:start)" = 1 ] || fail "105 was not started exactly once"
bad=$(counters | js '",".join(k for k in d if k.split(":")[0] in ("103","104","106"))')
[ -z "$bad" ] || fail "PVE was asked to change a guest it should not have: $bad"
pvectl GET /_sim/world >world.json
[ "$(js 'd["guests"]["101"]["config"]["cores"]' <world.json 2>/dev/null || js '[g for g in d["guests"] if g["vmid"]==101][0]["config"]["cores"]' <world.json)" = 2 ] ||
    fail "101 does not have 2 cores"
ok "101 reconfigured, 102 shut down, 105 started (one request each); 104 and 106 untouched; 103's destroy parked"

# ===========================================================================
act 3 "an unsigned destroy, parked, signed by the operator, run once" \
    "the hub alone can never destroy data: an operator signs the agent's own sign request with ssh-keygen"
mkdir -p blobs
run felhom-admin --config config.json pending --write-blob blobs
op=$(q "select op from v_pending where vmid = 103")
{ [ -n "$op" ] && [ -s "blobs/$op.json" ]; } || fail "no pending destroy of 103 and its sign request"
run ssh-keygen -q -Y sign -n felhom-op-v1 -f operator "blobs/$op.json"
run felhom-admin --config config.json approve "$op" --signature "blobs/$op.json.sig"
wait_for 60 "the destroy of 103 succeeding" op_is "$op" succeeded
settle 30
run felhom-admin --config config.json journal --op "$op"
[ "$(count 103:destroy)" = 1 ] || fail "103 was destroyed $(count 103:destroy) times, expected once"
is_true guest_exists 103 && fail "103 still exists in PVE"
show_counters 103:destroy
ok "103 destroyed exactly once (one DELETE), after the operator's signature"

# ===========================================================================
act 4 "a wrong signature and a replay are rejected" \
    "a signature counts only from a trusted key, over these exact bytes, once"
run_rc 1 felhom-admin --config config.json approve "$op" --signature "blobs/$op.json.sig"
say "(approving the same op again: it is no longer pending, nothing is verified or written)"
echo_cmd "felhom-admin op new --op snapshot --host pve-01 --guest 101 --param name=demo --ttl 1h > job.json"
felhom-admin op new --op snapshot --host pve-01 --guest 101 --param name=demo --ttl 1h >job.json
cat job.json; echo
run ssh-keygen -q -Y sign -n felhom-op-v1 -f stranger -O hashalg=sha512 job.json
mv job.json.sig job.stranger.sig
run_rc 1 felhom-admin --config config.json op check --signature job.stranger.sig --blob job.json
grep -q unknown_signer <<<"$out" || fail "op check did not say unknown_signer"
mark=$(q "select coalesce(max(seq),0) from audit")
say "the same wrong signature, delivered by the hub as a signed job:"
post_signed job.json job.stranger.sig
wait_for 30 "the agent rejecting the stranger's signature" \
    sql_ge 1 "select count(*) from audit where seq > $mark and decision = 'rejected' and code = 'unknown_signer'"
run sqlite3 -readonly -column -header state.db "select seq, event, decision, code, vmid, actor from v_audit where seq > $mark"
[ "$(count 101:snapshot)" = 0 ] || fail "the stranger's snapshot ran"
say "now the operator signs it and the hub delivers it: it runs once"
run ssh-keygen -q -Y sign -n felhom-op-v1 -f operator job.json
post_signed job.json job.json.sig
wait_for 30 "the signed snapshot of 101" count_is 101:snapshot 1
settle 30
mark=$(q "select coalesce(max(seq),0) from audit")
say "the hub (or anyone who saw it) sends the very same signed job again:"
post_signed job.json job.json.sig
wait_for 30 "the agent rejecting the replay" \
    sql_ge 1 "select count(*) from audit where seq > $mark and decision = 'rejected' and code in ('replay','replay_floor')"
settle 30
run sqlite3 -readonly -column -header state.db "select seq, event, decision, code, vmid, actor from v_audit where seq > $mark"
run_rc 1 felhom-admin --config config.json op check --signature job.json.sig --blob job.json
grep -q replay <<<"$out" || fail "op check did not say replay"
[ "$(count 101:snapshot)" = 1 ] || fail "the replayed snapshot ran again ($(count 101:snapshot) snapshots)"
show_counters 101:snapshot
ok "unknown key rejected (exit 1, unknown_signer), replay rejected (exit 1, replay); the snapshot ran once"

# ===========================================================================
act 5 "kill -9 in the middle of a restore; the restart finishes it" \
    "every step is journaled before and after PVE is asked, so a crash neither loses nor repeats it"
vol=$(pvectl GET /_sim/world | js '[v["volid"] for v in d["volumes"] if v.get("content")=="backup" and v.get("vmid")==104][0]')
echo_cmd "felhom-admin op new --op restore --host pve-01 --guest 104 --params-json '{\"archive\":\"$vol\",\"storage\":\"local-lvm\"}' --ttl 1h > restore.json"
felhom-admin op new --op restore --host pve-01 --guest 104 \
    --params-json "{\"archive\":\"$vol\",\"storage\":\"local-lvm\"}" --ttl 1h >restore.json
run ssh-keygen -q -Y sign -n felhom-op-v1 -f operator restore.json
say "pve-sim: the next restore task of 104 runs until released (a slow restore)"
echo_cmd "curl --cacert pve-ca.pem -X POST https://127.0.0.1:$pve_port/_sim/task-fault --data '{\"vmid\":104,\"kind\":\"restore\",\"hang\":true}'"
pvectl POST /_sim/task-fault '{"vmid": 104, "kind": "restore", "hang": true}'; echo
post_signed restore.json restore.json.sig
rop_in_flight() {
	[ "$(q "select count(*) from ops where vmid = 104 and kind = 'restore' and state = 'running' and upid like '%vzrestore%'")" = 1 ]
}
wait_for 60 "the restore of 104 submitted to PVE" rop_in_flight
rop=$(q "select uid from ops where vmid = 104 and kind = 'restore'")
say "the restore task runs in PVE; the agent's journal says so:"
run sqlite3 -readonly -column -header state.db "select id, op, kind, from_state, event, to_state, step from v_journal where op = '$rop'"
jmark=$(q "select max(id) from journal")
run kill -9 "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=""
run sqlite3 -readonly -line state.db "select uid, state, step, upid from ops where uid = '$rop'"
[ "$(count 104:restore)" = 1 ] || fail "expected one restore request before the crash"
say "the agent is dead; the restore task is still running in PVE; start the agent again:"
start_agent
recovered() { [ "$(grep -c 'recovery: ' agent.log)" -ge 2 ]; }
wait_for 30 "the restarted agent's recovery" recovered
say "the restarted agent polls the same task (same UPID; no second restore request: 104:restore = $(count 104:restore))"
say "pve-sim: the slow restore task finishes now"
echo_cmd "curl --cacert pve-ca.pem -X POST https://127.0.0.1:$pve_port/_sim/release --data '{\"vmid\":104}'"
pvectl POST /_sim/release '{"vmid": 104}'; echo
wait_for 60 "the restore of 104 succeeding after the restart" op_is "$rop" succeeded
settle 30
say "what the restarted agent's recovery found (agent.log):"
grep 'recovery: ' agent.log | tail -n 1
grep 'recovery: ' agent.log | tail -n 1 | grep -q 'recovery: 1 op(s) not terminal' ||
    fail "the restarted agent's recovery did not take up the restore"
run sqlite3 -readonly -column -header state.db "select id, op, from_state, event, to_state, step, substr(detail, 1, 40) as detail from v_journal where op = '$rop' and id > $jmark"
show_counters 104:vzdump 104:restore
[ "$(count 104:restore)" = 1 ] || fail "104 was restored $(count 104:restore) times, expected once"
ok "the restart found the task PVE was running, waited for it and finished the op: one restore"

# ===========================================================================
act 6 "a restore test passes" \
    "a backup is only as good as a restore of it: the agent restores it into a scratch guest, runs it, removes it"
python3 - desired1.json >desired2.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["generation"] = 2
d["restore_tests"] = [{"vmid": 101, "every_hours": 24, "scratch_vmids": [9000, 9010], "storage": "local-lvm"}]
print(json.dumps(d))
PY
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["restore_tests"]))' desired2.json
echo_cmd "curl --cacert hub-ca.pem -X POST https://127.0.0.1:$hub_port/_sim/desired --data @desired2.json   # restore_tests added; restore_tests.hold_s is 2 in config.json"
hubctl POST /_sim/desired @desired2.json; echo
rtest_done() { [ -n "$(q "select result from restore_test_runs where vmid = 101 and phase = 'done'")" ]; }
wait_for 120 "the restore test of 101 finishing" rtest_done
settle 30
run sqlite3 -readonly -line state.db "select vmid, scratch_vmid, backup_volid, result, detail from restore_test_runs"
[ "$(q "select result from restore_test_runs where vmid = 101")" = passed ] || fail "the restore test did not pass"
for k in restore config start stop destroy; do
	[ "$(count "9000:$k")" = 1 ] || fail "scratch 9000: $k sent $(count "9000:$k") times, expected once"
done
is_true guest_exists 9000 && fail "the scratch guest 9000 was left behind"
say "PVE requests for the scratch guest: $(counters | js '", ".join("%s x%d" % (k, n) for k, n in sorted(d.items()) if k.startswith("9000:"))')"
ok "restore test passed: restored, isolated, started, held 2 s, stopped, destroyed — the scratch guest is gone"

# ===========================================================================
act 7 "the self-tests" \
    "before trusting it with a host: is the token enough, does a reversible change work, does the hub answer"
run felhom-agent --config config.json --selftest
counters >before.json
run felhom-agent --config config.json --selftest=task
counters >after.json
python3 - before.json after.json >touched.txt <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(" ".join(sorted("%s+%d" % (k, b[k] - a.get(k, 0)) for k in b if b[k] != a.get(k, 0))))
PY
say "PVE requests made by the task self-test: $(cat touched.txt)"
python3 - touched.txt <<'PY' || fail "the task self-test touched a guest other than its scratch guest: $(cat touched.txt)"
import sys
t = open(sys.argv[1]).read().split()
vm = {k.split(":")[0] for k in t}
sys.exit(0 if t and all(999900 <= int(v) <= 999999 for v in vm) else 1)
PY
run felhom-agent --config config.json --selftest=hub
ok "read, task (only its scratch guest $(cut -d: -f1 touched.txt | sort -u | head -n 1)) and hub self-tests passed"

# ===========================================================================
act 8 "the journal and the audit log, read with sqlite3 -readonly" \
    "everything the agent did and decided is in one SQLite file an operator can read without the agent"
run sqlite3 -readonly -column -header state.db \
    "select o.uid as op, o.vmid, o.kind, o.source, o.state, (select count(*) from v_journal j where j.op = o.uid) as transitions from v_ops o order by o.id"
run sqlite3 -readonly -column -header state.db \
    "select * from (select id, at, op, vmid, kind, from_state, event, to_state, step from v_journal order by id desc limit 8) order by id"
run sqlite3 -readonly -column -header state.db \
    "select seq, at, event, decision, code, vmid, actor from v_audit order by seq"
nj=$(q "select count(*) from journal"); na=$(q "select count(*) from audit")
{ [ "$nj" -gt 0 ] && [ "$na" -gt 0 ]; } || fail "empty journal or audit"
[ "$(q "select count(*) from audit where code = 'accepted'")" -ge 3 ] ||
    fail "the audit log lacks the three accepted signatures (103, 101, 104)"
[ "$(q "select count(*) from audit where decision = 'rejected'")" -ge 2 ] ||
    fail "the audit log lacks the two rejected signatures"
ok "journal: $nj transitions; audit: $na events"

# ===========================================================================
act end "the end" "stop the daemon as systemd would (SIGTERM) and sum up"
run_rc 0 felhom-admin --config config.json status
kill -TERM "$agent_pid"
rc=0; wait "$agent_pid" || rc=$?
agent_pid=""
[ "$rc" -eq 0 ] || fail "the agent exited $rc on SIGTERM, expected 0"
final=$(counters)
printf '\n%s== Summary%s\n' "$B" "$N"
say "reports the hub received:        $(reports)"
say "operations by final state:       $(q "select group_concat(state || ' ' || n, ', ') from (select state, count(*) n from ops group by state)")"
say "PVE mutating requests (pve-sim): $(js 'sum(d.values())' <<<"$final") — $(js '", ".join("%s x%d" % (k, n) for k, n in sorted(d.items()))' <<<"$final")"
say "destroy of 103 (signed):         $(js 'd.get("103:destroy",0)' <<<"$final") DELETE"
say "restore of 104 across kill -9:   $(js 'd.get("104:restore",0)' <<<"$final") restore"
say "signatures rejected:             $(q "select group_concat(code || ' ' || n, ', ') from (select code, count(*) n from audit where decision = 'rejected' group by code)")"
say "restore tests:                   $(q "select group_concat(vmid || ' ' || result, ', ') from restore_test_runs")"
say "journal rows / audit rows:       $nj / $na"
say "agent: SIGTERM, exit status 0; the helper and the simulators are stopped next"
say "wall time:                       $((SECONDS - t0)) s"
{ [ "$(js 'd.get("103:destroy",0)' <<<"$final")" = 1 ] && [ "$(js 'd.get("104:restore",0)' <<<"$final")" = 1 ]; } ||
    fail "the final counters are not exactly once"
printf '%sdemo: every act showed what it should.%s\n' "$G" "$N"
