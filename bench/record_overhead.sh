#!/bin/sh
# The recorder's overhead on a fault-heavy program (docs/record.md "Overhead").
#
#   bench/record_overhead.sh BUILD_DIR [PAIRS] [MIB] [ROUNDS] [seq|scattered]   (as root)
#
# Runs bench/record_workload (MIB MiB touched page by page, ROUNDS times, in
# order or scattered: bench/record_workload.c) PAIRS
# times alone and PAIRS times under `ptsim record`, alternating, and prints
# each pair and the median ratios: of the program's own time (what it
# reports: the work between its first and last fault) and of the whole
# command (the recorder's start-up, ~0.4 s of tracefs set-up, and its final
# draining included).  Side by side in one run, so the machine's load affects
# both alike; the median of several pairs, because it is shared and noisy.
set -eu
BUILD=${1:?usage: $0 BUILD_DIR [PAIRS] [MIB] [ROUNDS]}
PAIRS=${2:-5}
MIB=${3:-256}
ROUNDS=${4:-4}
ORDER=${5:-seq}
W="$BUILD/bench/record_workload"
P="$BUILD/ptsim"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
[ "$(id -u)" -eq 0 ] || { echo "record_overhead: needs root (ptsim record)"; exit 2; }
now() { date +%s.%N; }
echo "workload: $MIB MiB x $ROUNDS rounds, $ORDER = $((MIB * 256 * ROUNDS)) page faults; $PAIRS pairs"
echo "pair  alone_s  recorded_s  ratio   alone_cmd_s  recorded_cmd_s  cmd_ratio  trace_bytes"
i=1
while [ "$i" -le "$PAIRS" ]; do
	t0=$(now); a=$("$W" "$MIB" "$ROUNDS" "$ORDER"); t1=$(now)
	r=$("$P" record --quiet -o "$OUT/t.jsonl.zst" -- "$W" "$MIB" "$ROUNDS" "$ORDER"); t2=$(now)
	size=$(stat -c %s "$OUT/t.jsonl.zst")
	awk -v i="$i" -v a="$a" -v r="$r" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v s="$size" \
		'BEGIN { ca = t1 - t0; cr = t2 - t1
			 printf "%4d %8.3f %11.3f %6.2f %13.3f %15.3f %10.2f %12d\n", i, a, r, r / a, ca, cr, cr / ca, s }'
	i=$((i + 1))
done | tee "$OUT/pairs"
sort -n -k4 "$OUT/pairs" | awk '{ r[NR] = $4 } END { printf "median ratio (program time): %.2f\n", r[int((NR + 1) / 2)] }'
sort -n -k7 "$OUT/pairs" | awk '{ r[NR] = $7 } END { printf "median ratio (whole command): %.2f\n", r[int((NR + 1) / 2)] }'
