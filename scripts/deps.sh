#!/bin/sh
# Install what ptsim needs to build and test on Debian 12 (only what is missing).
set -e
PKGS="cmake make gcc clang pkg-config python3 libcmocka-dev libjemalloc-dev libunwind-dev libcjson-dev"
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ptsim: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
