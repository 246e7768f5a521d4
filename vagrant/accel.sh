#!/bin/bash
# Print "kvm" if hardware virtualisation really works here, else "qemu"
# (libvirt's name for TCG).  The Vagrantfile picks its driver from this.
#
# /dev/kvm can exist while nested KVM is broken: QEMU then aborts ("failed
# to set MSR") or the guest hangs after decompression.  So the answer comes
# from a bounded boot: a Debian kernel from /boot, no root file system, must
# get as far as mounting root (and panicking, harmlessly) under KVM.
#
# The VM runner's probe (pyclient/pemove/vm/accel.py) decides, so both
# tiers agree; a minimal probe of the same kind stands in if that cannot
# be run.  Either answer is cached per host kernel and QEMU version.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

runner_answer() {
	# The VM runner's probe (pemove.vm.accel) answers kvm or tcg and keeps
	# its own cache; map tcg to libvirt's name, qemu.
	local a
	[ -f "$TOP/pyclient/pemove/vm/accel.py" ] || return 1
	a=$(PYTHONPATH=$TOP/pyclient timeout 120 python3 - 2>/dev/null <<-'EOF'
		from pathlib import Path
		from pemove.vm import accel
		answer = accel.cached(accel.cache_key())
		if answer is None:
		    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
		    answer = accel.choose("auto", kernels[-1]) if kernels else "tcg"
		print(answer)
	EOF
	) || return 1
	case $a in
	kvm) echo kvm ;;
	tcg) echo qemu ;;
	*) return 1 ;;
	esac
}

probe() {
	local kernel qemu=qemu-system-x86_64 log
	if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ] || ! command -v $qemu >/dev/null; then
		echo qemu
		return
	fi
	for kernel in /boot/vmlinuz-*; do break; done
	[ -f "$kernel" ] || { echo qemu; return; }
	log=$(timeout 30 $qemu -accel kvm -cpu host -m 256 -smp 1 -nodefaults \
		-display none -serial stdio -no-reboot -kernel "$kernel" \
		-append 'console=ttyS0 panic=-1 root=/dev/nonexistent' 2>&1)
	if grep -qE 'VFS: |Kernel panic|Freeing unused kernel' <<<"$log"; then
		echo kvm
	else
		echo qemu
	fi
}

key="$(uname -r) $(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
cache=$CACHE/accel
if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "$key" ]; then
	tail -n 1 "$cache"
	exit 0
fi
answer=$(runner_answer) || answer=$(probe)
mkdir -p "$CACHE" && printf '%s\n%s\n' "$key" "$answer" >"$cache"
[ "$answer" = kvm ] || say "KVM does not work here; using TCG (driver qemu)"
echo "$answer"
