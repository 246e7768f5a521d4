"""LV lifecycle against the real module: create, use, list, remove, unload.

DESCRIPTION: an LV over several disks gets a block device with the right
size, numbers and queue limits; its PVs are held exclusively while it
exists; it cannot be removed while open, nor the module unloaded while any
LV exists; and removing every LV and unloading leaves no node and no bdev
reference behind.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from _lvnode import wait_node
from pemove import errors, uapi
from pemove.control import Control, Extent

C = uapi.const
ES = 2048  # 1 MiB extents


def at(node: str, extent: int, es: int = ES) -> Extent:
    return Extent.from_path(node, extent * es)


def sysfs(disk: str, attr: str) -> str:
    return Path(f"/sys/block/{disk}/{attr}").read_text().strip()


def test_version(ctl: Control, module: Any) -> None:
    v = ctl.version()
    assert v.version == uapi.VERSION
    assert v.pe_move and v.legacy_lock and v.notrack
    assert v.max_extents == C["PEMOVE_MAX_EXTENTS"]
    assert v.copy_chunk_sectors > 0 and v.copy_chunk_sectors % 8 == 0


def test_create_on_three_disks(ctl: Control, disks: list[str]) -> None:
    if len(disks) < 3:
        pytest.skip("needs 3 disks")
    exts = [at(disks[i % 3], i // 3) for i in range(6)]
    lv = ctl.lv_create("three", ES, exts)
    wait_node(lv.node)
    st = os.stat(lv.node)
    assert stat.S_ISBLK(st.st_mode)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (
        lv.disk_major,
        lv.disk_minor,
    )
    assert int(sysfs(lv.disk_name, "size")) == 6 * ES

    # Stacked limits; no discard or write-zeroes.
    assert int(sysfs(lv.disk_name, "queue/logical_block_size")) == max(
        int(sysfs(Path(d).name, "queue/logical_block_size")) for d in disks[:3]
    )
    assert sysfs(lv.disk_name, "queue/discard_max_bytes") == "0"
    assert sysfs(lv.disk_name, "queue/write_zeroes_max_bytes") == "0"

    (info,) = ctl.lv_list()
    assert info.name == "three" and info.disk_name == lv.disk_name
    assert info.extent_count == 6 and info.extent_sectors == ES
    assert info.pv_count == 3 and info.open_count == 0
    assert info.reserve_bytes and info.reserve_bytes > 0
    status = ctl.lv_status("three")
    assert [le.pe for le in status.les] == exts
    assert all(le.state == 0 and le.inflight == 0 and le.held == 0 for le in status.les)

    fd = os.open(lv.node, os.O_RDONLY)
    try:
        assert ctl.lv_list()[0].open_count == 1
    finally:
        os.close(fd)

    ctl.lv_remove("three")
    assert ctl.lv_list() == []
    deadline = time.monotonic() + 10
    while os.path.exists(lv.node):
        assert time.monotonic() < deadline, f"{lv.node} is still there"
        time.sleep(0.05)


def test_pvs_are_held_exclusively_and_shared(ctl: Control, disks: list[str]) -> None:
    a = ctl.lv_create("a", ES, [at(disks[0], 0)])
    b = ctl.lv_create("b", ES, [at(disks[0], 1)])  # a second LV on the same PV
    wait_node(a.node)  # udev's probe holds them open for a moment
    wait_node(b.node)
    with pytest.raises(OSError) as exc:
        os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))
    assert exc.value.errno == errno.EBUSY
    ctl.lv_remove("a")
    with pytest.raises(OSError):
        os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))
    ctl.lv_remove("b")
    os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))


def test_io_roundtrip_tracked_and_untracked(ctl: Control, disks: list[str]) -> None:
    if len(disks) < 2:
        pytest.skip("needs 2 disks")
    for name, notrack in (("tr", False), ("nt", True)):
        base = 0 if not notrack else 4
        lv = ctl.lv_create(
            name,
            ES,
            [at(disks[0], base), at(disks[1], base), at(disks[0], base + 1)],
            notrack=notrack,
        )
        wait_node(lv.node)
        data = os.urandom(lv.size_bytes)
        fd = os.open(lv.node, os.O_RDWR)
        try:
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        # An O_DIRECT write across the first extent boundary must be split.
        edge = ES * 512
        direct = mmap.mmap(-1, 8192)
        direct[:] = data[edge - 4096 : edge + 4096]
        fd = os.open(lv.node, os.O_RDWR | os.O_DIRECT)
        try:
            os.pwritev(fd, [direct], edge - 4096)
        finally:
            os.close(fd)
        # Read the PVs directly: each extent landed where the map says.
        for i, le in enumerate(ctl.lv_status(name).les):
            dev = (
                disks[0]
                if le.pe.minor == Extent.from_path(disks[0]).minor
                else disks[1]
            )
            fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
            try:
                buf = mmap.mmap(-1, ES * 512)
                os.preadv(fd, [buf], le.pe.sector * 512)
            finally:
                os.close(fd)
            assert buf[:] == data[i * ES * 512 : (i + 1) * ES * 512], f"{name} LE {i}"
        counters = ctl.lv_status(name).counters
        assert counters.bios > 0 and counters.splits > 0 and counters.flushes > 0


def test_discard_is_rejected(ctl: Control, disks: list[str]) -> None:
    lv = ctl.lv_create("d", ES, [at(disks[0], 0)])
    wait_node(lv.node)
    res = subprocess.run(["blkdiscard", lv.node], capture_output=True, text=True)
    assert res.returncode != 0


def test_many_extents(ctl: Control, disks: list[str]) -> None:
    """65,536 4-KiB extents: creation, status and IO stay cheap."""
    n = 65536
    d = Extent.from_path(disks[0])
    # Reverse order, so the map is not the identity.
    exts = [Extent(d.major, d.minor, (n - 1 - i) * 8) for i in range(n)]
    t0 = time.monotonic()
    lv = ctl.lv_create("many", 8, exts)
    assert time.monotonic() - t0 < 30
    wait_node(lv.node)
    les = ctl.lv_status("many").les
    assert len(les) == n and les[-1].pe == exts[-1]
    fd = os.open(lv.node, os.O_RDWR)
    try:
        os.pwrite(fd, b"\x5a" * 8192, 4096 * 100)
        os.fsync(fd)
    finally:
        os.close(fd)
    fd = os.open(disks[0], os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, (n - 1 - 100) * 4096) == b"\x5a" * 4096
        assert os.pread(fd, 4096, (n - 1 - 101) * 4096) == b"\x5a" * 4096
    finally:
        os.close(fd)


def test_closing_control_releases_legacy_locks(ctl: Control, disks: list[str]) -> None:
    lv = ctl.lv_create("l", ES, [at(disks[0], 0)])
    wait_node(lv.node)
    other = Control()
    other.pe_lock("l", 0)
    assert ctl.lv_status("l").les[0].wrlocked
    with pytest.raises(errors.LVBusy):
        ctl.lv_remove("l")
    other.close()
    assert ctl.lv_status("l").les[0].state == 0
    ctl.lv_remove("l")


def test_unload_refused_while_lv_exists_and_clean_after(
    module: Any, disks: list[str]
) -> None:
    with Control() as ctl:
        lv = ctl.lv_create("u", ES, [at(disks[0], 0), at(disks[-1], 3)])
    wait_node(lv.node)
    res = subprocess.run(["rmmod", module.name], capture_output=True, text=True)
    assert res.returncode != 0, "rmmod succeeded with an LV present"
    with Control() as ctl:
        ctl.lv_remove("u")
    subprocess.run(["rmmod", module.name], check=True, capture_output=True)
    assert not module.loaded
    assert not any(p.name.startswith("pemove") for p in Path("/dev").iterdir())
    assert not any(p.name.startswith("pemove") for p in Path("/sys/block").iterdir())
    for node in disks:  # no bdev reference left behind
        os.close(os.open(node, os.O_RDWR | os.O_EXCL))
    module.reload()
    assert module.loaded
