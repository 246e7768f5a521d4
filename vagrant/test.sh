#!/bin/bash
# `make vagrant-test`: run the guest test tier in a Debian 12 VM brought up
# by Vagrant (libvirt provider), confined to a network namespace.
#
#   vagrant/test.sh [PYTEST_ARGS...]
#
# In order: install vagrant/libvirt if missing, build the box if missing or
# stale (box.sh), create a network namespace, and inside it (sandbox.sh) run
# a private libvirtd, `vagrant up`, the tests, `vagrant destroy -f`.  The
# guest's JUnit XML, dmesg, console and logs land in results/vagrant/.
#
# Whatever happens, the namespace and every process in it (libvirtd,
# virtlogd, dnsmasq, QEMU, all started here) are gone when this returns, and
# so is libvirt's state for the run.  Exit status: the guest pytest's, or 6
# when the VM could not be built, booted or reached.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

VM_FAILED=6
[ "$(id -u)" -eq 0 ] || die "run as root: it starts libvirtd and creates a network namespace"

results=$TOP/results/vagrant
ns=pemove-vagrant-$$
state=
t0=$(now)

need_packages vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients \
	qemu-system-x86 qemu-utils dnsmasq-base iptables rsync openssh-client ||
	exit $VM_FAILED
"$VAGRANT_DIR/box.sh" || exit $VM_FAILED
t1=$(now)
driver=$("$VAGRANT_DIR/accel.sh")

# The volumes of a run's VM, which `vagrant destroy` normally removes.  The
# domain is the Vagrantfile's default_prefix "pemove" plus the machine's
# name, and its volumes are named after it (pemovedefault.img,
# pemovedefault-vdb.raw, ...); the box's own volume is not among them.
remove_run_volumes() {
	rm -f "$IMAGES"/pemovedefault*
}

# shellcheck disable=SC2317 # the two functions are called by the EXIT trap
# Kill what is left in the namespace: by construction, only processes this
# run started.  Polite first, then firm.
kill_namespace() {
	local pids sig
	for sig in TERM KILL; do
		pids=$(ip netns pids "$ns" 2>/dev/null) || return 0
		[ -n "$pids" ] || return 0
		# shellcheck disable=SC2086 # a list of pids
		kill -s $sig $pids 2>/dev/null
		for _ in $(seq 50); do
			[ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && return 0
			sleep 0.2
		done
	done
}

# shellcheck disable=SC2317
cleanup() {
	local rc=$?
	# A second signal must not cut the cleanup short: on SIGTERM, make
	# sends its own SIGTERM to this script after the process group's one.
	trap '' INT TERM
	trap - EXIT
	if ip netns list | grep -qw "$ns"; then
		kill_namespace
		ip netns del "$ns"
	fi
	if [ -n "$state" ]; then
		rm -rf "$state"
		remove_run_volumes	# had `vagrant destroy` not done it
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE"
# One run at a time: runs share the box's volume and the domain's name.
exec 9>"$CACHE/run.lock"
flock -n 9 || die "another vagrant-test is running (lock $CACHE/run.lock)"
# A run killed outright (SIGKILL, power loss) had no chance to clean up, and
# `vagrant up` refuses to reuse a volume it finds.
remove_run_volumes
rm -rf "$results"
mkdir -p "$results"
state=$(mktemp -d "$CACHE/run.XXXXXX")
chmod 755 "$state"	# QEMU runs as libvirt-qemu and must reach its images
ip netns add "$ns" || die "ip netns add $ns failed"
say "network namespace $ns, driver $driver, state in $state"

# In the background, so that a signal to this script runs the cleanup at
# once: bash defers traps while a foreground child runs.
rc=0
nsenter --net="/run/netns/$ns" unshare --mount --propagation private \
	"$VAGRANT_DIR/sandbox.sh" "$state" "$results" "$driver" "$@" &
wait $! || rc=$?
t2=$(now)
say "box $((t1 - t0))s, VM and tests $((t2 - t1))s, whole flow $((t2 - t0))s; exit $rc"
say "results in $results"
exit $rc
