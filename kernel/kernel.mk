# Debug guest kernels (included by the top Makefile).
#
#   make kernel-debug SERIES=6.12    debug kernel of one series into the cache
#   make kernel-debug-6.1            the same, per series
#   make kernel-debug-all            both series
#   make kernel-list                 what is cached
#
# Then: pemove vm --kernel debug-6.12 -- ...   or   make test-guest KERNEL=debug-6.12
# A cached build is reused; KERNEL_ARGS='--rebuild' or '--jobs 4' pass options.

SERIES        ?= 6.12
KERNEL_ARGS   ?=
KERNEL_SERIES := 6.1 6.12

.PHONY: kernel-debug kernel-debug-all kernel-list $(KERNEL_SERIES:%=kernel-debug-%)

kernel-debug: deps
	$(PY) -m pemove.kernel.cli build --series $(SERIES) --debug $(KERNEL_ARGS)

$(KERNEL_SERIES:%=kernel-debug-%): kernel-debug-%: deps
	$(PY) -m pemove.kernel.cli build --series $* --debug $(KERNEL_ARGS)

# 6.12 first: CI boots debug-6.12.
kernel-debug-all: kernel-debug-6.12 kernel-debug-6.1

kernel-list: deps
	$(PY) -m pemove.kernel.cli list
