#!/bin/sh
# A release build (-Dfault_points=false) carries no fault-point code: no symbol
# and no point name in the library or the tools.
# usage: scripts/check-release.sh BUILDDIR
set -eu
build=$1
files="$(find "$build" -maxdepth 1 -type f \( -name 'libsmemkit.so*' -o -name 'libsmemkit.a' \)) $build/tools/smemctl"
[ -n "$files" ] || { echo "check-release: nothing built in $build"; exit 1; }
bad=0
for f in $files; do
	if nm -A "$f" 2>/dev/null | grep 'smem__fault'; then
		echo "check-release: $f has fault-point symbols"
		bad=1
	fi
	if strings "$f" | grep -E '^(smem|hwlock|msgq)\.[a-z_]+\.[a-z_]+$'; then
		echo "check-release: $f names fault points"
		bad=1
	fi
done
[ "$bad" -eq 0 ] && echo "check-release: no fault-point symbol or name in $files" | tr '\n' ' ' && echo
exit $bad
