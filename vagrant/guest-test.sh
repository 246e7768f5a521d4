#!/bin/bash
# Runs inside the guest as root: the guest test tier through the same guest
# entry as `pemove vm` (python -m pemove.vm.guest), which finds the disks by
# serial, loads the module built by provision.sh, sets the environment
# docs/HACKING.md promises, runs pytest, unloads the module and checks that
# it is gone, and writes dmesg.txt and status.json.
#
#   guest-test.sh [PYTEST_ARGS...]
#
# Results (JUnit XML, dmesg.txt, status.json, anything the tests write) go
# to $PEMOVE_RESULTS, /home/vagrant/results by default.  Exit status:
# pytest's, or 6 (VM_FAILED) when the guest could not be prepared or the
# module would not unload after the tests passed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results=${PEMOVE_RESULTS:-/home/vagrant/results}

ko=
for f in "$top"/kmod/pemove.ko "$top"/kmod/*.ko; do
	[ -f "$f" ] && { ko=$f; break; }
done
[ -n "$ko" ] || { echo "guest-test: no module in $top/kmod; run the build provisioner" >&2; exit 1; }

rm -rf "$results"
mkdir -p "$results"
cd "$top"
# provision.sh installed the package, and its `pemove` command, in a venv.
python=/home/vagrant/venv/bin/python
path=()
if [ -x "$python" ]; then
	path=(--path "$(dirname "$python")")
else
	echo "guest-test: $python missing; the tests that run the pemove command will fail" >&2
	python=python3
	export PYTHONPATH=$top/pyclient${PYTHONPATH:+:$PYTHONPATH}
fi
echo "guest-test: $(uname -r), module $ko"
# The extra disks carry serials pemove-d0, pemove-d1, ... (see the
# Vagrantfile); --disks all takes every one of them, in that order.
exec "$python" -m pemove.vm.guest --results "$results" --disks all --ko "$ko" \
	"${path[@]}" -- "$python" -m pytest tests/guest -v \
	--junitxml="$results/junit.xml" "$@"
