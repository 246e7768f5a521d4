#!/bin/bash
# Runs inside the guest as root (Vagrant's "build" provisioner): make sure
# the build dependencies are there, install the Python package and its
# `pemove` command in a venv, and build the module against the running
# kernel's own headers.
#
#   provision.sh PROJECT_DIR
#
# The venv (/home/vagrant/venv) sees Debian's cffi, pyudev, pytest and
# hypothesis (--system-site-packages), so the install needs no index.
#
# The local/bookworm box has every package preinstalled, because under
# `make vagrant-test` the guest cannot reach any mirror.  Another box may
# lack some; apt-get then fetches them, if the guest has a route out.
set -euo pipefail
top=${1:?usage: provision.sh PROJECT_DIR}
kver=$(uname -r)

packages=(
	"linux-headers-$kver" build-essential kmod
	python3 python3-venv python3-pip python3-setuptools python3-wheel
	python3-pytest python3-pytest-timeout python3-cffi
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

# Built as the owner of the synced tree, so a later rsync can replace it.
owner=$(stat -c %U "$top")
venv=$(getent passwd "$owner" | cut -d: -f6)/venv
echo "provision: installing $top into $venv"
runuser -u "$owner" -- python3 -m venv --system-site-packages "$venv"
runuser -u "$owner" -- "$venv/bin/pip" install -q --no-index --no-deps \
	--no-build-isolation -e "$top"

kdir=/lib/modules/$kver/build
[ -d "$kdir" ] || { echo "provision: $kdir missing" >&2; exit 1; }
echo "provision: building $top/kmod for $kver"
runuser -u "$owner" -- make -j"$(nproc)" -C "$top/kmod" KDIR="$kdir"
ls -l "$top"/kmod/*.ko
