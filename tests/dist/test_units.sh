#!/bin/sh
# The systemd units, rendered for this build tree: systemd-analyze
# verify finds nothing; the agent's exposure is at most 2.0 and both
# figures are the ones docs/install.md records; the unit holds the
# settings the service contract names; the helper's socket is where the
# agent looks for it, owned by its user, 0600.
# Usage: test_units.sh UNITDIR BINDIR INSTALL_MD
set -eu
dir=$1 bindir=$2 doc=$3

fail() { echo "FAILED: $*" >&2; exit 1; }
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIPPED: systemd-analyze is not installed" >&2
	exit 77
fi

units="$dir/felhom-agent.service $dir/felhom-privhelper.socket"
if [ -x "$bindir/felhom-privhelper" ]; then
	units="$units $dir/felhom-privhelper.service"
else
	echo "felhom-privhelper is not built: its service unit is not verified"
fi
# shellcheck disable=SC2086
out=$(systemd-analyze verify --man=no $units 2>&1) ||
    fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "verify: clean"

for u in felhom-agent.service felhom-privhelper.service; do
	fig=$(systemd-analyze security --offline=true "$dir/$u" 2>/dev/null |
	    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
	[ -n "$fig" ] || fail "no exposure figure for $u"
	grep -q "^| \`$u\` | $fig " "$doc" ||
	    fail "$u: exposure $fig, docs/install.md records another figure"
	echo "security: $u exposure $fig (as docs/install.md says)"
done
systemd-analyze security --offline=true --threshold=20 \
    "$dir/felhom-agent.service" >/dev/null 2>&1 ||
    fail "felhom-agent.service: exposure above 2.0"

svc=$dir/felhom-agent.service
for line in Type=notify NotifyAccess=main Restart=on-failure User=felhom \
    StateDirectory=felhom-agent StateDirectoryMode=0700 \
    ConfigurationDirectory=felhom-agent UMask=0077 ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
    CapabilityBoundingSet= "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
    SystemCallFilter=@system-service MemoryDenyWriteExecute=yes \
    LockPersonality=yes "ExecReload=/bin/kill -HUP \$MAINPID" \
    Environment=GLIBC_TUNABLES=glibc.malloc.tcache_count=0; do
	grep -qxF "$line" "$svc" || fail "felhom-agent.service lacks '$line'"
done
grep -q '^WatchdogSec=[1-9]' "$svc" || fail "felhom-agent.service: no WatchdogSec"

# The socket is the agent's default priv.socket.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s' '{"host":{"id":"h"},"pve":{"token_id":"a@pve!t","token_secret":"s-1234","insecure":true},"hub":{"mode":"off"},"desired_file":"/d.json"}' \
    > "$tmp/c.json"
chmod 0600 "$tmp/c.json"
sock=$("$bindir/felhom-agent" --config "$tmp/c.json" --print-config |
    sed -n 's/.*"socket": "\([^"]*\)".*/\1/p')
[ -n "$sock" ] || fail "no priv.socket in --print-config"
sk=$dir/felhom-privhelper.socket
for line in "ListenStream=$sock" SocketUser=felhom SocketMode=0600 Accept=no; do
	grep -qxF "$line" "$sk" || fail "felhom-privhelper.socket lacks '$line'"
done
echo "units: the service contract holds; the helper listens on $sock"
