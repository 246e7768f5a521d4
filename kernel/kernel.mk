# Debug guest kernels (included by the top Makefile).
#
#   make kernel-debug SERIES=6.12    debug kernel of one series into the cache
#   make kernel-debug-6.1            the same, per series
#   make kernel-debug-all            both series (6.12 first: CI boots it)
#   make kernel-list                 what is cached
#
# Then: pemove vm --kernel debug-6.12 -- ...   or   make test-guest KERNEL=debug-6.12
#
#   make test-debug                  the debug tier on debug-6.12 and debug-6.1
#   make test-debug DEBUG_SERIES=6.12 FULL=1   the whole guest tier there
#   make test-debug JOBS=2           two VMs per kernel, each a share of the files
# A cached build is reused; KERNEL_ARGS='--rebuild' or '--jobs 4' pass options.
# The Debian source package and the kernel build tools are installed when
# missing (as for lint, through .ci/apt-install).

SERIES        ?= 6.12
KERNEL_ARGS   ?=
KERNEL_SERIES := 6.1 6.12
KERNEL_BUILD_PKGS := build-essential flex bison bc libelf-dev libssl-dev cpio kmod

.PHONY: kernel-debug kernel-debug-all kernel-list test-debug \
	$(KERNEL_SERIES:%=kernel-debug-%) $(KERNEL_SERIES:%=test-debug-%)

kernel-debug: kernel-debug-$(SERIES)

$(KERNEL_SERIES:%=kernel-debug-%): kernel-debug-%: deps
	@PKGS="linux-source-$* $(KERNEL_BUILD_PKGS)" sh .ci/apt-install
	$(PY) -m pemove.kernel.cli build --series $* --debug $(KERNEL_ARGS)

kernel-debug-all: kernel-debug-6.12 kernel-debug-6.1

kernel-list: deps
	$(PY) -m pemove.kernel.cli list

# The debug tier: the guest tests that exercise the kernel (moves, faults,
# fault injection, concurrency, errno, fuzz, KUnit, the judge's own
# triggers), not the ones that only repeat CLI start-up or a long storm.
DEBUG_SERIES ?= 6.12 6.1
DEBUG_TESTS := $(addprefix tests/guest/,test_kunit.py test_debug_judge.py \
	test_fault_injection.py test_faults.py test_live_move.py \
	test_concurrency.py test_module_errno.py test_module_move.py \
	test_module_lifecycle.py test_pv_lifetime.py test_no_leak.py \
	test_ioctl_edges.py test_fuzz.py test_lost_writes.py test_discard.py \
	test_devices.py)
FULL ?=

test-debug: $(DEBUG_SERIES:%=test-debug-%)

# Through tests/test_guest_tier.py, as make test: JOBS=N shards the files
# across N VMs, and PYTEST_ARGS reach the guest's pytest.
$(KERNEL_SERIES:%=test-debug-%): test-debug-%: kernel-debug-%
	PEMOVE_GUEST_KERNELS=debug-$* PEMOVE_GUEST_JOBS=$(JOBS) \
	PEMOVE_GUEST_FILES="$(if $(FULL),,$(DEBUG_TESTS))" \
	PEMOVE_VM_TIMEOUT=$(VM_TIMEOUT) PEMOVE_GUEST_PYTEST_ARGS="$(PYTEST_ARGS)" \
		$(PY) -m pytest tests/test_guest_tier.py
