#!/bin/sh
# Redraw the pictures of docs/studies.md (docs/img/) by running the cookbook's own commands
# (every "$ ptsim compare ... --plot NAME.png" line of docs/studies.md) with the picture
# going to docs/img/NAME.png.
#   scripts/update_doc_images.sh [PTSIM]     (default: build-test/ptsim, as scripts/test.sh builds it)
# The tables those commands print are checked by scripts/check_docs.py; the pictures are
# committed as they come out (gnuplot's output differs a little between versions).
set -eu
cd "$(dirname "$0")/.."
P=$(cd "$(dirname "${1:-build-test/ptsim}")" && pwd)/$(basename "${1:-build-test/ptsim}")
mkdir -p docs/img
grep '^\$ ptsim compare .* --plot [A-Za-z0-9_-]*\.png' docs/studies.md | sed 's/^\$ ptsim //' |
while read -r args; do
	args=$(printf '%s\n' "$args" | sed 's|--plot \([A-Za-z0-9_-]*\.png\)|--plot docs/img/\1|')
	echo "ptsim $args"
	eval "\"\$P\" $args" >/dev/null
done
ls -l docs/img
