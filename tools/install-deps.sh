#!/bin/sh
# Installs the Debian packages felhom-agent builds and tests with, when
# missing.  Needs root to install; says so when not root and something is
# missing.  Usage: tools/install-deps.sh [--fuzz]
set -eu
# clang: the clang build; systemd (systemd-analyze, -sysusers, -tmpfiles)
# and lintian: the units and the Debian package.
pkgs="build-essential cmake pkg-config libsqlite3-dev libcurl4-openssl-dev
libssl-dev libjansson-dev check python3 openssl openssh-client sqlite3
curl clang systemd lintian"
if [ "${1:-}" = "--fuzz" ]; then
	pkgs="$pkgs libclang-rt-14-dev"
fi
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
