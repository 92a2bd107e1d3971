#!/bin/bash
# make run: format a region of the demo's own, let apps and modem exchange
# messages over queues in SMEM items, kill the modem in the middle of an
# allocation, and show apps recovering by itself, with smemctl before and after.
# Then the same with smemd as the resource manager: three hosts, queues smemd
# made, the modem killed mid-allocation, smemd cleaning up, smemctl status.
# usage: scripts/demo.sh BUILDDIR
set -euo pipefail
build=${1:-build}
smemctl="$build/tools/smemctl"
demo="$build/examples/smemkit-demo"
rmdemo="$build/examples/smemkit-rm-demo"
smemd="$build/daemon/smemd"
image=${SMEMKIT_DEMO_IMAGE:-smemkit-demo} # a name of its own under /dev/shm/smemkit
count=${SMEMKIT_DEMO_MESSAGES:-10000}

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() { bold "\$ $*"; "$@"; }
# A command shown as typed, output filtered to what matters.
shown() { bold "\$ $1"; shift; "$@"; }

locks() { "$smemctl" locks "$image" | grep -v ' free$' || true; }

bold "# A 2 MiB version-12 image: a global partition and apps:modem, apps:adsp, apps:cdsp"
step "$smemctl" format "$image"

bold "# apps (host 0) and modem (host 1), two processes, over queues in items 300 and 301"
step "$demo" traffic "$image" "$count"
step "$smemctl" ls "$image"
step "$smemctl" msgq stat --item 300 --host 1 "$image"

bold "# The modem dies in the middle of an allocation, holding lock 3"
step "$demo" crash "$image"
shown "smemctl locks $image | grep -v free" locks
step "$smemctl" fsck "$image"

bold "# apps allocates: it busts the dead modem's lock itself, then talks to a new modem"
step "$demo" recover "$image" "$count"
step "$smemctl" ls "$image"
shown "smemctl locks $image | grep -v free" locks
step "$smemctl" fsck "$image"

case "$image" in */*) path=$image ;; *) path=/dev/shm/smemkit/$image ;; esac
echo
echo "The region is $path, its lock bank $path.hwlock; try: $smemctl info $image"

bold "# With smemd: it owns the memory (sealed memfds), registers hosts, makes queues, cleans up"
rundir=$(mktemp -d)
sock=$rundir/rm.sock
"$smemd" --socket "$sock" &
smemd_pid=$!
trap 'kill $smemd_pid 2>/dev/null; rm -rf "$rundir"' EXIT
# Ready once smemctl status gets an answer.
for _ in $(seq 1 500); do
	"$smemctl" status --socket "$sock" >/dev/null 2>&1 && break
	sleep 0.01
done
step "$smemctl" status --socket "$sock"
bold "\$ smemkit-rm-demo $sock smemctl $count"
"$rmdemo" "$sock" "$smemctl" "$count"
