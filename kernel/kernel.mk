# Debug guest kernels (included by the top Makefile).
#
#   make kernel-debug SERIES=6.12    debug kernel of one series into the cache
#   make kernel-debug-6.1            the same, per series
#   make kernel-debug-all            both series (6.12 first: CI boots it)
#   make kernel-list                 what is cached
#
# Then: pemove vm --kernel debug-6.12 -- ...   or   make test-guest KERNEL=debug-6.12
# A cached build is reused; KERNEL_ARGS='--rebuild' or '--jobs 4' pass options.
# The Debian source package and the kernel build tools are installed when
# missing (as for lint, through .ci/apt-install).

SERIES        ?= 6.12
KERNEL_ARGS   ?=
KERNEL_SERIES := 6.1 6.12
KERNEL_BUILD_PKGS := build-essential flex bison bc libelf-dev libssl-dev cpio kmod

.PHONY: kernel-debug kernel-debug-all kernel-list $(KERNEL_SERIES:%=kernel-debug-%)

kernel-debug: kernel-debug-$(SERIES)

$(KERNEL_SERIES:%=kernel-debug-%): kernel-debug-%: deps
	@PKGS="linux-source-$* $(KERNEL_BUILD_PKGS)" sh .ci/apt-install
	$(PY) -m pemove.kernel.cli build --series $* --debug $(KERNEL_ARGS)

kernel-debug-all: kernel-debug-6.12 kernel-debug-6.1

kernel-list: deps
	$(PY) -m pemove.kernel.cli list
