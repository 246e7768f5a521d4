#!/bin/bash
# Runs inside the guest as root (Vagrant's "build" provisioner): make sure
# the build dependencies are there and build the module against the running
# kernel's own headers.
#
#   provision.sh PROJECT_DIR
#
# The local/bookworm box has every package preinstalled, because under
# `make vagrant-test` the guest cannot reach any mirror.  Another box may
# lack some; apt-get then fetches them, if the guest has a route out.
set -euo pipefail
top=${1:?usage: provision.sh PROJECT_DIR}
kver=$(uname -r)

packages=(
	"linux-headers-$kver" build-essential kmod
	python3 python3-venv python3-pip python3-pytest python3-cffi
	python3-pyudev python3-hypothesis fio lvm2 dmsetup e2fsprogs
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "provision: installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
fi

kdir=/lib/modules/$kver/build
[ -d "$kdir" ] || { echo "provision: $kdir missing" >&2; exit 1; }
# Built as the owner of the synced tree, so a later rsync can replace it.
owner=$(stat -c %U "$top")
echo "provision: building $top/kmod for $kver"
runuser -u "$owner" -- make -j"$(nproc)" -C "$top/kmod" KDIR="$kdir"
ls -l "$top"/kmod/*.ko
