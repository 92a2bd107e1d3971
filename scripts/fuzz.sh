#!/bin/bash
# Run every libFuzzer target for SECONDS, then merge what increased coverage
# into fuzz/corpus/TARGET (which make check replays).
# usage: scripts/fuzz.sh BUILDDIR SECONDS [TARGET...]
# FUZZ_JOBS targets run at once (default 2), at niceness FUZZ_NICE (default 10),
# on inputs of at most FUZZ_MAX_LEN bytes (default 65536).
set -euo pipefail
build=$1 secs=$2
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(attach ls get fsck decode scribble msgq rpc smemd slots)
jobs=${FUZZ_JOBS:-2}
niceness=${FUZZ_NICE:-10}
max_len=${FUZZ_MAX_LEN:-65536}
# Undefined behaviour is a finding too, not a line in a log nobody reads.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
	local t=$1 exe corpus execs
	exe="$build/fuzz/fuzz-$t" corpus="fuzz/corpus/$t"
	if [ "$t" = msgq ] || [ "$t" = rpc ]; then
		exe="$build/fuzz/$t/fuzz-$t" corpus="fuzz/$t/corpus"
	elif [ "$t" = smemd ]; then
		exe="$build/fuzz/rpc/fuzz-smemd" corpus="fuzz/rpc/corpus-smemd"
	elif [ "$t" = slots ]; then
		exe="$build/fuzz/scm/fuzz-slots" corpus="fuzz/scm/corpus"
	fi
	mkdir -p "$work/$t"
	nice -n "$niceness" "$exe" -max_total_time="$secs" -max_len="$max_len" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$work/$t-" "$work/$t" "$corpus" \
		>"$work/$t.log" 2>&1 || { echo "fuzz-$t: FINDING"; tail -40 "$work/$t.log"; cp "$work/$t-"* . 2>/dev/null; return 1; }
	nice -n "$niceness" "$exe" -merge=1 -max_len="$max_len" "$corpus" "$work/$t" >/dev/null 2>&1
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
	echo "$execs" >"$work/$t.execs"
	printf 'fuzz-%-8s %s execs in %ss, %s corpus files, no finding\n' "$t" "$execs" "$secs" \
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
echo "total: $(cat "$work"/*.execs 2>/dev/null | awk '{ n += $1 } END { print n + 0 }') execs"
exit $status
