# Vagrant targets; the top Makefile includes this file (`-include
# vagrant/vagrant.mk`), and `make -f vagrant/vagrant.mk TARGET` works alone.
# Both need root.  See vagrant/README.md.
#
#   vagrant-box    build the local/bookworm box if missing or stale
#   vagrant-test   run tests/guest in a Vagrant VM; JUnit XML in results/vagrant/
#
# VAGRANT_PYTEST_ARGS is passed to pytest in the guest, e.g. "-k env -x".

PEMOVE_VAGRANT_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
VAGRANT_PYTEST_ARGS ?=

.PHONY: vagrant-box vagrant-test

vagrant-box:
	$(PEMOVE_VAGRANT_DIR)/box.sh

vagrant-test:
	$(PEMOVE_VAGRANT_DIR)/test.sh $(VAGRANT_PYTEST_ARGS)
