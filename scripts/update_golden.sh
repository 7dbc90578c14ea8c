#!/bin/sh
# Regenerate tests/golden/: the `ptsim run TRACE --json` output of every bundled
# trace under traces/ (tests/test_golden.c compares them byte for byte).
#
# Run it only on purpose: a changed golden file is a changed result.  Commit the
# regenerated files in a commit of their own that says why the numbers moved.
#
#   scripts/update_golden.sh [BUILD_DIR]     (default build-test; it must be built)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build-test}
PTSIM="$BUILD/ptsim"
[ -x "$PTSIM" ] || { echo "update_golden: $PTSIM not built (scripts/test.sh builds it)" >&2; exit 2; }
rm -rf tests/golden
find traces -name '*.json' -o -name '*.jsonl' -o -name '*.jsonl.gz' -o -name '*.jsonl.zst' | LC_ALL=C sort |
while read -r t; do
	out="tests/golden/${t#traces/}.out"
	mkdir -p "$(dirname "$out")"
	set +e
	"$PTSIM" run "$t" --json >"$out"
	st=$?
	set -e
	case $st in
	0|3) echo "$st $t" ;;
	*) echo "update_golden: $t: exit $st" >&2; exit 1 ;;
	esac
done
echo "update_golden: $(find tests/golden -name '*.out' | wc -l) golden outputs written"
