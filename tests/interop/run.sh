#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The real Linux qcom_smem driver against smemkit's images, under QEMU.
#
#   run.sh SMEMCTL MKSOCINFO QMP_PMEMSAVE SRCDIR
#
# Debian bookworm's linux-image-6.12 arm64 ships smem.ko, socinfo.ko and
# qcom_hwspinlock.ko. This script boots that kernel under qemu-system-aarch64
# -M virt with an SMEM region preloaded at 0x50000000 and described in the
# device tree, and checks in both directions:
#
#  forward  smemctl writes socinfo (item 137) and the image version table
#           (item 469) into a version 11 and a version 12 image; the guest's
#           sysfs soc0/ and debugfs qcom_socinfo/ must show exactly those
#           values, and smem_test_mod must find every item where smemctl
#           says it is.
#  reverse  smem_test_mod calls the real qcom_smem_alloc() for item 478 in
#           the global partition or heap (and, for v12, in the apps-modem
#           partition) and fills it; the host saves the region over QMP and
#           smemctl must list the item where Linux put it, read back the exact
#           bytes, and find the image clean.
#  reject   seven damaged images must make the driver refuse them; the
#           driver's own reason is printed, and smemctl fsck must flag the
#           six that are damaged at the format level.
#
# Exit 0 pass, 1 fail, 77 skip ("SKIPPED: reason"); with
# SMEMKIT_REQUIRE_INTEROP=1 a skip is a failure. Downloads and extracted files
# are cached in ${SMEMKIT_CACHE:-/var/cache/smemkit}/interop.
# SMEMKIT_INTEROP_KEEP=1 keeps the work directory.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 SMEMCTL MKSOCINFO QMP_PMEMSAVE SRCDIR" >&2
	exit 2
fi
SMEMCTL=$(realpath "$1")
MKSOCINFO=$(realpath "$2")
QMP_PMEMSAVE=$(realpath "$3")
SRCDIR=$(realpath "$4")
TOPDIR=$(realpath "$SRCDIR/../..")

CACHE=${SMEMKIT_CACHE:-/var/cache/smemkit}/interop
QEMU_TIMEOUT=${SMEMKIT_INTEROP_TIMEOUT:-90} # seconds per boot (a boot takes 5-10)
JOBS=2                                      # QEMUs at once
BASE=0x50000000                             # SMEM in the guest (see the DT below)
SIZE=2M
SIZE_BYTES=$((2 * 1024 * 1024))
CROSS=aarch64-linux-gnu-
START=$SECONDS

note() {
	printf '[%4ds] %s\n' "$((SECONDS - START))" "$*"
}

skip() {
	echo "SKIPPED: $*"
	if [ "${SMEMKIT_REQUIRE_INTEROP:-0}" = 1 ]; then
		echo "FAIL: SMEMKIT_REQUIRE_INTEROP=1, so the interop test may not be skipped"
		exit 1
	fi
	exit 77
}

die() {
	echo "FAIL: $*"
	exit 1
}

# --------------------------------------------------------------------------
# Tools and packages
# --------------------------------------------------------------------------

tools=(qemu-system-aarch64 dtc cpio gzip xz dpkg-deb apt-get apt-cache make "${CROSS}gcc-12"
	"${CROSS}strip" timeout flock od dd cmp sha256sum nice)
if [ "$(id -u)" = 0 ]; then
	if ! "$TOPDIR/scripts/deps.sh" interop; then
		skip "could not install the interop packages (scripts/deps.sh interop failed)"
	fi
fi
missing=()
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		skip "not root, and these tools are missing: ${missing[*]} (run as root, or scripts/deps.sh interop)"
	fi
	skip "tools still missing after scripts/deps.sh interop: ${missing[*]}"
fi
if ! mkdir -p "$CACHE" 2>/dev/null || ! [ -w "$CACHE" ]; then
	skip "cache directory $CACHE is not writable$([ "$(id -u)" = 0 ] || echo ' (not root)'); set SMEMKIT_CACHE"
fi

# --------------------------------------------------------------------------
# Kernel, modules, busybox and headers, cached per kernel release
# --------------------------------------------------------------------------

HOSTARCH=$(dpkg --print-architecture)
# A private apt state: the arm64 lists never touch the system's, and nothing
# system-wide changes (no foreign architecture, no extra sources).
APT_OPTS=(-q -o "APT::Architectures::=$HOSTARCH" -o APT::Architectures::=arm64
	-o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt/cache"
	-o APT::Sandbox::User=root)

exec 9>"$CACHE/.lock"
flock -w 900 9 || skip "could not lock $CACHE/.lock within 15 minutes"

