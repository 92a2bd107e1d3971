#!/bin/sh
# Run every benchmark built in a build directory (make bench passes the release one).
# usage: scripts/bench.sh BUILD_DIR [--json]
# The message-queue benchmark also redraws docs/bench-msgq-*.png with gnuplot, and
# the secure-call one docs/bench-scm-latency.png.
# With --json, stdout holds only its JSON array; the other tables go to stderr.
set -eu

build=${1:?usage: scripts/bench.sh BUILD_DIR [--json]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)
json=""
[ "${1:-}" = "--json" ] && json="--json"

ran=0
for exe in "$build"/bench/bench-* "$build"/bench/*/bench-*; do
	[ -x "$exe" ] && [ -f "$exe" ] || continue
	name=$(basename "$exe")
	echo "== $name" >&2
	case "$name" in
	bench-msgq) "$exe" --plots "$src/docs" $json ;;
	bench-scm) "$exe" --plot "$src/docs" $json ;;
	*) if [ -n "$json" ]; then "$exe" >&2; else "$exe"; fi ;;
	esac
	ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
	echo "bench.sh: no benchmark found in $build/bench (configure with -Dbench=true)" >&2
	exit 1
fi
