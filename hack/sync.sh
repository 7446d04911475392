#!/usr/bin/env bash
# hack/sync.sh SRC DST: make DST hold what SRC holds, writing only what
# differs. SRC and DST are both files, or both directories of *.yaml (files
# of DST that SRC lacks are removed). `make manifests` generates into a
# temporary directory and syncs, so that a test reading config/ or the
# chart while another process runs `make manifests` (the e2e suite runs
# make demo and make run) never sees a file half written when nothing
# changed.
set -euo pipefail
src=$1 dst=$2
copy() { cmp -s "$1" "$2" || cp "$1" "$2"; }
if [ -f "$src" ]; then
	copy "$src" "$dst"
	exit 0
fi
mkdir -p "$dst"
for f in "$src"/*.yaml; do
	copy "$f" "$dst/$(basename "$f")"
done
for f in "$dst"/*.yaml; do
	[ -e "$f" ] || continue
	[ -e "$src/$(basename "$f")" ] || rm -f "$f"
done