# Which kernel: the one Debian's linux-image-6.12-arm64 points to now. Reuse
# the last answer for a day so that warm runs need no network at all.
resolve_kernel() {
	if [ -n "${SMEMKIT_INTEROP_KERNEL:-}" ]; then
		echo "$SMEMKIT_INTEROP_KERNEL"
		return
	fi
	if [ -s "$CACHE/kernel-release" ] &&
		[ -n "$(find "$CACHE/kernel-release" -mmin -1440 2>/dev/null)" ]; then
		cat "$CACHE/kernel-release"
		return
	fi
	mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
	if ! apt-get "${APT_OPTS[@]}" update >"$CACHE/apt/update.log" 2>&1; then
		echo "apt-get update failed:" >&2
		tail -n 5 "$CACHE/apt/update.log" >&2
	fi
	local rel
	rel=$(apt-cache "${APT_OPTS[@]}" depends linux-image-6.12-arm64:arm64 2>/dev/null |
		grep -o 'linux-image-6\.12\.[0-9]*+deb[0-9]*-arm64' | head -n 1 || true)
	rel=${rel#linux-image-}
	if [ -n "$rel" ]; then
		echo "$rel" >"$CACHE/kernel-release"
		echo "$rel"
	elif [ -s "$CACHE/kernel-release" ]; then
		echo "could not resolve linux-image-6.12-arm64; reusing the cached kernel" >&2
		cat "$CACHE/kernel-release"
	fi
}

KREL=$(resolve_kernel)
if [ -z "$KREL" ] && [ -s "$CACHE/apt/update.log" ]; then
	echo "apt-get update said:"
	grep -E '^(E|W|Err):' "$CACHE/apt/update.log" | head -n 5 || true
fi
[ -n "$KREL" ] || skip "cannot find Debian's linux-image-6.12-arm64:arm64 (no network, or no bookworm-security in the apt sources)"
KABI=${KREL%-arm64}
note "kernel $KREL"

DEBS=$CACHE/debs
mkdir -p "$DEBS"
# deb PACKAGE[:ARCH] GLOB: download the package unless a file matching GLOB is cached.
deb() {
	local pkg=$1 glob=$2 f
	for f in "$DEBS"/$glob; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
	if [ -z "$(find "$CACHE/apt/lists" -maxdepth 1 -name '*_Packages*' -print -quit)" ]; then
		apt-get "${APT_OPTS[@]}" update >"$CACHE/apt/update.log" 2>&1 || true
	fi
	if ! (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download "$pkg" >"$CACHE/apt/download.log" 2>&1); then
		# The lists may be a day old and name a version that is gone: refresh once.
		apt-get "${APT_OPTS[@]}" update >"$CACHE/apt/update.log" 2>&1 || true
		if ! (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download "$pkg" >"$CACHE/apt/download.log" 2>&1); then
			cat "$CACHE/apt/download.log" >&2
			return 1
		fi
	fi
	for f in "$DEBS"/$glob; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

KDIR=$CACHE/kernel-$KREL
if [ ! -e "$KDIR/.complete" ]; then
	note "downloading and extracting linux-image-$KREL"
	kdeb=$(deb "linux-image-$KREL:arm64" "linux-image-${KREL}_*_arm64.deb") ||
		skip "cannot download linux-image-$KREL:arm64"
	rm -rf "$KDIR" "$KDIR.tmp"
	mkdir -p "$KDIR.tmp/x" "$KDIR.tmp/modules"
	dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$KDIR.tmp/x" --wildcards \
		'*/vmlinuz-*' '*/smem.ko.xz' '*/socinfo.ko.xz' '*/qcom_hwspinlock.ko.xz'
	cp "$(find "$KDIR.tmp/x" -name "vmlinuz-$KREL" | head -n 1)" "$KDIR.tmp/vmlinuz"
	for m in qcom_hwspinlock smem socinfo; do
		ko=$(find "$KDIR.tmp/x" -name "$m.ko.xz" | head -n 1)
		[ -n "$ko" ] || die "linux-image-$KREL has no $m.ko.xz"
		# busybox insmod loads a plain buffer, so decompress here.
		xz -dc "$ko" >"$KDIR.tmp/modules/$m.ko"
	done
	rm -rf "$KDIR.tmp/x"
	touch "$KDIR.tmp/.complete"
	mv "$KDIR.tmp" "$KDIR"
fi

BBDIR=$CACHE/busybox
if [ ! -e "$BBDIR/.complete" ]; then
	note "downloading busybox-static:arm64"
	bdeb=$(deb busybox-static:arm64 'busybox-static_*_arm64.deb') ||
		skip "cannot download busybox-static:arm64"
	rm -rf "$BBDIR" "$BBDIR.tmp"
	mkdir -p "$BBDIR.tmp/x"
	dpkg-deb --fsys-tarfile "$bdeb" | tar -x -C "$BBDIR.tmp/x" --wildcards '*bin/busybox'
	cp "$(find "$BBDIR.tmp/x" -name busybox -type f | head -n 1)" "$BBDIR.tmp/busybox"
	rm -rf "$BBDIR.tmp/x"
	touch "$BBDIR.tmp/.complete"
	mv "$BBDIR.tmp" "$BBDIR"
fi

# Headers for the out-of-tree module: the arm64 flavour, the common tree and
# the host-architecture kbuild tools (fixdep, modpost) of the same release.
HDIR=$CACHE/headers-$KREL
if [ ! -e "$HDIR/.complete" ]; then
	note "downloading and extracting linux-headers-$KREL"
	rm -rf "$HDIR" "$HDIR.tmp"
	mkdir -p "$HDIR.tmp"
	for spec in "linux-headers-$KREL:arm64|linux-headers-${KREL}_*_arm64.deb" \
		"linux-headers-$KABI-common|linux-headers-${KABI}-common_*_all.deb" \
		"linux-kbuild-$KABI:$HOSTARCH|linux-kbuild-${KABI}_*_$HOSTARCH.deb"; do
		hdeb=$(deb "${spec%%|*}" "${spec#*|}") || skip "cannot download ${spec%%|*}"
		dpkg-deb --fsys-tarfile "$hdeb" | tar -x -C "$HDIR.tmp" --exclude=./usr/share
	done
	# The flavour's Makefile includes the common one by its absolute path.
	sed -i "s|^include /usr/src/|include $HDIR/usr/src/|" \
		"$HDIR.tmp/usr/src/linux-headers-$KREL/Makefile"
	touch "$HDIR.tmp/.complete"
	mv "$HDIR.tmp" "$HDIR"
fi

# The test module, rebuilt when its source, the kernel or the compiler change.
modkey=$( (cat "$SRCDIR/smem_test_mod.c" "$SRCDIR/Kbuild"; echo "$KREL"; "${CROSS}gcc-12" --version) |
	sha256sum | cut -c1-16)
MODKO=$CACHE/module/smem_test_mod-$KREL-$modkey.ko
if [ ! -e "$MODKO" ]; then
	note "building smem_test_mod.ko against linux-headers-$KREL"
	mkdir -p "$CACHE/module"
	mbuild=$(mktemp -d "$CACHE/module/build.XXXXXX")
	cp "$SRCDIR/smem_test_mod.c" "$SRCDIR/Kbuild" "$mbuild/"
	# BTF for modules needs pahole and the kernel's vmlinux: skip it.
	if ! make -C "$HDIR/usr/src/linux-headers-$KREL" M="$mbuild" ARCH=arm64 \
		CROSS_COMPILE="$CROSS" CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$mbuild/build.log" 2>&1; then
		cat "$mbuild/build.log"
		rm -rf "$mbuild"
		die "smem_test_mod.ko does not build"
	fi
	if grep -E 'warning:|WARNING:' "$mbuild/build.log"; then
		rm -rf "$mbuild"
		die "smem_test_mod.ko builds with warnings"
	fi
	"${CROSS}strip" --strip-debug -o "$MODKO.tmp" "$mbuild/smem_test_mod.ko"
	mv "$MODKO.tmp" "$MODKO"
	rm -rf "$mbuild"
fi

# Drop what belongs to other kernel releases or older module sources.
for old in "$CACHE"/kernel-* "$CACHE"/headers-* "$CACHE"/module/smem_test_mod-*.ko \
	"$CACHE"/module/build.* "$DEBS"/linux-*.deb; do
	[ -e "$old" ] || continue
	case "$old" in
	"$KDIR" | "$HDIR" | "$MODKO" | "$CACHE/kernel-release") ;;
	"$DEBS"/linux-*"${KABI}"[-_]*) ;;
	*) rm -rf "$old" ;;
	esac
