#!/bin/sh
# The whole test suite: install what is missing, build (Release with assertions), run every test.
# Extra arguments go to cmake, e.g.  scripts/test.sh -DPTSIM_SANITIZE=ON -DPTSIM_ALLOCATOR=libc
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
BUILD=${PTSIM_BUILD_DIR:-build-test}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" \
	-DPTSIM_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)"
