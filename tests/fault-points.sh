#!/bin/sh
# Every fault point compiled into the library must be exercised by some test:
# its name must appear in a test source. Lists the points no test names.
# usage: tests/fault-points.sh SOURCE_ROOT
set -eu
root=$1
points=$(grep -rhoE 'FAULT_POINT\("[a-z0-9_.]+"\)' "$root/lib" | sed 's/FAULT_POINT("\(.*\)")/\1/' | sort -u)
[ -n "$points" ] || { echo "no fault points found in $root/lib"; exit 1; }
missing=0 n=0
for p in $points; do
	n=$((n + 1))
	if ! grep -rqF "\"$p\"" "$root/tests"; then
		echo "fault point $p is never armed by a test"
		missing=$((missing + 1))
	fi
done
echo "$((n - missing)) passed, $missing failed"
[ "$missing" -eq 0 ]