done
flock -u 9
exec 9>&-
note "kernel, modules, busybox and smem_test_mod.ko ready"

# --------------------------------------------------------------------------
# Work directory, device tree and initramfs
# --------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smemkit-interop.XXXXXX")
cleanup() {
	local pidfile pid
	# QEMUs still running (an interrupted run): stop them by their own pid.
	# The pid must still be a QEMU of this run, not a reused number.
	for pidfile in "$WORK"/*.pid; do
		[ -s "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		if grep -qF "$WORK" "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
		fi
	done
	if [ "${SMEMKIT_INTEROP_KEEP:-0}" = 1 ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

QEMU_MACHINE=(-M virt -cpu cortex-a57 -smp 1 -m 512)

# QEMU's own DT for this machine, plus the SMEM region and the TCSR mutex.
# Both ranges are plain RAM kept out of the linear map ("no-map"): the drivers
# ioremap them. The mutex is RAM too, so a trylock (write 1, read back 1)
# always succeeds: enough for one operating system.
qemu-system-aarch64 "${QEMU_MACHINE[@]}" -machine dumpdtb="$WORK/virt.dtb" -display none -nic none \
	>"$WORK/dumpdtb.log" 2>&1 || { cat "$WORK/dumpdtb.log"; die "qemu-system-aarch64 could not dump its DT"; }
dtc -q -I dtb -O dts -o "$WORK/virt.dts" "$WORK/virt.dtb"
cat >>"$WORK/virt.dts" <<EOF

/ {
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;

		smem@${BASE#0x} {
			compatible = "qcom,smem";
			reg = <0x0 $BASE 0x0 $(printf '0x%x' "$SIZE_BYTES")>;
			no-map;
			hwlocks = <&tcsr_mutex 3>;
		};

		tcsr-mutex-ram@5f000000 {
			reg = <0x0 0x5f000000 0x0 0x20000>;
			no-map;
		};
	};

	tcsr_mutex: hwlock@5f000000 {
		compatible = "qcom,tcsr-mutex";
		reg = <0x0 0x5f000000 0x0 0x20000>;
		#hwlock-cells = <1>;
	};
};
EOF
dtc -q -I dts -O dtb -o "$WORK/smem-virt.dtb" "$WORK/virt.dts"

# The initramfs shared by all cases; each case appends a small archive with
# its /etc/smemtest.conf (the kernel unpacks concatenated archives in order).
ROOT=$WORK/initramfs
mkdir -p "$ROOT"/{bin,dev,proc,sys,etc,lib/modules}
cp "$BBDIR/busybox" "$ROOT/bin/busybox"
for applet in sh mount insmod dmesg grep sed cat sleep poweroff; do
	ln -s busybox "$ROOT/bin/$applet"
done
cp "$SRCDIR/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init" "$ROOT/bin/busybox"
cp "$KDIR"/modules/*.ko "$ROOT/lib/modules/"
cp "$MODKO" "$ROOT/lib/modules/smem_test_mod.ko"
(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$WORK/base.cpio.gz"

# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

# Little-endian field access on an image file.
rd_u32() { od -An -v -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }
rd_u16() { od -An -v -tu2 -j "$2" -N 2 "$1" | tr -d ' '; }
wr_bytes() { # FILE OFFSET BYTE... (hex)
	local file=$1 off=$2 fmt=""
	shift 2
	for b in "$@"; do fmt+="\\x$b"; done
	# shellcheck disable=SC2059 # the format is the data
	printf "$fmt" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}
wr_u32() {
	local v=$3
	wr_bytes "$1" "$2" "$(printf %02x $((v & 255)))" "$(printf %02x $((v >> 8 & 255)))" \
		"$(printf %02x $((v >> 16 & 255)))" "$(printf %02x $((v >> 24 & 255)))"
}
wr_u16() {
	wr_bytes "$1" "$2" "$(printf %02x $(($3 & 255)))" "$(printf %02x $(($3 >> 8 & 255)))"
}

# Offset of the partition with hosts H0:H1 in a version 12 image.
partition_offset() { # IMAGE H0 H1
	local img=$1 toc=$((SIZE_BYTES - 4096)) n i e
	n=$(rd_u32 "$img" $((toc + 8)))
	for ((i = 0; i < n; i++)); do
		e=$((toc + 32 + 48 * i))
		if [ "$(rd_u16 "$img" $((e + 12)))" = "$2" ] && [ "$(rd_u16 "$img" $((e + 14)))" = "$3" ]; then
			rd_u32 "$img" "$e"
			return 0
		fi
	done
	return 1
}

# `smemctl ls --json` has one object per item; pick one, then a field of it.
ls_entry() { # JSON ITEM PARTITION
	printf '%s\n' "$1" | sed 's/},{/}\n{/g' | grep -F "\"item\":$2," | grep -F "\"partition\":\"$3\"" |
		head -n 1 || true
}
json_field() { # OBJECT KEY
	printf '%s\n' "$1" | sed -n "s/.*\"$2\":\(-\{0,1\}[0-9][0-9]*\|true\|false\).*/\1/p"
}

