#!/bin/sh
# Host instructions per simulated fault on W1 case a (touch one byte per 4 KiB
# page of a 2 MiB chunk, then MADV_DONTNEED the chunk), counted by callgrind,
# which does not depend on the machine's load.
#
# bench_pt_reclaim --single runs the workload at 1 and at 2 GiB with PT reclaim
# on and off; the difference between the two sizes divided by the difference
# in faults is the marginal cost of one fault, without machine creation, mmap,
# munmap and exit.  It is split into the touch side (ptsim_touch() inclusive)
# and the madvise side (ptsim_madvise() inclusive, per fault); "total" is the
# whole program's marginal count (both sides plus the benchmark's loop).
#
# Goal (issue 11): total <= 350, touch <= 250, madvise <= 100, reclaim on and off.
#
#   bench/instr_per_fault.sh [BUILD_DIR]     (default build-rel, a Release build)
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-build-rel}
BENCH="$BUILD/bench/bench_pt_reclaim"
if [ ! -x "$BENCH" ]; then
	echo "$BENCH not found: cmake -S . -B $BUILD -DCMAKE_BUILD_TYPE=Release && cmake --build $BUILD" >&2
	exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind not installed (Debian: apt-get install valgrind)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# run VARIANT GIB: prints "faults total touch madvise"
run() {
	out="$TMP/cg.$1.$2"
	faults=$(valgrind --tool=callgrind --callgrind-out-file="$out" "$BENCH" --single "$1" --gib "$2" 2>/dev/null |
		sed -n 's/.* faults=\([0-9]*\).*/\1/p')
	[ -n "$faults" ] || { echo "bench_pt_reclaim --single $1 --gib $2 failed" >&2; exit 1; }
	callgrind_annotate --inclusive=yes --threshold=100 "$out" 2>/dev/null | awk -v faults="$faults" '
		function n(s) { gsub(",", "", s); return s + 0 }
		/PROGRAM TOTALS/ { total = n($1) }
		/:ptsim_touch / { touch = n($1) }
		/:ptsim_madvise / { madv = n($1) }
		END { printf "%s %.0f %.0f %.0f\n", faults, total, touch, madv }'
}

printf '%-16s %8s %8s %8s   goal: total <= 350, touch <= 250, madvise <= 100\n' "W1 case a" total touch madvise
ok=1
for v in on off; do
	set -- $(run $v 1) $(run $v 2)
	line=$(awk -v f1="$1" -v t1="$2" -v u1="$3" -v a1="$4" -v f2="$5" -v t2="$6" -v u2="$7" -v a2="$8" 'BEGIN {
		d = f2 - f1
		printf "%.0f %.0f %.0f", (t2 - t1) / d, (u2 - u1) / d, (a2 - a1) / d }')
	set -- $line
	printf '%-16s %8s %8s %8s\n' "pt_reclaim=$v" "$1" "$2" "$3"
	[ "$1" -le 350 ] && [ "$2" -le 250 ] && [ "$3" -le 100 ] || ok=0
done
echo "(host instructions per simulated fault, marginal between 1 and 2 GiB, callgrind)"
if [ $ok = 1 ]; then echo "goal met"; else echo "goal missed"; fi
