#!/bin/bash
# Build the Vagrant box local/bookworm for the libvirt provider, offline
# except for Debian's own packages, and add it to pemove's Vagrant home.
#
#   vagrant/box.sh [--force]
#
# The recipe: debootstrap bookworm into an ext4 file system on a loop
# device, make it bootable with extlinux, convert it to qcow2 and package
# box.img + metadata.json + Vagrantfile.  The guest gets everything the
# guest test tier needs preinstalled, because under `make vagrant-test` it
# has no route off this machine.
#
# The box is rebuilt only when it is missing or this script has changed
# (a hash of it is kept next to the box).  Needs root (debootstrap, loop).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Packages beyond debootstrap's minbase.  Kept in one place: the hash of
# this file decides whether a cached box is still current.
PACKAGES=(
	# boot, init, devices, network, login
	linux-image-amd64 initramfs-tools systemd-sysv udev kmod dbus
	iproute2 openssh-server sudo procps less
	# the guest tier and the module build (linux-headers-amd64 pulls the
	# headers of exactly the kernel linux-image-amd64 installs)
	linux-headers-amd64 build-essential
	python3 python3-venv python3-pip python3-setuptools python3-wheel
	python3-pytest python3-pytest-timeout python3-cffi python3-pyudev
	python3-hypothesis
	fio lvm2 dmsetup e2fsprogs util-linux rsync
)
DISK_GIB=10

force=0
[ "${1:-}" = --force ] && force=1

stamp_file=$CACHE/box.stamp
stamp=$(sha256sum "$VAGRANT_DIR/box.sh" | cut -d' ' -f1)

