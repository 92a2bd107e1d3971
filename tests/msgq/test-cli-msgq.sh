#!/bin/sh
# smemctl msgq: create, send, stat, recv on a queue in a region file and in an SMEM item.
set -u
smemctl=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
check() { # name, then a command that must succeed
	name=$1; shift
	if "$@" >"$dir/out" 2>"$dir/err"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $name"; cat "$dir/out" "$dir/err"; fi
}
status() { # expected exit status, command...
	want=$1; shift
	"$@" >/dev/null 2>&1
	[ $? -eq "$want" ]
}
q=$dir/q.region
check "create" "$smemctl" msgq create --depth 2 --msg-size 16 --notempty max "$q"
check "send" "$smemctl" msgq send --string hello --push "$q"
check "send fills" sh -c "'$smemctl' msgq send --hex 00ff '$q' | grep -q 'now full'"
check "full is an error" status 1 "$smemctl" msgq send --string x "$q"
check "stat json" sh -c "'$smemctl' msgq stat --json '$q' | grep -q '\"depth\":2,\"max_msg_size\":16,\"count\":2,\"notempty_thd\":2,\"notfull_thd\":1'"
check "stat counters" sh -c "'$smemctl' msgq stat '$q' | grep -q 'full events *1'"
check "recv raw" sh -c "[ \"\$('$smemctl' msgq recv --raw '$q')\" = hello ]"
check "recv json" sh -c "'$smemctl' msgq recv --json '$q' | grep -q '\"size\":2,\"not_empty\":false,\"data\":\"00ff\"'"
check "empty is an error" status 1 "$smemctl" msgq recv "$q"
check "too long" status 2 "$smemctl" msgq create --msg-size 2000 "$q"
check "bad action" status 2 "$smemctl" msgq frobnicate "$q"
check "no queue" status 1 "$smemctl" msgq stat /dev/null
img=$dir/smem.img
check "format" "$smemctl" format "$img"
check "create item" "$smemctl" msgq create --item 300 --host 1 "$img"
check "send item" "$smemctl" msgq send --item 300 --host 1 --string ping "$img"
check "recv item" sh -c "[ \"\$('$smemctl' msgq recv --raw --item 300 --host 1 '$img')\" = ping ]"
check "fsck after" "$smemctl" fsck "$img"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
