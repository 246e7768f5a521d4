#!/bin/bash
# The part of `make vagrant-test` that runs inside the network namespace
# test.sh created, in a mount namespace of its own.  Do not run it directly.
#
#   sandbox.sh STATE_DIR RESULTS_DIR DRIVER [PYTEST_ARGS...]
#
# Here a private libvirtd and virtlogd keep all their state under STATE_DIR
# (bind-mounted over libvirt's fixed paths), so the networks, storage pool,
# volumes and domains Vagrant creates exist only in this run and vanish with
# it.  The management network's 192.168.121.0/24 lives on a bridge inside
# the namespace: invisible from the host, with no route out.
#
# Exit status: the guest pytest's, or 6 (pemove.exitcodes.VM_FAILED) when
# the VM could not be brought up or reached.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VM_FAILED=6
state=${1:?} results=${2:?} driver=${3:?}
shift 3

# -- private libvirt ---------------------------------------------------------
mount --make-rprivate / || die "cannot make the mount namespace private"
mount -t tmpfs -o mode=755 pemove-run /run || die "cannot mount a private /run"
for d in etc lib cache log; do mkdir -p "$state/$d"; done
# The daemons' configuration comes from the host; its definitions
# (networks, pools, domains under qemu/, storage/, secrets/) do not.
cp -a /etc/libvirt/*.conf "$state/etc/" 2>/dev/null
[ -d /etc/libvirt/nwfilter ] && cp -a /etc/libvirt/nwfilter "$state/etc/"
# The pool directory is the exception: the box's volume in it is kept
# between runs (box.sh drops it when the box changes), so `vagrant up`
# uploads the box only once.  Per-run volumes are removed by `vagrant
# destroy`, and by test.sh if that did not happen.
mkdir -p "$state/lib/images" "$IMAGES"
if ! mount --bind "$state/etc" /etc/libvirt ||
	! mount --bind "$state/lib" /var/lib/libvirt ||
	! mount --bind "$IMAGES" /var/lib/libvirt/images ||
	! mount --bind "$state/cache" /var/cache/libvirt ||
	! mount --bind "$state/log" /var/log/libvirt; then
	die "bind mounts failed"
fi
mkdir -p /run/libvirt /run/lock
ip link set lo up

virtlogd -d -p "$state/virtlogd.pid" || die "virtlogd did not start"
libvirtd -d -p "$state/libvirtd.pid" || die "libvirtd did not start"
for _ in $(seq 50); do
	virsh -q -c qemu:///system version >/dev/null 2>&1 && break
	sleep 0.2
done
virsh -q -c qemu:///system version >/dev/null 2>&1 ||
	die "libvirtd is not answering; see $state/log"

export VAGRANT_CWD=$VAGRANT_DIR
export VAGRANT_DOTFILE_PATH=$state/dot-vagrant
export PEMOVE_VAGRANT_DRIVER=$driver
export PEMOVE_VAGRANT_CONSOLE_LOG=$state/log/console.log
# The VM is reachable only from this namespace and destroyed at the end.
export PEMOVE_VAGRANT_KEEP_INSECURE_KEY=1
up_started=0

# shellcheck disable=SC2317 # called by the EXIT trap
stop_everything() {
	local rc=$? f
	trap '' INT TERM	# finish, whatever else arrives (see test.sh)
	trap - EXIT
	if [ "$up_started" -eq 1 ]; then
		cp -f "$PEMOVE_VAGRANT_CONSOLE_LOG" "$results/console.log" 2>/dev/null
		vagrant destroy -f >"$state/destroy.log" 2>&1 ||
			say "vagrant destroy failed; $state/destroy.log"
	fi
	for f in libvirtd virtlogd; do
		[ -f "$state/$f.pid" ] && kill "$(cat "$state/$f.pid")" 2>/dev/null
	done
	exit "$rc"
}
trap stop_everything EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prefix each line with the seconds since the VM phase began.
stamp() {
	local line
	while IFS= read -r line; do
		printf '[%4ds] %s\n' $(($(now) - t0)) "$line"
	done
}

# -- the VM ------------------------------------------------------------------
t0=$(now)
up_started=1
vagrant up --provider=libvirt --no-tty 2>&1 | stamp | tee "$results/vagrant-up.log" >&2
[ "${PIPESTATUS[0]}" -eq 0 ] || { say "vagrant up failed"; exit $VM_FAILED; }
t1=$(now)
say "vagrant up (boot, rsync, module build): $((t1 - t0))s"

ssh_cfg=$state/ssh_config
vagrant ssh-config >"$ssh_cfg" 2>/dev/null || { say "vagrant ssh-config failed"; exit $VM_FAILED; }
gssh() { ssh -F "$ssh_cfg" -o LogLevel=ERROR -o BatchMode=yes default "$@"; }

# ssh hands the remote shell one string: quote each pytest argument for it.
remote=(sudo /home/vagrant/pemove/vagrant/guest-test.sh)
[ $# -gt 0 ] && remote+=("$(printf '%q ' "$@")")
limit=${PEMOVE_VAGRANT_TEST_TIMEOUT:-3600}
rc=0
timeout "$limit" ssh -F "$ssh_cfg" -o LogLevel=ERROR -o BatchMode=yes default \
	"${remote[@]}" || rc=$?
t2=$(now)
say "guest tests: exit $rc in $((t2 - t1))s"
case $rc in
124) say "the guest tests did not finish within ${limit}s (PEMOVE_VAGRANT_TEST_TIMEOUT)" ;;
255) say "lost the SSH connection to the guest"; rc=$VM_FAILED ;;
esac
gssh sudo tar -C /home/vagrant/results -cf - . | tar -C "$results" -xf - ||
	say "could not copy the guest's results back"
[ -f "$results/junit.xml" ] || say "no JUnit XML came back from the guest"
exit $rc
