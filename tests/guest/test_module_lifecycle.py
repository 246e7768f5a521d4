"""LV lifecycle against the real module: create, use, list, remove, unload.

DESCRIPTION: an LV over several disks gets a block device with the right
size, numbers and queue limits; its PVs are held exclusively while it
exists; it cannot be removed while open, nor the module unloaded while any
LV exists; and removing every LV and unloading leaves no node and no bdev
reference behind.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kit.module import Module
from pemove import discovery, errors, lvs, uapi
from pemove.control import Control, Extent, LVInfo
from pemove.vm import guest
from pemove.wait import wait_until

C = uapi.const
EXTENT_SECTORS = 2048  # 1 MiB extents
# BLKDISCARD, _IO(0x12, 119): discard a byte range given as two u64s.
BLKDISCARD = 0x1277

MakeLV = Callable[..., LVInfo]


def at(node: str, extent: int) -> Extent:
    return Extent.from_path(node, extent * EXTENT_SECTORS)


def sysfs(disk: str, attr: str) -> str:
    return Path(f"/sys/block/{disk}/{attr}").read_text().strip()


def test_version(ctl: Control, module: Module) -> None:
    v = ctl.version()
    assert v.version == uapi.VERSION
    assert v.pe_move and v.legacy_lock and v.notrack
    assert v.max_extents == C["PEMOVE_MAX_EXTENTS"]
    assert v.copy_chunk_sectors > 0 and v.copy_chunk_sectors % 8 == 0


@pytest.mark.disks(3)
def test_create_on_three_disks(ctl: Control, disks: list[str], make_lv: MakeLV) -> None:
    exts = [at(disks[i % 3], i // 3) for i in range(6)]
    lv = make_lv("three", EXTENT_SECTORS, exts)
    st = os.stat(lv.node)
    assert stat.S_ISBLK(st.st_mode)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (
        lv.disk_major,
        lv.disk_minor,
    )
    assert int(sysfs(lv.disk_name, "size")) == 6 * EXTENT_SECTORS

    # Stacked limits: discard and write-zeroes as the PVs offer them.
    assert int(sysfs(lv.disk_name, "queue/logical_block_size")) == max(
        int(sysfs(Path(d).name, "queue/logical_block_size")) for d in disks[:3]
    )
    for attr in ("queue/discard_max_bytes", "queue/write_zeroes_max_bytes"):
        pv_limits = [int(sysfs(Path(d).name, attr)) for d in disks[:3]]
        offered = int(sysfs(lv.disk_name, attr))
        assert (offered > 0) == all(pv_limits), (attr, offered, pv_limits)

    (info,) = ctl.lv_list()
    assert info.name == "three" and info.disk_name == lv.disk_name
    assert info.extent_count == 6 and info.extent_sectors == EXTENT_SECTORS
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
    wait_until(lambda: not os.path.exists(lv.node), 10, f"{lv.node} to go")


@pytest.mark.disks(1)
def test_pvs_are_held_exclusively_and_shared(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    make_lv("a", EXTENT_SECTORS, [at(disks[0], 0)])
    make_lv("b", EXTENT_SECTORS, [at(disks[0], 1)])  # a second LV on the same PV
    with pytest.raises(OSError) as exc:
        os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))
    assert exc.value.errno == errno.EBUSY
    ctl.lv_remove("a")
    with pytest.raises(OSError):
        os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))
    ctl.lv_remove("b")
    os.close(os.open(disks[0], os.O_RDWR | os.O_EXCL))


@pytest.mark.disks(2)
def test_io_roundtrip_tracked_and_untracked(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    for name, notrack in (("tr", False), ("nt", True)):
        base = 0 if not notrack else 4
        lv = make_lv(
            name,
            EXTENT_SECTORS,
            [at(disks[0], base), at(disks[1], base), at(disks[0], base + 1)],
            notrack=notrack,
        )
        data = os.urandom(lv.size_bytes)
        fd = os.open(lv.node, os.O_RDWR)
        try:
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        # An O_DIRECT write across the first extent boundary must be split.
        edge = EXTENT_SECTORS * 512
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
                buf = mmap.mmap(-1, EXTENT_SECTORS * 512)
                os.preadv(fd, [buf], le.pe.sector * 512)
            finally:
                os.close(fd)
            assert (
                buf[:]
                == data[i * EXTENT_SECTORS * 512 : (i + 1) * EXTENT_SECTORS * 512]
            ), f"{name} LE {i}"
        counters = ctl.lv_status(name).counters
        assert counters.bios > 0 and counters.splits > 0 and counters.flushes > 0


@pytest.mark.disks(1)
def test_discard_passes_through(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    """BLKDISCARD on the LV reaches its PV and is counted (the reviewer's finding 10).

    Before, the LV offered no discard and BLKDISCARD was EOPNOTSUPP.
    """
    if sysfs(Path(disks[0]).name, "queue/discard_max_bytes") == "0":
        pytest.skip(f"{disks[0]} has no discard, so the LV offers none")
    lv = make_lv("d", EXTENT_SECTORS, [at(disks[0], 0)])
    fd = os.open(lv.node, os.O_WRONLY)
    try:
        fcntl.ioctl(fd, BLKDISCARD, struct.pack("=QQ", 0, EXTENT_SECTORS * 512))
    finally:
        os.close(fd)
    assert ctl.lv_status("d").counters.discards >= 1


@pytest.mark.disks(1)
def test_many_extents(ctl: Control, disks: list[str]) -> None:
    """65,536 4-KiB extents: creation, status and IO stay cheap."""
    n = 65536
    d = Extent.from_path(disks[0])
    # Reverse order, so the map is not the identity.
    exts = [Extent(d.major, d.minor, (n - 1 - i) * 8) for i in range(n)]
    with discovery.watch_for_disk() as watch:
        t0 = time.monotonic()
        lv = ctl.lv_create("many", 8, exts)
        assert time.monotonic() - t0 < 30
        watch.wait(lv.disk_name, timeout=60)
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


@pytest.mark.disks(1)
def test_closing_control_releases_legacy_locks(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    make_lv("l", EXTENT_SECTORS, [at(disks[0], 0)])
    other = Control()
    other.pe_lock("l", 0)
    assert ctl.lv_status("l").les[0].wrlocked
    with pytest.raises(errors.LVBusy):
        ctl.lv_remove("l")
    other.close()
    assert ctl.lv_status("l").les[0].state == 0
    ctl.lv_remove("l")


@pytest.mark.disks(1)
def test_unload_refused_while_lv_exists_and_clean_after(
    module: Module, disks: list[str]
) -> None:
    with Control() as ctl:
        lvs.create(ctl, "u", EXTENT_SECTORS, [at(disks[0], 0), at(disks[-1], 3)])
    # The LV holds a module reference: delete_module(2) says "would block".
    with pytest.raises(OSError) as exc:
        guest.delete_module(module.name)
    assert exc.value.errno == errno.EWOULDBLOCK, exc.value
    with Control() as ctl:
        ctl.lv_remove("u")
    module.unload()
    assert not module.loaded
    assert not any(p.name.startswith("pemove") for p in Path("/dev").iterdir())
    assert not any(p.name.startswith("pemove") for p in Path("/sys/block").iterdir())
    for node in disks:  # no bdev reference left behind
        os.close(os.open(node, os.O_RDWR | os.O_EXCL))
    module.reload()
    assert module.loaded
