#!/bin/sh
# Make sure the Debian packages a make target needs are installed. This is the
# one place that knows the package lists; the Makefile only names groups.
# usage: scripts/deps.sh GROUP...   (groups: build check model interop fuzz bench)
# As root, installs what is missing with apt-get (one update, one install);
# otherwise prints the one apt-get line to run and exits 1.
set -eu

pkgs=""
for group in "$@"; do
	case "$group" in
	# Compile the library, smemctl and the demo (make run). gcc only recommends
	# the C library headers, and recommends are not installed here.
	# smemd reads its config with libinih and reports readiness with sd_notify.
	build)   pkgs="$pkgs gcc libc6-dev make meson ninja-build pkg-config libinih-dev libsystemd-dev" ;;
	# The test build: Criterion. The sanitizer build uses gcc's own runtimes and
	# the CLI tests only Python's standard library, which meson already needs,
	# and tmux, the terminal that smemctl top is tested in.
	check)   pkgs="$pkgs libcriterion-dev tmux" ;;
	# The Promela models (models/check.sh).
	model)   pkgs="$pkgs spin" ;;
	# The real Linux driver under QEMU (tests/interop/run.sh).
	interop) pkgs="$pkgs qemu-system-arm device-tree-compiler cpio xz-utils gzip gcc-aarch64-linux-gnu make" ;;
	# libFuzzer (make fuzz).
	fuzz)    pkgs="$pkgs clang libclang-rt-14-dev" ;;
	bench)   pkgs="$pkgs gnuplot-nox iceoryx libiceoryx-binding-c-dev" ;;
	*) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
	esac
done

missing() {
	out=""
	for p in $pkgs; do
		case " $out " in *" $p "*) continue ;; esac
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			out="$out $p"
		fi
	done
	echo "$out"
}

todo=$(missing)
[ -z "$todo" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing Debian packages ($*); as root, run:" >&2
	echo "  apt-get install$todo" >&2
	exit 1
fi

echo "Installing missing Debian packages:$todo"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $todo >/dev/null
todo=$(missing)
if [ -n "$todo" ]; then
	echo "deps.sh: still not installed after apt-get install:$todo" >&2
	exit 1
fi
