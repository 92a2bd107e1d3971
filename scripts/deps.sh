#!/bin/sh
# Make sure the Debian packages a make target needs are installed.
# usage: scripts/deps.sh GROUP...   (groups: build check fuzz interop bench model)
# As root, installs what is missing with apt-get; otherwise prints the command.
set -eu

pkgs=""
for group in "$@"; do
	case "$group" in
	build)   pkgs="$pkgs gcc make meson ninja-build pkg-config" ;;
	check)   pkgs="$pkgs libcriterion-dev clang libclang-rt-14-dev spin" ;;
	fuzz)    pkgs="$pkgs clang libclang-rt-14-dev" ;;
	model)   pkgs="$pkgs spin" ;;
	interop) pkgs="$pkgs qemu-system-arm device-tree-compiler cpio xz-utils gzip gcc-aarch64-linux-gnu make" ;;
	bench)   pkgs="$pkgs gnuplot-nox iceoryx libiceoryx-binding-c-dev" ;;
	*) echo "deps.sh: unknown group '$group'" >&2; exit 2 ;;
	esac
done

missing=""
for p in $pkgs; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
	echo "Installing missing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
	echo "Missing Debian packages. Install them with:" >&2
	echo "  sudo apt-get install$missing" >&2
	exit 1
fi
