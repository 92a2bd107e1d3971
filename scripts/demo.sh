#!/bin/bash
# make run: format the default region, let two host processes use it, and show
# what they left with smemctl.
set -euo pipefail
build=${1:-build}
smemctl="$build/tools/smemctl"
image=${SMEMKIT_IMAGE:-default}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$smemctl" format "$image"
printf '\n\033[1m$ %s\033[0m\n' "smemkit-demo $image   # apps (host 0) and modem (host 1), two processes"
"$build/examples/smemkit-demo" "$image"
step "$smemctl" info "$image"
step "$smemctl" ls "$image"
step "$smemctl" decode "$image"
step "$smemctl" fsck "$image"
case "$image" in */*) path=$image ;; *) path=/dev/shm/smemkit/$image ;; esac
echo
echo "The region is $path, its lock bank $path.hwlock; try: $smemctl ls --json $image"