make_good() { # NAME VERSION ID REV SERIAL BUILD_ID CHIP_ID
	local name=$1 v=$2 img=$WORK/$1.img
	"$SMEMCTL" format --version "$v" --size "$SIZE" "$img" >/dev/null
	"$MKSOCINFO" socinfo --fmt 15 --id "$3" --ver "$4" --serial "$5" --build-id "$6" \
		--chip-id "$7" --raw-id 0x0123 --raw-ver 0x4567 >"$WORK/$name.socinfo"
	"$MKSOCINFO" image-versions "0=$name-boot:SMEMKIT-BOOT:oem-boot" "1=$name-tz::" \
		"10=$name-apps:LA.UM:oem-apps" >"$WORK/$name.images"
	"$SMEMCTL" alloc --item 137 --host any --data "$WORK/$name.socinfo" "$img" >/dev/null
	"$SMEMCTL" alloc --item 469 --host any --data "$WORK/$name.images" "$img" >/dev/null
	# A 100-byte item, so that padding is exercised (v12 reports 100, v11 104).
	"$MKSOCINFO" pattern 0x30 100 >"$WORK/$name.479"
	"$SMEMCTL" alloc --item 479 --host any --data "$WORK/$name.479" "$img" >/dev/null
	if [ "$v" = 12 ]; then
		# The apps-modem partition: one uncached item written by apps and one
		# cached item written by the modem, as remote processors do.
		"$SMEMCTL" alloc --item 479 --host 1 --data "$WORK/$name.479" "$img" >/dev/null
		"$SMEMCTL" alloc --item 481 --host 0 --as 1 --cached --hex 0102030405 "$img" >/dev/null
	fi
}

note "writing the images"
# Good images: what we write, the guest must show.
declare -A WANT
make_good good-v12 12 321 2.1 3203386110 SMEMKIT-V12-BUILD-0042 SMEMKIT-CHIP-V12
WANT[good-v12 soc_id]=321 WANT[good-v12 machine]=SDM845 WANT[good-v12 revision]=2.1
WANT[good-v12 serial_number]=3203386110 WANT[good-v12 build_id]=SMEMKIT-V12-BUILD-0042
WANT[good-v12 chip_id]=SMEMKIT-CHIP-V12
make_good good-v11 11 339 1.2 12648430 SMEMKIT-V11-BUILD-0007 SMEMKIT-CHIP-V11
WANT[good-v11 soc_id]=339 WANT[good-v11 machine]=SM8150 WANT[good-v11 revision]=1.2
WANT[good-v11 serial_number]=12648430 WANT[good-v11 build_id]=SMEMKIT-V11-BUILD-0007
WANT[good-v11 chip_id]=SMEMKIT-CHIP-V11

