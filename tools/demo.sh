#!/bin/sh
# The demo: installs what is needed, builds, starts the PVE and hub
# simulators on free loopback ports, and runs felhom-agent against them
# end to end.  Usage: tools/demo.sh   (as root on a fresh Debian 12)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

tools/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" >/dev/null
bin=$top/build/bin

work=$(mktemp -d /tmp/felhom-demo-XXXXXX)
pve_pid=""
hub_pid=""
cleanup() {
	[ -n "$pve_pid" ] && kill "$pve_pid" 2>/dev/null || true
	[ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
wait_line() {
	i=0
	while [ ! -s "$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
	[ -s "$1" ] || { echo "demo: simulator did not start" >&2; exit 1; }
	head -n 1 "$1" > "$1.json"
}

step "starting the PVE simulator and the hub simulator"
python3 tools/pve-sim/pve-sim --port 0 --task-seconds 0.3 > "$work/pve.out" 2>"$work/pve.log" &
pve_pid=$!
python3 tools/hub-sim/hub-sim --port 0 --data "$work/hub" > "$work/hub.out" 2>"$work/hub.log" &
hub_pid=$!
wait_line "$work/pve.out"
wait_line "$work/hub.out"
pve_port=$(field "$work/pve.out.json" port)
echo "pve-sim on 127.0.0.1:$pve_port, fingerprint $(field "$work/pve.out.json" fingerprint)"
echo "hub-sim at $(field "$work/hub.out.json" url)"

cat > "$work/config.json" <<JSON
{
  "host": {"id": "pve-01", "node": "$(field "$work/pve.out.json" node)"},
  "database": "$work/state.db",
  "pve": {
    "url": "https://127.0.0.1:$pve_port/api2/json",
    "token_id": "$(field "$work/pve.out.json" token_id)",
    "token_secret": "$(field "$work/pve.out.json" token_secret)",
    "fingerprint": "$(field "$work/pve.out.json" fingerprint)"
  },
  "hub": {
    "mode": "on",
    "url": "$(field "$work/hub.out.json" url)",
    "token": "$(field "$work/hub.out.json" token)",
    "ca_file": "$(field "$work/hub.out.json" ca_file)"
  },
  "authz": {
    "operational_signers": "$work/operational_signers",
    "recovery_signers": "$work/recovery_signers"
  },
  "log": {"level": "info", "format": "text"}
}
JSON
chmod 600 "$work/config.json"
cfg="--config $work/config.json"

step "an operator key (ssh-keygen) in the operational allowed_signers file"
ssh-keygen -q -t ed25519 -N '' -C operator@demo -f "$work/operator"
printf 'operator@demo namespaces="felhom-op-v1" %s\n' "$(cut -d' ' -f1,2 "$work/operator.pub")" > "$work/operational_signers"
chmod 600 "$work/operational_signers"
cat "$work/operational_signers"

step "felhom-agent --print-config (secrets redacted)"
"$bin/felhom-agent" $cfg --print-config

step "felhom-admin db init (a new database, on purpose)"
"$bin/felhom-admin" db init --db "$work/state.db"

step "felhom-agent --selftest (read-only health report)"
"$bin/felhom-agent" $cfg --selftest

step "felhom-agent --selftest=task --guest 101 (snapshot, rollback, delete)"
"$bin/felhom-agent" $cfg --selftest=task --guest 101

step "felhom-agent --selftest=hub (one report round trip)"
"$bin/felhom-agent" $cfg --selftest=hub

hub_port=$(field "$work/hub.out.json" port)
hub_ca=$(field "$work/hub.out.json" ca_file)
sim() {	# sim pve|hub METHOD PATH [JSON]
	port=$pve_port; ca=$(field "$work/pve.out.json" ca_file)
	[ "$1" = hub ] && { port=$hub_port; ca=$hub_ca; }
	if [ $# -ge 4 ]; then
		curl -sS --cacert "$ca" -X "$2" -H 'Content-Type: application/json' \
		    --data "$4" "https://127.0.0.1:$port$3"
	else
		curl -sS --cacert "$ca" -X "$2" "https://127.0.0.1:$port$3"
	fi
	echo
}
journal() {
	sqlite3 -readonly -column -header "$work/state.db" \
	    "select at, op, vmid, kind, from_state, event, to_state from v_journal where id > ${1:-0} order by id"
}
last_journal() { sqlite3 -readonly "$work/state.db" 'select coalesce(max(id),0) from journal'; }

step "the hub publishes a desired state: 102 running with a new spec, 104 stopped, 103 absent (a destroy)"
sim hub POST /_sim/desired '{"schema":"felhom.desired/v1","host_id":"pve-01","generation":1,
 "guests":[{"vmid":102,"state":"running","spec":{"cores":2,"memory_mib":768,"tags":["demo","web"],"description":"managed by felhom"}},
           {"vmid":104,"state":"stopped"},
           {"vmid":103,"state":"absent"}],"restore_tests":[]}'

step "felhom-agent --once: report, fetch desired state, reconcile, run to quiescence"
"$bin/felhom-agent" $cfg --once
journal
echo "PVE mutating requests (pve-sim counters):"
sim pve GET /_sim/counters

step "a second --once changes nothing: the state already matches"
mark=$(last_journal)
"$bin/felhom-agent" $cfg --once
sim pve GET /_sim/counters

step "the destroy of 103 waits for an operator signature (never run by the hub alone)"
mkdir -p "$work/blobs"
"$bin/felhom-admin" --config "$work/config.json" pending --write-blob "$work/blobs"
op=$(sqlite3 -readonly "$work/state.db" "select op from v_pending where vmid = 103")

step "the operator signs the agent's own sign request and approves it offline"
ssh-keygen -q -Y sign -n felhom-op-v1 -f "$work/operator" "$work/blobs/$op.json"
"$bin/felhom-admin" --config "$work/config.json" approve "$op" --signature "$work/blobs/$op.json.sig"
"$bin/felhom-agent" $cfg --once
journal "$mark"
sim pve GET /_sim/counters

step "approving it again is refused: it is no longer pending"
rc=0
"$bin/felhom-admin" --config "$work/config.json" approve "$op" --signature "$work/blobs/$op.json.sig" || rc=$?
[ "$rc" -eq 1 ] || { echo "demo: the second approval was not refused (exit $rc)" >&2; exit 1; }

step "a signed job through the hub: snapshot of 101 (operator-signed blob)"
"$bin/felhom-admin" op new --op snapshot --host pve-01 --guest 101 --param name=before-upgrade --ttl 1h > "$work/job.json"
ssh-keygen -q -Y sign -n felhom-op-v1 -f "$work/operator" "$work/job.json"
blob_b64=$(base64 -w0 < "$work/job.json")
sig=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$work/job.json.sig")
sim hub POST /_sim/signed-ops "{\"op_id\":null,\"blob_b64\":\"$blob_b64\",\"signature\":$sig}"
mark=$(last_journal)
"$bin/felhom-agent" $cfg --once
journal "$mark"

step "the audit log (sqlite3 -readonly ... v_audit)"
sqlite3 -readonly -column -header "$work/state.db" \
    "select seq, event, decision, code, op, vmid from v_audit order by seq"

step "felhom-admin status and show"
"$bin/felhom-admin" --config "$work/config.json" status
"$bin/felhom-admin" --config "$work/config.json" show "$op"

step "demo finished"
