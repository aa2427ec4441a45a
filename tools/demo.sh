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

step "felhom-agent --print-config (secrets redacted)"
"$bin/felhom-agent" $cfg --print-config

step "felhom-admin db migrate"
"$bin/felhom-admin" db migrate --db "$work/state.db"

step "felhom-agent --selftest (read-only health report)"
"$bin/felhom-agent" $cfg --selftest

step "felhom-agent --selftest=task --guest 101 (snapshot, rollback, delete)"
"$bin/felhom-agent" $cfg --selftest=task --guest 101

if "$bin/felhom-agent" --help | grep -q 'selftest'; then
	step "felhom-agent --selftest=hub (one report round trip)"
	"$bin/felhom-agent" $cfg --selftest=hub || true
fi

step "demo finished"
