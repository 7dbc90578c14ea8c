#!/bin/sh
# Build ptsim, install it into a staging prefix, check the installed package,
# then build this example against it (find_package, and pkg-config) and run it.
#
#   docs/example/run.sh [WORKDIR]
#
# WORKDIR (default: a fresh temporary directory, removed afterwards) holds the
# ptsim build, the staging prefix and the example builds.  Extra ptsim CMake
# options can be passed in PTSIM_CMAKE_ARGS (e.g. "-DCMAKE_BUILD_TYPE=Debug").
# Exit status: 0 if everything built and the example's tests passed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
if [ $# -ge 1 ]; then
	work=$1
	mkdir -p "$work"
	work=$(cd "$work" && pwd)
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/ptsim-example.XXXXXX")
	trap 'rm -rf "$work"' EXIT
fi
prefix=$work/prefix
jobs=$(nproc 2>/dev/null || echo 2)

say() { printf '\n== %s\n' "$*"; }

say "build ptsim ($src)"
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/ptsim-build" -DCMAKE_BUILD_TYPE=Release \
	-DPTSIM_BUILD_TESTS=OFF -DPTSIM_BUILD_BENCH=OFF ${PTSIM_CMAKE_ARGS:-} >/dev/null
cmake --build "$work/ptsim-build" -j "$jobs" >/dev/null

say "install into the staging prefix $prefix"
rm -rf "$prefix"
cmake --install "$work/ptsim-build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libptsim.so' | head -n 1)")
for f in include/ptsim/ptsim.h include/ptsim/version.h bin/ptsim share/man/man1/ptsim.1; do
	test -e "$prefix/$f" || { echo "missing from the install: $f" >&2; exit 1; }
done
test -e "$libdir/pkgconfig/ptsim.pc" || { echo "missing: ptsim.pc" >&2; exit 1; }
test -e "$libdir/cmake/ptsim/ptsimConfig.cmake" || { echo "missing: ptsimConfig.cmake" >&2; exit 1; }
"$prefix/bin/ptsim" version

say "exported symbols of libptsim.so (every one must start with ptsim_)"
bad=$(nm -D --defined-only "$libdir/libptsim.so" | awk 'NF >= 3 { print $3 }' | grep -v '^ptsim_' || true)
echo "$(nm -D --defined-only "$libdir/libptsim.so" | awk 'NF >= 3' | wc -l) exported symbols"
if [ -n "$bad" ]; then
	echo "exported symbols outside the ptsim_ namespace:" >&2
	echo "$bad" >&2
	exit 1
fi

say "build the example with find_package(ptsim) (CMAKE_PREFIX_PATH=$prefix)"
cmake -S "$here" -B "$work/example-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/example-build" >/dev/null
say "run it"
ctest --test-dir "$work/example-build" --output-on-failure

say "build the example with pkg-config (ptsim.pc) and run it"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# No -Wl,-rpath here: the .pc file's Libs carry it, so the program runs as built.
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$work/test_my_workload_pc" "$here/test_my_workload.c" \
	$(pkg-config --cflags ptsim cmocka) $(pkg-config --libs ptsim cmocka)
env -u LD_LIBRARY_PATH "$work/test_my_workload_pc"
man -l "$prefix/share/man/man1/ptsim.1" >/dev/null 2>&1 || { echo "the installed man page does not format" >&2; exit 1; }

say "the example passed against the installed ptsim"
