#!/bin/sh
# What a release build (-Dfault_points=false) installs carries no fault-point
# code: no symbol and no point name in any installed file. Its libsmemkit.so
# exports exactly the functions of the installed headers, and no static
# library is installed.
# usage: scripts/check-release.sh BUILDDIR
set -eu
build=$1
src=$(cd "$(dirname "$0")/.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null
lib=$(find "$dest" -type f -name 'libsmemkit.so.*.*.*')
bin=$(find "$dest" -type f -path '*/bin/smemctl')
inc=$(find "$dest" -type f -path '*/include/smemkit/smem.h')
if [ -z "$lib" ] || [ -z "$bin" ] || [ -z "$inc" ]; then
	echo "check-release: $build installs no libsmemkit.so, smemctl or smemkit/smem.h"
	exit 1
fi
bad=0
files=$(find "$dest" -type f | sort)
for f in $files; do
	if nm -A "$f" 2>/dev/null | grep 'smem__fault'; then
		echo "check-release: ${f#"$dest"} has fault-point symbols"
		bad=1
	fi
	if strings "$f" | grep -E '^(smem|hwlock|msgq)\.[a-z_]+\.[a-z_]+$'; then
		echo "check-release: ${f#"$dest"} names fault points"
		bad=1
	fi
done
if find "$dest" -name '*.a' | grep .; then
	echo "check-release: a static library is installed"
	bad=1
fi
python3 "$src/tests/check-exports.py" "$lib" "$(dirname "$(dirname "$inc")")" || bad=1
if [ "$bad" -eq 0 ]; then
	echo "check-release: $(echo "$files" | wc -l) installed files, no fault-point symbol or name"
fi
exit $bad