# Damaged images: each breaks one rule the driver checks. Columns: what the
# driver log must say ('|' separates several required messages), whether
# smem itself still binds, and smemctl fsck's expected exit code (1 = damaged
# format; 0 = a valid image that just lacks socinfo).
declare -A REASON SMEM_BINDS FSCK_RC WHAT
damage() { # NAME FROM WHAT REASON SMEM_BINDS FSCK_RC
	cp "$WORK/$2.img" "$WORK/$1.img"
	WHAT[$1]=$3 REASON[$1]=$4 SMEM_BINDS[$1]=$5 FSCK_RC[$1]=$6
}
g12=$WORK/good-v12.img
sock137=$(json_field "$(ls_entry "$("$SMEMCTL" ls --json "$g12")" 137 global)" offset)
[ -n "$sock137" ] || die "smemctl ls --json does not list item 137 in the global partition of good-v12"
glob_off=$(partition_offset "$g12" 65534 65534) || die "good-v12 has no global partition"
p01_off=$(partition_offset "$g12" 0 1) || die "good-v12 has no 0:1 partition"
p01_size=$(rd_u32 "$g12" $((p01_off + 8)))

damage uninit good-v12 "header initialized = 0" \
	"SMEM is not initialized by SBL" no 1
wr_u32 "$WORK/uninit.img" 192 0
damage version13 good-v12 "SBL version[7] = 13 << 16" \
	"Unsupported SMEM version 0xd0000" no 1
wr_u32 "$WORK/version13.img" 92 $((13 << 16))
damage bad-magic good-v12 "global partition magic \$PRX" \
	"bad partition magic 24 50 52 58" no 1
wr_bytes "$WORK/bad-magic.img" "$glob_off" 24 50 52 58
damage free-uncached good-v12 "0:1 partition offset_free_uncached = size + 8" \
	"bad partition free uncached ($((p01_size + 8)) > $p01_size)" no 1
wr_u32 "$WORK/free-uncached.img" $((p01_off + 12)) $((p01_size + 8))
damage bad-canary good-v12 "canary of the item-137 entry = 0xa55a" \
	"Found invalid canary in hosts 65534:65534 partition|Couldn't find socinfo" yes 1
wr_bytes "$WORK/bad-canary.img" $((sock137 - 16)) a5 5a
# The 6.12 driver meets this with a WARN_ON in qcom_smem_get().
damage past-heap good-v11 "v11 TOC entry 137 offset = region end - 64" \
	"WARNING: |at drivers/soc/qcom/smem.c|Couldn't find socinfo" yes 1
wr_u32 "$WORK/past-heap.img" $((208 + 137 * 16 + 4)) $((SIZE_BYTES - 64))
damage renumbered good-v12 "item-137 entry renumbered to 138" \
	"Couldn't find socinfo" yes 0
wr_u16 "$WORK/renumbered.img" $((sock137 - 14)) 138
BAD_CASES=(uninit version13 bad-magic free-uncached bad-canary past-heap renumbered)

# --------------------------------------------------------------------------
# Boots
# --------------------------------------------------------------------------

# What smem_test_mod does in each good image: look up every item we wrote,
# allocate 478 and fill it (and in the apps-modem partition for v12).
MOD_ARGS_V12="get_hosts=-1,-1,-1,1,1 get_items=137,469,479,479,481 alloc_hosts=-1,1 alloc_item=478 alloc_size=100"
MOD_ARGS_V11="get_hosts=-1,-1,-1 get_items=137,469,479 alloc_hosts=-1 alloc_item=478 alloc_size=100"

case_initrd() { # NAME DUMP IMAGE_VERSIONS MOD_ARGS
	local d=$WORK/conf-$1
	mkdir -p "$d/etc"
	printf 'SMEMTEST_CASE=%s\nSMEMTEST_DUMP=%s\nSMEMTEST_IMAGE_VERSIONS=%s\nSMEMTEST_MOD_ARGS="%s"\n' \
		"$1" "$2" "$3" "$4" >"$d/etc/smemtest.conf"
	(cd "$d" && printf 'etc\netc/smemtest.conf\n' | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$d.cpio.gz"
	cat "$WORK/base.cpio.gz" "$d.cpio.gz" >"$WORK/$1.initrd"
}

# Boot one case. The console goes to $name.log line by line; when the guest
# says "dump-ready", save the region over QMP (which also stops QEMU).
boot() { # NAME
	local name=$1 line started=$SECONDS
	: >"$WORK/$name.log"
	{
		rc=0
		timeout -k 10 "$QEMU_TIMEOUT" nice -n 10 qemu-system-aarch64 "${QEMU_MACHINE[@]}" \
			-display none -monitor none -serial stdio -nic none -no-reboot \
			-kernel "$KDIR/vmlinuz" -initrd "$WORK/$name.initrd" -dtb "$WORK/smem-virt.dtb" \
			-append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
			-device "loader,file=$WORK/$name.img,addr=$BASE,force-raw=on" \
			-qmp "unix:$WORK/$name.qmp,server=on,wait=off" -pidfile "$WORK/$name.pid" \
			</dev/null 2>"$WORK/$name.qemu-err" || rc=$?
		echo "$rc" >"$WORK/$name.qemu-rc"
	} | while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$WORK/$name.log"
		case "$line" in
		*"SMEMTEST: dump-ready"*)
			if "$QMP_PMEMSAVE" "$WORK/$name.qmp" "$BASE" "$SIZE_BYTES" "$WORK/$name.out" \
				>"$WORK/$name.qmp-log" 2>&1; then
				echo 0 >"$WORK/$name.dump-rc"
			else
				echo 1 >"$WORK/$name.dump-rc"
			fi
			;;
		esac
	done
	sed -n 's/^.*\(SMEMTEST: \)/\1/p' "$WORK/$name.log" >"$WORK/$name.out-lines"
	echo $((SECONDS - started)) >"$WORK/$name.secs"
}

