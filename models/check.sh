#!/bin/sh
# Check a Promela model with spin; exhaustive searches only.
#
# usage: models/check.sh MODEL [RUN...]
#
# Each RUN is [!]WHAT[+DEFINE...]:
#   safety    assertions and invalid end states (pan built with -DSAFETY)
#   NAME      the model's ltl formula NAME, as acceptance cycles under weak
#             fairness (pan -a -f)
#   +DEFINE   passed to spin as -DDEFINE for this run only (safety+WAKEUP)
#   !         this run must find an error: a mutant the model has to catch, or
#             an ltl formula that is a witness that a scenario is reachable
# With no RUN, the run is "safety".
#
# Exit 0 when every run gave what it should, 1 otherwise, 77 when spin is not
# installed (unless SMEMKIT_REQUIRE_MODELS=1, which turns that into a failure).
# CC picks the compiler; PAN_FLAGS adds flags to pan's build; NFAIR (default 3)
# sizes weak fairness, which allows about 3 * NFAIR processes.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 MODEL [[!]safety|[!]LTL_NAME[+DEFINE...]]..." >&2
	exit 2
fi
model=$1
shift
[ $# -gt 0 ] || set -- safety

if ! command -v spin >/dev/null 2>&1; then
	if [ "${SMEMKIT_REQUIRE_MODELS:-0}" = 1 ]; then
		echo "check.sh: spin is not installed and SMEMKIT_REQUIRE_MODELS=1" >&2
		exit 1
	fi
	echo "check.sh: spin is not installed; skipping $model"
	exit 77
fi

cc=${CC:-cc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
cp "$model" "$dir/model.pml"
cd "$dir"

failed=0
for run in "$@"; do
	expect=pass
	spec=$run
	case "$spec" in
	!*) expect=fail; spec=${spec#!} ;;
	esac
	what=${spec%%+*}
	defines=""
	if [ "$what" != "$spec" ]; then
		for d in $(echo "${spec#*+}" | tr '+' ' '); do
			defines="$defines -D$d"
		done
	fi

	rm -f pan pan.* _spin_nvr.tmp model.pml.trail
	# The defines are words on purpose: one -DNAME each.
	# shellcheck disable=SC2086
	if ! spin $defines -a model.pml >spin.out 2>&1; then
		cat spin.out
		echo "check.sh: $run: spin -a failed"
		failed=1
		continue
	fi
	if [ "$what" = safety ]; then
		# shellcheck disable=SC2086
		$cc -O2 -w -DSAFETY -DNOCLAIM ${PAN_FLAGS:-} -o pan pan.c
		pan_args="-m2000000"
	else
		# shellcheck disable=SC2086
		$cc -O2 -w -DNFAIR="${NFAIR:-3}" ${PAN_FLAGS:-} -o pan pan.c
		pan_args="-a -f -N $what -m2000000"
	fi
	start=$(date +%s)
	# shellcheck disable=SC2086
	./pan $pan_args >pan.out 2>&1 || true
	took=$(($(date +%s) - start))

	summary=$(grep -E 'errors:|states, stored|elapsed time' pan.out | tr -s ' \t' ' ' | tr '\n' ';')
	echo "model $(basename "$model") $run: ${summary} wall ${took}s"
	if grep -q "max search depth too small" pan.out; then
		echo "check.sh: $run: search depth too small, the search was cut short"
		failed=1
	elif grep -q "errors: 0" pan.out; then
		if [ "$expect" = fail ]; then
			echo "check.sh: $run: expected an error, spin found none"
			failed=1
		fi
	elif grep -qE "errors: [1-9]" pan.out; then
		if [ "$expect" = pass ]; then
			cat pan.out
			if [ -f model.pml.trail ]; then
				echo "--- counterexample"
				# shellcheck disable=SC2086
				spin $defines -t -p -g model.pml | head -200 || true
			fi
			echo "check.sh: $run: spin found an error"
			failed=1
		fi
	else
		cat pan.out
		echo "check.sh: $run: no verdict from pan"
		failed=1
	fi
done
exit $failed