box_is_current() {
	[ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
		vagrant box list 2>/dev/null | grep -q "^$BOX_NAME "
}

need_packages vagrant debootstrap extlinux syslinux-common qemu-utils \
	e2fsprogs fdisk python3

if [ $force -eq 0 ] && box_is_current; then
	say "box $BOX_NAME is current (cached in $VAGRANT_HOME)"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "building the box needs root (debootstrap, loop devices)"

pubkey=$(insecure_pubkey) || die "vagrant's insecure public key not found; is vagrant installed?"
mirror=$(python3 "$VAGRANT_DIR/apt_mirror.py" "$BOX_SUITE") || exit 1
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr" ] || die "$mbr missing (package syslinux-common)"

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
loop=
root=$work/root

cleanup() {
	# Undo in reverse; each step tolerates the ones before it never
	# having happened, so this is safe from any point of failure.
	local m
	for m in var/cache/apt/archives dev/pts dev proc sys; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	mountpoint -q "$root" 2>/dev/null && umount "$root"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now)
say "building $BOX_NAME from $mirror in $work"

# One MBR partition from 1 MiB to the end, bootable.  The file system goes
# into it through a loop device with an offset, so no partition scanning
# (losetup -P) is needed.
img=$work/disk.raw
truncate -s "${DISK_GIB}G" "$img"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$img"
dd if="$mbr" of="$img" bs=440 count=1 conv=notrunc status=none
loop=$(losetup -f --show --offset $((2048 * 512)) "$img")
# extlinux 6.04 cannot read 64-bit or checksummed ext4 metadata.
mkfs.ext4 -q -L pemove-root -O ^64bit,^metadata_csum,^orphan_file "$loop"
uuid=$(blkid -s UUID -o value "$loop")
mkdir -p "$root"
mount "$loop" "$root"

# debootstrap lays down only minbase; apt in the chroot then installs the
# rest, because it orders and resolves dependencies where debootstrap's
# --include does not.  Downloaded .debs are kept so a rebuild is quicker.
mkdir -p "$CACHE/debs"
debootstrap --variant=minbase --cache-dir="$CACHE/debs" \
	"$BOX_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	cp -f "$root/debootstrap/debootstrap.log" "$CACHE/debootstrap.log" 2>/dev/null
	tail -n 30 "$work/debootstrap.log" >&2
	die "debootstrap failed (log above; details in $CACHE/debootstrap.log)"
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mkdir -p "$CACHE/archives"
mount --bind "$CACHE/archives" "$root/var/cache/apt/archives"
# Nothing installed in the chroot may start a daemon on the build host.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
echo "deb $mirror $BOX_SUITE main" >"$root/etc/apt/sources.list"
pkgs=$(printf '%s\n' "${PACKAGES[@]}" | grep -v '^#')
# shellcheck disable=SC2086 # one word per package
if ! in_root apt-get update -q >"$work/apt.log" 2>&1 ||
	! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $pkgs >>"$work/apt.log" 2>&1; then
	tail -n 30 "$work/apt.log" >&2
	die "installing the box's packages failed (log above)"
fi
umount "$root/var/cache/apt/archives"
rm -f "$root/usr/sbin/policy-rc.d"
t1=$(now)

# -- configuration ---------------------------------------------------------
echo pemove-bookworm >"$root/etc/hostname"
printf '127.0.1.1\tpemove-bookworm\n' >>"$root/etc/hosts"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$root/etc/fstab"

# DHCP on eth0 (the kernel is told net.ifnames=0) with systemd-networkd;
# any other wired NIC a provider adds is configured the same way.
cat >"$root/etc/systemd/network/50-dhcp.network" <<'EOF'
[Match]
Name=eth* en*

[Network]
DHCP=yes
EOF
# Vagrant connects by IP; one interface up is enough for boot to go on.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat >"$root/etc/systemd/system/systemd-networkd-wait-online.service.d/any.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=60
EOF

# Every VM made from the box gets its own host key and machine id.  One
# ed25519 key only: RSA key generation takes long under TCG.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate the SSH host key
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -N "" -t ed25519 -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=ssh.service
UNIT
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\n' \
	>"$root/etc/ssh/sshd_config.d/vagrant.conf"

in_root systemctl enable systemd-networkd ssh ssh-hostkeys >/dev/null 2>&1

# The vagrant user: the well-known insecure key (Vagrant swaps it for a
# fresh one on first `vagrant up`) and sudo without a password.
in_root useradd -m -s /bin/bash -U vagrant
install -d -m 700 -o "$(stat -c %u "$root/home/vagrant")" \
	-g "$(stat -c %g "$root/home/vagrant")" "$root/home/vagrant/.ssh"
install -m 600 -o "$(stat -c %u "$root/home/vagrant")" \
	-g "$(stat -c %g "$root/home/vagrant")" "$pubkey" \
	"$root/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"

# -- boot loader -----------------------------------------------------------
kver=$(basename "$(ls -d "$root"/lib/modules/*)")
[ -f "$root/boot/initrd.img-$kver" ] || in_root update-initramfs -c -k "$kver" >&2
mkdir -p "$root/boot/extlinux"
cat >"$root/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
TIMEOUT 1
PROMPT 0
LABEL debian
	LINUX /boot/vmlinuz-$kver
	INITRD /boot/initrd.img-$kver
	APPEND root=UUID=$uuid ro console=tty0 console=ttyS0,115200 net.ifnames=0 biosdevname=0
EOF
extlinux --install "$root/boot/extlinux" >/dev/null 2>&1 ||
	die "extlinux --install failed"

for m in dev/pts dev sys proc; do umount "$root/$m"; done
rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*.log
# Hand the blocks of deleted files back, so the qcow2 (and the upload
# into libvirt's pool on every `vagrant up`) carries only live data.
fstrim "$root" || true
umount "$root"
losetup -d "$loop"
loop=
t2=$(now)

# -- package ---------------------------------------------------------------
boxdir=$work/box
mkdir -p "$boxdir"
qemu-img convert -O qcow2 "$img" "$boxdir/box.img"
rm -f "$img"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' \
	"$DISK_GIB" >"$boxdir/metadata.json"
cat >"$boxdir/Vagrantfile" <<'EOF'
# Defaults carried by the box; the project's Vagrantfile overrides them.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.disk_bus = "virtio"
  end
end
EOF
# Uncompressed: gzip would cost a minute and save little on qcow2.
tar -C "$boxdir" -cf "$work/bookworm.box" metadata.json Vagrantfile box.img
vagrant box add --force --name "$BOX_NAME" "$work/bookworm.box" >&2
# libvirt volumes uploaded from the old box (sandbox.sh keeps them) are stale.
rm -f "$IMAGES"/local-VAGRANTSLASH-bookworm_vagrant_box_image_*
echo "$stamp" >"$stamp_file"
t3=$(now)
say "box $BOX_NAME ready (kernel $kver): debootstrap+packages $((t1 - t0))s," \
	"configure $((t2 - t1))s, package $((t3 - t2))s, total $((t3 - t0))s"
