"""The guest environment itself: what every other guest test relies on."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def test_environment_is_set():
    for var in ("PEMOVE_GUEST", "PEMOVE_KO", "PEMOVE_DISKS", "PEMOVE_RESULTS"):
        assert os.environ.get(var), f"{var} is not set"
    assert Path(os.environ["PEMOVE_KO"]).is_file()


def test_results_dir_is_writable():
    probe = Path(os.environ["PEMOVE_RESULTS"]) / ".guest-write-probe"
    probe.write_text("ok\n")
    probe.unlink()


def test_module_loaded_and_control_node_exists(module):
    assert module.loaded
    st = os.stat("/dev/pemove-control")
    assert stat.S_ISCHR(st.st_mode)


def test_disks_are_fresh_raw_block_devices(disks):
    assert len(disks) >= 2, "pemove vm attaches 4 disks by default"
    for node in disks:
        assert stat.S_ISBLK(os.stat(node).st_mode), node
        name = Path(node).name
        assert Path(f"/sys/block/{name}/serial").read_text().startswith("pemove-d")
        # Writable at sector 0: QEMU allows it only with format=raw.
        fd = os.open(node, os.O_RDWR)
        try:
            os.pwrite(fd, b"\xa5" * 512, 0)
            assert os.pread(fd, 512, 0) == b"\xa5" * 512
        finally:
            os.close(fd)


def test_module_reload_with_parameters(module):
    params = Path("/sys/module", module.name, "parameters")
    if not (params / "locked_copy").exists():
        pytest.skip("the module has no locked_copy parameter")
    module.reload(locked_copy=0)
    assert module.parameter("locked_copy") in ("0", "N")
    assert os.path.exists("/dev/pemove-control")
