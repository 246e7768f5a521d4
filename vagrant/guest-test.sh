#!/bin/bash
# Runs inside the guest as root: load the module built by provision.sh and
# run the guest test tier with the environment docs/HACKING.md promises.
#
#   guest-test.sh [PYTEST_ARGS...]
#
# Results (JUnit XML, anything the tests write) go to $PEMOVE_RESULTS,
# /home/vagrant/results by default.  Exit status: pytest's.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results=${PEMOVE_RESULTS:-/home/vagrant/results}

ko=
for f in "$top"/kmod/pemove.ko "$top"/kmod/*.ko; do
	[ -f "$f" ] && { ko=$f; break; }
done
[ -n "$ko" ] || { echo "guest-test: no module in $top/kmod; run the build provisioner" >&2; exit 1; }

# The extra disks carry serials pemove-d0, pemove-d1, ... (see the
# Vagrantfile); by-id names keep their order whatever the kernel calls them.
disks=()
for i in $(seq 0 63); do
	link=/dev/disk/by-id/virtio-pemove-d$i
	[ -e "$link" ] || break
	disks+=("$(readlink -f "$link")")
done
[ ${#disks[@]} -gt 0 ] || echo "guest-test: warning: no virtio-pemove-d* disks found" >&2

name=$(modinfo -F name "$ko" 2>/dev/null || basename "$ko" .ko)
if [ -d "/sys/module/$name" ]; then
	rmmod "$name"
fi
insmod "$ko"

rm -rf "$results"
mkdir -p "$results"
cd "$top"
export PEMOVE_GUEST=1 PEMOVE_KO=$ko PEMOVE_RESULTS=$results
PEMOVE_DISKS=$(IFS=:; echo "${disks[*]}")
export PEMOVE_DISKS
# provision.sh installed the package, and its `pemove` command, in a venv.
python=/home/vagrant/venv/bin/python
if ! [ -x "$python" ]; then
	echo "guest-test: $python missing; the tests that run the pemove command will fail" >&2
	python=python3
	export PYTHONPATH=$top/pyclient${PYTHONPATH:+:$PYTHONPATH}
fi
echo "guest-test: $(uname -r), module $ko, disks ${PEMOVE_DISKS:-none}"
rc=0
"$python" -m pytest tests/guest -v -p no:cacheprovider \
	--junitxml="$results/junit.xml" "$@" || rc=$?
dmesg >"$results/dmesg.txt" 2>&1 || true
exit $rc
