#!/bin/sh
# Install what README's two commands (scripts/demo.sh, scripts/test.sh) need on Debian 12, only
# what is missing, showing apt's progress.  CI (.ci/run) installs its own extras (clang, ...).
#   build:  cmake make gcc pkg-config libjemalloc-dev libunwind-dev libcjson-dev,
#           zlib1g-dev libzstd-dev (compressed traces), libtracefs-dev libtraceevent-dev (ptsim record)
#   tests:  libcmocka-dev, python3 (docs examples, the Python module's tests),
#           parallel (the sharded sweep test), gnuplot-nox (plots)
set -e
PKGS="cmake make gcc pkg-config python3 libcmocka-dev libjemalloc-dev libunwind-dev libcjson-dev libtracefs-dev libtraceevent-dev zlib1g-dev libzstd-dev parallel gnuplot-nox"
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ptsim: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
