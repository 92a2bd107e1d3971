#!/bin/sh
# /init of the interop test guest (busybox sh). It loads the real Qualcomm
# drivers against the SMEM region that QEMU preloaded, prints what they made
# of it as "SMEMTEST: ..." lines on the console, and then either powers off or
# (SMEMTEST_DUMP=1) loads smem_test_mod, prints its report and waits for the
# host to save the region and stop QEMU.
#
# /etc/smemtest.conf (appended to the initramfs per test case) sets:
#   SMEMTEST_CASE            name of the case, echoed back
#   SMEMTEST_IMAGE_VERSIONS  1: read the item-469 debugfs files (the 6.12
#                            socinfo driver oopses on them if 469 is missing)
#   SMEMTEST_DUMP            1: load smem_test_mod with SMEMTEST_MOD_ARGS
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug

SMEMTEST_CASE=unknown
SMEMTEST_IMAGE_VERSIONS=0
SMEMTEST_DUMP=0
SMEMTEST_MOD_ARGS=
# shellcheck disable=SC1091 # appended per case
. /etc/smemtest.conf

say() {
	echo "SMEMTEST: $*"
}

# Kernel log lines about the drivers under test, minus the timestamp.
driver_log() {
	dmesg | sed -n 's/^\[[ 0-9.]*\] //p' | grep -i -e smem -e socinfo -e hwspinlock -e hwlock
}

say "case $SMEMTEST_CASE"
for m in qcom_hwspinlock smem socinfo; do
	if insmod "/lib/modules/$m.ko"; then
		say "insmod $m ok"
	else
		say "insmod $m failed"
	fi
done

# Which devices each driver bound; probing is synchronous in insmod.
for drv in qcom_hwspinlock qcom-smem qcom-socinfo; do
	bound=none
	for dev in /sys/bus/platform/drivers/"$drv"/*; do
		[ -L "$dev" ] || continue
		case "${dev##*/}" in module) continue ;; esac
		bound="${dev##*/}"
	done
	say "bound $drv $bound"
done

# The soc device registered by socinfo (family Snapdragon).
for soc in /sys/bus/soc/devices/*; do
	[ -e "$soc/family" ] || continue
	[ "$(cat "$soc/family")" = Snapdragon ] || continue
	for attr in family machine soc_id revision serial_number; do
		[ -e "$soc/$attr" ] && say "${soc##*/}/$attr=$(cat "$soc/$attr")"
	done
done

dbg=/sys/kernel/debug/qcom_socinfo
if [ -d "$dbg" ]; then
	for f in info_fmt build_id chip_id raw_version nmodem_supported; do
		[ -e "$dbg/$f" ] && say "debugfs/$f=$(cat "$dbg/$f")"
	done
	if [ "$SMEMTEST_IMAGE_VERSIONS" = 1 ]; then
		for img in boot tz apps; do
			for f in name variant oem; do
				say "debugfs/$img/$f=$(cat "$dbg/$img/$f")"
			done
		done
	fi
else
	say "debugfs none"
fi

driver_log | while IFS= read -r line; do say "dmesg $line"; done

if [ "$SMEMTEST_DUMP" = 1 ]; then
	# shellcheck disable=SC2086 # the arguments are split on purpose
	if insmod /lib/modules/smem_test_mod.ko $SMEMTEST_MOD_ARGS; then
		say "insmod smem_test_mod ok"
	else
		say "insmod smem_test_mod failed"
	fi
	dmesg | sed -n 's/^.*smemtest: /SMEMTEST: mod /p'
	# The host saves the region over QMP and quits QEMU; power off on our
	# own only if that never happens.
	say "dump-ready"
	sleep 60
	say "no pmemsave within 60 s"
fi
say "done"
poweroff -f
