#!/bin/bash
# Run every libFuzzer target for SECONDS, then merge what increased coverage
# into fuzz/corpus/TARGET (which make check replays).
# usage: scripts/fuzz.sh BUILDDIR SECONDS [TARGET...]
set -euo pipefail
build=$1 secs=$2
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(attach ls get fsck decode msgq)
jobs=${FUZZ_JOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
	local t=$1 exe corpus
	exe="$build/fuzz/fuzz-$t" corpus="fuzz/corpus/$t"
	if [ "$t" = msgq ]; then
		exe="$build/fuzz/msgq/fuzz-msgq" corpus="fuzz/msgq/corpus"
	fi
	mkdir -p "$work/$t"
	nice -n 10 "$exe" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$work/$t-" "$work/$t" "$corpus" \
		>"$work/$t.log" 2>&1 || { echo "fuzz-$t: FINDING"; tail -40 "$work/$t.log"; cp "$work/$t-"* . 2>/dev/null; return 1; }
	"$exe" -merge=1 -max_len=65536 "$corpus" "$work/$t" >/dev/null 2>&1
	printf 'fuzz-%-7s %s execs in %ss, %s corpus files, no finding\n' "$t" \
		"$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")" "$secs" \
		"$(ls "$corpus" | wc -l)"
}

status=0
running=0
for t in "${targets[@]}"; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n || status=1
		running=$((running - 1))
	fi
done
while [ "$running" -gt 0 ]; do
	wait -n || status=1
	running=$((running - 1))
done
exit $status