case_initrd good-v12 1 1 "$MOD_ARGS_V12"
case_initrd good-v11 1 1 "$MOD_ARGS_V11"
for c in "${BAD_CASES[@]}"; do
	case_initrd "$c" 0 0 ""
done

ALL_CASES=(good-v12 good-v11 "${BAD_CASES[@]}")
note "booting ${#ALL_CASES[@]} guests, $JOBS at a time"
for c in "${ALL_CASES[@]}"; do
	: >"$WORK/$c.out-lines"
	while [ "$(jobs -pr | wc -l)" -ge "$JOBS" ]; do
		wait -n || true
	done
	boot "$c" &
done
wait
note "all guests done"

# --------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------

FAILED=0
PASSED_CASES=0
FAILED_CASES=0
case_failed=0

mismatch() {
	echo "  MISMATCH: $*"
	case_failed=1
}

# The value of "SMEMTEST: KEY=VALUE" in a case's output (KEY is a sed regex).
value() { # NAME KEY
	sed -n "s|^SMEMTEST: $2=||p" "$WORK/$1.out-lines" | head -n 1
}
has_line() { # NAME LINE
	grep -qxF -- "$2" "$WORK/$1.out-lines"
}

show_console() { # NAME
	echo "  --- console of $1 (last 60 lines) ---"
	tail -n 60 "$WORK/$1.log" | sed 's/^/  | /'
	[ ! -s "$WORK/$1.qemu-err" ] || sed 's/^/  | qemu: /' "$WORK/$1.qemu-err"
	echo "  ---"
}

booted_ok() { # NAME: the guest ran init to the end (or to the dump)
	if ! has_line "$1" "SMEMTEST: case $1"; then
		mismatch "$1: the guest never ran init (QEMU exit $(cat "$WORK/$1.qemu-rc" 2>/dev/null || echo '?'))"
		return 1
	fi
	for m in qcom_hwspinlock smem socinfo; do
		has_line "$1" "SMEMTEST: insmod $m ok" || mismatch "$1: insmod $m failed"
	done
	has_line "$1" "SMEMTEST: bound qcom_hwspinlock 5f000000.hwlock" ||
		mismatch "$1: qcom_hwspinlock did not bind the TCSR mutex"
	return 0
}

