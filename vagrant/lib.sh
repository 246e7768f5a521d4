# shellcheck shell=bash
# Shared by the vagrant/ scripts: paths, messages, host packages.
# Sourced, never run.

# shellcheck disable=SC2034 # these are for the scripts that source this file
VAGRANT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$VAGRANT_DIR/.." && pwd)

# Everything built or downloaded lives outside the work tree, so a fresh
# clone (as CI makes) still finds the box built by an earlier run.
CACHE=${PEMOVE_VAGRANT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pemove/vagrant}
export VAGRANT_HOME=$CACHE/vagrant.d
# libvirt volumes of the box, kept between runs so that `vagrant up` need
# not upload the box every time (see sandbox.sh).
IMAGES=$CACHE/images
export VAGRANT_CHECKPOINT_DISABLE=1	# no phoning home for version checks
export VAGRANT_DEFAULT_PROVIDER=libvirt

# shellcheck disable=SC2034
BOX_NAME=local/bookworm
# shellcheck disable=SC2034
BOX_SUITE=bookworm

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Seconds since the epoch, for the timings the README quotes.
now() { date +%s; }

# Install Debian packages that are missing; nothing if all are there.
need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
	say "installing: ${missing[*]}"
	apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
}

# The public half of the key pair every Vagrant box trusts on first boot.
# It ships inside the vagrant package; we never keep a copy in the tree.
insecure_pubkey() {
	local f
	for f in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
		/usr/lib/ruby/vendor_ruby/vagrant/keys/vagrant.pub \
		/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}
