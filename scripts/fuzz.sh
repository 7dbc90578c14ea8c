#!/bin/sh
# Run the libFuzzer target fuzz_trace (trace load + replay) for SECONDS.
#   scripts/fuzz.sh BUILD_DIR [SECONDS] [extra libFuzzer options...]
# BUILD_DIR is a build configured with CC=clang -DPTSIM_FUZZ=ON (docs/reliability.md).
# The corpus grows in $PTSIM_FUZZ_CORPUS (default BUILD_DIR/fuzz/corpus, kept
# between runs); the seed corpus and dictionary come from the build.  A finding
# is written to BUILD_DIR/fuzz/findings/ and the script exits 1.
set -eu
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [libFuzzer options...]}
secs=${2:-180}
[ $# -ge 2 ] && shift 2 || shift $#
fz="$build/fuzz"
[ -x "$fz/fuzz_trace" ] || { echo "fuzz.sh: $fz/fuzz_trace missing: configure with CC=clang -DPTSIM_FUZZ=ON" >&2; exit 2; }
corpus=${PTSIM_FUZZ_CORPUS:-$fz/corpus}
mkdir -p "$corpus" "$fz/findings"
# -seed=1: the same build and corpus explore the same way.  Each input gets 10 s
# and 2 GiB (the harness skips traces over its work caps); leaks are findings.
status=0
"$fz/fuzz_trace" -seed=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	-dict="$fz/trace.dict" -artifact_prefix="$fz/findings/" -print_final_stats=1 -detect_leaks=1 \
	"$@" "$corpus" "$fz/seed" 2>"$fz/fuzz.log" || status=$?
grep -E '^(#[0-9]+ +DONE|stat::|Done )' "$fz/fuzz.log" || true
if [ "$status" -ne 0 ]; then
	tail -60 "$fz/fuzz.log"
	echo "fuzz.sh: finding(s) in $fz/findings/:"; ls "$fz/findings/"
	echo "fuzz.sh: replay one with $fz/fuzz_trace FILE; once fixed, add it to fuzz/regressions/"
	exit 1
fi