# Compare what the driver saw of ITEM with what smemctl says about IMAGE.
check_item() { # NAME IMAGE JSON HOST ITEM PARTITION
	local name=$1 img=$2 json=$3 host=$4 item=$5 part=$6 line obj want_off want_size got want_head
	line=$(grep -F "SMEMTEST: mod get host=$host item=$item " "$WORK/$name.out-lines" | head -n 1 || true)
	obj=$(ls_entry "$json" "$item" "$part")
	if [ -z "$line" ] || [ -z "$obj" ] || [[ $line == *err=* ]]; then
		mismatch "$name: item $item host $host: driver says '${line#SMEMTEST: mod }', smemctl says '$obj'"
		return
	fi
	want_off=$(printf '0x%x' "$(json_field "$obj" offset)")
	want_size=$(json_field "$obj" size)
	got=${line#*size=}
	[ "${got%% *}" = "$want_size" ] ||
		mismatch "$name: item $item host $host: driver size ${got%% *}, smemctl size $want_size"
	got=${line#*offset=}
	[ "${got%% *}" = "$want_off" ] ||
		mismatch "$name: item $item host $host: driver offset ${got%% *}, smemctl offset $want_off"
	"$SMEMCTL" get --item "$item" --host "$( [ "$host" = -1 ] && echo any || echo "$host")" --raw \
		"$img" >"$WORK/$name.get-$item-$host"
	want_head=$(head -c 32 "$WORK/$name.get-$item-$host" | od -An -v -tx1 | tr -d ' \n')
	[ "${line#*head=}" = "$want_head" ] ||
		mismatch "$name: item $item host $host: driver reads ${line#*head=}, smemctl reads $want_head"
}

# Item 478 as Linux allocated it, read back from the saved region.
check_alloc() { # NAME JSON HOST PARTITION WANT_SIZE SEED
	local name=$1 json=$2 host=$3 part=$4 want_size=$5 seed=$6 line obj got off hostarg
	line=$(grep -F "SMEMTEST: mod fill host=$host item=478 " "$WORK/$name.out-lines" | head -n 1 || true)
	if [ -z "$line" ]; then
		mismatch "$name: Linux did not allocate and fill item 478 for host $host: $(grep -F "host=$host item=478" "$WORK/$name.out-lines" | tr '\n' ' ')"
		return
	fi
	got=${line#*size=}
	got=${got%% *}
	[ "$got" = "$want_size" ] || mismatch "$name: qcom_smem_get(478) after alloc reports $got bytes, expected $want_size"
	off=${line#*offset=}
	off=${off%% *}
	obj=$(ls_entry "$json" 478 "$part")
	if [ -z "$obj" ]; then
		mismatch "$name: smemctl ls does not list item 478 in partition $part of the saved region"
		return
	fi
	[ "$(printf '0x%x' "$(json_field "$obj" offset)")" = "$off" ] ||
		mismatch "$name: item 478 in $part: Linux put it at $off, smemctl finds it at $(json_field "$obj" offset)"
	[ "$(json_field "$obj" size)" = "$want_size" ] ||
		mismatch "$name: item 478 in $part: smemctl size $(json_field "$obj" size), Linux size $want_size"
	hostarg=$([ "$host" = -1 ] && echo any || echo "$host")
	"$MKSOCINFO" pattern "$seed" "$got" >"$WORK/$name.want-478-$host"
	if ! "$SMEMCTL" get --item 478 --host "$hostarg" --raw "$WORK/$name.out" >"$WORK/$name.got-478-$host"; then
		mismatch "$name: smemctl get --item 478 --host $hostarg fails on the saved region"
	elif ! cmp -s "$WORK/$name.want-478-$host" "$WORK/$name.got-478-$host"; then
		mismatch "$name: item 478 host $host: smemctl reads $(od -An -v -tx1 "$WORK/$name.got-478-$host" | tr -d ' \n' | cut -c1-64)..., Linux's pattern is $(od -An -v -tx1 "$WORK/$name.want-478-$host" | tr -d ' \n' | cut -c1-64)..."
	else
		echo "  reverse: item 478 in $part at $off, $got bytes, read back exactly"
	fi
}

check_good() { # NAME VERSION
	local name=$1 v=$2 key want got json out_json glob
	echo "== $name: smemctl wrote it (version $v), Linux reads it, Linux allocates in it"
	booted_ok "$name" || return 0
	has_line "$name" "SMEMTEST: bound qcom-smem 50000000.smem" || mismatch "$name: qcom-smem did not bind"
	has_line "$name" "SMEMTEST: bound qcom-socinfo none" && mismatch "$name: qcom-socinfo did not bind"
	for key in soc_id machine revision serial_number; do
		want=${WANT[$name $key]}
		got=$(value "$name" "soc0/$key")
		[ "$got" = "$want" ] || mismatch "$name: /sys/devices/soc0/$key: wrote '$want', driver shows '$got'"
	done
	for key in build_id chip_id; do
		want=${WANT[$name $key]}
		got=$(value "$name" "debugfs/$key")
		[ "$got" = "$want" ] || mismatch "$name: debugfs qcom_socinfo/$key: wrote '$want', driver shows '$got'"
	done
	got=$(value "$name" debugfs/info_fmt)
	[ "$got" = 0x0000000f ] || mismatch "$name: debugfs qcom_socinfo/info_fmt: wrote 0x0000000f, driver shows '$got'"
	got=$(value "$name" debugfs/raw_version)
	[ "$got" = $((0x4567)) ] || mismatch "$name: debugfs qcom_socinfo/raw_version: wrote $((0x4567)), driver shows '$got'"
	for want in "boot/name=$name-boot" "boot/variant=SMEMKIT-BOOT" "boot/oem=oem-boot" \
		"tz/name=$name-tz" "apps/name=$name-apps" "apps/variant=LA.UM" "apps/oem=oem-apps"; do
		got=$(value "$name" "debugfs/${want%%=*}")
		[ "$got" = "${want#*=}" ] ||
			mismatch "$name: debugfs qcom_socinfo/${want%%=*} (item 469): wrote '${want#*=}', driver shows '$got'"
	done

	# smemctl's own decoder must read item 137 and 469 as the driver does.
	"$SMEMCTL" decode "$WORK/$name.img" >"$WORK/$name.decode"
	for key in id:soc0/soc_id ver:soc0/revision serial_num:soc0/serial_number \
		build_id:debugfs/build_id chip_id:debugfs/chip_id boot.name:debugfs/boot/name \
		boot.oem:debugfs/boot/oem apps.variant:debugfs/apps/variant; do
		want=$(value "$name" "${key#*:}")
		got=$(sed -n "s/^  ${key%%:*}  *//p" "$WORK/$name.decode" | head -n 1)
		[ "$got" = "$want" ] ||
			mismatch "$name: smemctl decode says ${key%%:*}='$got', the driver's ${key#*:} is '$want'"
	done

	# Every item as the driver sees it, against smemctl's view of the same image.
	json=$("$SMEMCTL" ls --json "$WORK/$name.img")
	glob=$([ "$v" = 12 ] && echo global || echo heap)
	check_item "$name" "$WORK/$name.img" "$json" -1 137 "$glob"
	check_item "$name" "$WORK/$name.img" "$json" -1 469 "$glob"
	check_item "$name" "$WORK/$name.img" "$json" -1 479 "$glob"
	if [ "$v" = 12 ]; then
		check_item "$name" "$WORK/$name.img" "$json" 1 479 0:1
		check_item "$name" "$WORK/$name.img" "$json" 1 481 0:1
	fi
	has_line "$name" "SMEMTEST: mod realloc host=-1 item=137 ret=-17" ||
		mismatch "$name: qcom_smem_alloc(137) should be -EEXIST: $(grep -F 'mod realloc' "$WORK/$name.out-lines" || echo 'no answer')"

	# The region as Linux left it.
	if [ "$(cat "$WORK/$name.dump-rc" 2>/dev/null || echo none)" != 0 ]; then
		mismatch "$name: QMP pmemsave failed: $(cat "$WORK/$name.qmp-log" 2>/dev/null || echo 'the guest never got to dump-ready')"
		return 0
	fi
	[ "$(stat -c %s "$WORK/$name.out")" = "$SIZE_BYTES" ] || mismatch "$name: the saved region is not $SIZE_BYTES bytes"
	if ! out_json=$("$SMEMCTL" ls --json "$WORK/$name.out"); then
		mismatch "$name: smemctl ls fails on the region Linux wrote"
		return 0
	fi
	if [ "$v" = 12 ]; then
		check_alloc "$name" "$out_json" -1 global 100 0xa0
		check_alloc "$name" "$out_json" 1 0:1 100 0xb1
	else
		# The v11 TOC keeps only the 8-aligned size, so Linux reports 104.
		check_alloc "$name" "$out_json" -1 heap 104 0xa0
	fi
	# Nothing else moved: socinfo reads back as written.
	"$SMEMCTL" get --item 137 --host any --raw "$WORK/$name.out" >"$WORK/$name.out-137" || true
	cmp -s "$WORK/$name.out-137" "$WORK/$name.socinfo" ||
		mismatch "$name: item 137 in the saved region differs from what we wrote"
	if ! "$SMEMCTL" fsck "$WORK/$name.out" >"$WORK/$name.fsck" 2>&1; then
		mismatch "$name: smemctl fsck finds the region Linux wrote unclean: $(tr '\n' ' ' <"$WORK/$name.fsck")"
	fi
	has_line "$name" "SMEMTEST: mod done ok" || mismatch "$name: smem_test_mod reported a failure"
}

check_bad() { # NAME
	local name=$1 reasons rc=0 needle needles
	echo "== $name: ${WHAT[$name]}"
	booted_ok "$name" || return 0
	# The drivers' own messages (and a WARNING's first line), not the stack.
	reasons=$(sed -n 's/^SMEMTEST: dmesg //p' "$WORK/$name.out-lines" |
		grep -e '^qcom' -e '^WARNING:' || true)
	if [ "${SMEM_BINDS[$name]}" = yes ]; then
		has_line "$name" "SMEMTEST: bound qcom-smem 50000000.smem" ||
			mismatch "$name: qcom-smem should bind, only socinfo should fail"
	else
		has_line "$name" "SMEMTEST: bound qcom-smem none" || mismatch "$name: qcom-smem accepted the image"
	fi
	has_line "$name" "SMEMTEST: bound qcom-socinfo none" || mismatch "$name: qcom-socinfo bound"
	grep -q '^SMEMTEST: soc[0-9]*/soc_id=' "$WORK/$name.out-lines" &&
		mismatch "$name: a Snapdragon soc device exists: soc_id=$(value "$name" 'soc[0-9]*/soc_id')"
	IFS='|' read -ra needles <<<"${REASON[$name]}"
	for needle in "${needles[@]}"; do
		grep -qF -- "$needle" <<<"$reasons" || mismatch "$name: the driver log lacks '$needle'"
	done
	printf '%s\n' "$reasons" | sed 's/^/  driver: /'

	"$SMEMCTL" fsck "$WORK/$name.img" >"$WORK/$name.fsck" 2>&1 || rc=$?
	if [ "$rc" != "${FSCK_RC[$name]}" ]; then
		mismatch "$name: smemctl fsck exit $rc, expected ${FSCK_RC[$name]}: $(head -n 3 "$WORK/$name.fsck" | tr '\n' ' ')"
	fi
	echo "  smemctl fsck (exit $rc): $(head -n 2 "$WORK/$name.fsck" | tr '\n' ' ')"
}

verdict() { # NAME
	local secs
	secs=$(cat "$WORK/$1.secs" 2>/dev/null || echo '?')
	if [ "$case_failed" = 0 ]; then
		echo "  PASS $1 (guest ${secs}s)"
		PASSED_CASES=$((PASSED_CASES + 1))
	else
		show_console "$1"
		echo "  FAIL $1 (guest ${secs}s)"
		FAILED_CASES=$((FAILED_CASES + 1))
		FAILED=1
	fi
	case_failed=0
}

for c in good-v12 good-v11; do
	check_good "$c" "${c#good-v}"
	grep '^SMEMTEST: ' "$WORK/$c.out-lines" | grep -v -e '^SMEMTEST: dmesg' -e 'insmod' | sed 's/^/  /'
	verdict "$c"
done
for c in "${BAD_CASES[@]}"; do
	check_bad "$c"
	verdict "$c"
done

note "interop: $PASSED_CASES passed, $FAILED_CASES failed"
if [ "$FAILED" != 0 ]; then
	echo "FAIL: the Linux driver and smemkit disagree (see MISMATCH lines above)"
	exit 1
fi
echo "PASS: the Linux qcom_smem driver and smemkit agree in both directions"
