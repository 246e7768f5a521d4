"""PE_MOVE against the real module, with IO running.

DESCRIPTION: an LV on three disks gets known data through O_DIRECT and
buffered IO; every PE is moved to the fourth disk (or a free area) while a
writer keeps writing; afterwards every block reads back as the last
acknowledged write, the map points at the new PEs, and the counters add up.
A move whose destination fails leaves the map unchanged and the data
intact.  The legacy lock holds writes and lets reads pass.
"""

from __future__ import annotations

import errno
import mmap
import os
import random
import struct
import subprocess
import threading
import time

import pytest
from _lvnode import wait_node
from pemove import errors
from pemove.control import Control, Extent

ES = 4096  # 2 MiB extents: two copy chunks each
BLOCK = 4096
HDR = struct.Struct("<QQ")  # block index, generation


def block_bytes(index: int, gen: int) -> bytes:
    head = HDR.pack(index, gen)
    return head * (BLOCK // len(head))


class Writer(threading.Thread):
    """Rewrites random blocks with O_DIRECT; remembers what was acknowledged."""

    def __init__(self, node: str, nblocks: int, acked: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.nblocks = nblocks
        self.acked = acked
        self.stop = threading.Event()
        self.writes = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(1)
        buf = mmap.mmap(-1, BLOCK)
        fd = os.open(self.node, os.O_RDWR | os.O_DIRECT)
        try:
            gen = 1000
            while not self.stop.is_set():
                index = rng.randrange(self.nblocks)
                gen += 1
                buf[:] = block_bytes(index, gen)
                os.pwritev(fd, [buf], index * BLOCK)
                self.acked[index] = gen  # acknowledged: pwrite returned
                self.writes += 1
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            os.close(fd)


def fill(node: str, nblocks: int, acked: dict[int, int]) -> None:
    """First half O_DIRECT, second half buffered + fsync."""
    half = nblocks // 2
    big = mmap.mmap(-1, half * BLOCK)
    for i in range(half):
        big[i * BLOCK : (i + 1) * BLOCK] = block_bytes(i, 1)
    fd = os.open(node, os.O_RDWR | os.O_DIRECT)
    try:
        os.pwritev(fd, [big], 0)
    finally:
        os.close(fd)
    fd = os.open(node, os.O_RDWR)
    try:
        data = b"".join(block_bytes(i, 2) for i in range(half, nblocks))
        os.pwrite(fd, data, half * BLOCK)
        os.fsync(fd)
    finally:
        os.close(fd)
    for i in range(nblocks):
        acked[i] = 1 if i < half else 2


def verify(node: str, nblocks: int, acked: dict[int, int]) -> list[str]:
    buf = mmap.mmap(-1, nblocks * BLOCK)
    fd = os.open(node, os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 0)
    finally:
        os.close(fd)
    bad = []
    for i in range(nblocks):
        got = buf[i * BLOCK : (i + 1) * BLOCK]
        if got != block_bytes(i, acked[i]):
            index, gen = HDR.unpack(got[: HDR.size])
            bad.append(f"block {i}: want gen {acked[i]}, found block {index} gen {gen}")
    return bad


@pytest.fixture
def three(disks: list[str]) -> list[str]:
    if len(disks) < 3:
        pytest.skip("needs 3 disks")
    return disks


def test_move_every_pe_while_writing(ctl: Control, three: list[str]) -> None:
    n_le = 6
    src = [Extent.from_path(three[i % 3], (i // 3) * ES) for i in range(n_le)]
    lv = ctl.lv_create("mv", ES, src)
    wait_node(lv.node)
    nblocks = lv.size_bytes // BLOCK
    acked: dict[int, int] = {}
    fill(lv.node, nblocks, acked)

    target = three[3] if len(three) > 3 else three[0]
    base = 0 if len(three) > 3 else 8 * ES
    dests = [Extent.from_path(target, base + i * ES) for i in range(n_le)]

    writer = Writer(lv.node, nblocks, acked)
    writer.start()
    stats = []
    try:
        for le, dest in enumerate(dests):
            time.sleep(0.2)
            stats.append(ctl.pe_move("mv", le, dest))
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.error is None, writer.error
    assert writer.writes > 0

    assert verify(lv.node, nblocks, acked) == []
    status = ctl.lv_status("mv")
    assert [le.pe for le in status.les] == dests
    assert all(le.state == 0 and le.inflight == 0 and le.held == 0 for le in status.les)
    for s in stats:
        assert s.bytes_copied == ES * 512
        assert s.hold_ns > 0 and s.copy_ns > 0
        assert s.hold_ns >= s.copy_ns
    c = status.counters
    assert c.moves == n_le and c.moves_failed == 0
    assert c.bytes_moved == n_le * ES * 512
    assert c.held == sum(s.bios_held for s in stats)

    # The old PEs are free again: another LV can use one of them.
    ctl.lv_create("reuse", ES, [src[0]])


def test_move_and_buffered_writer_with_fsync(ctl: Control, three: list[str]) -> None:
    """Buffered writes + fsync (flushes) during moves; data read back intact."""
    lv = ctl.lv_create("bf", ES, [Extent.from_path(three[i], 0) for i in range(3)])
    wait_node(lv.node)
    nblocks = lv.size_bytes // BLOCK
    acked: dict[int, int] = {}
    fill(lv.node, nblocks, acked)
    stop = threading.Event()
    err: list[BaseException] = []

    def buffered() -> None:
        fd = os.open(lv.node, os.O_RDWR)
        try:
            gen = 5000
            rng = random.Random(2)
            while not stop.is_set():
                gen += 1
                index = rng.randrange(nblocks)
                os.pwrite(fd, block_bytes(index, gen), index * BLOCK)
                os.fsync(fd)
                acked[index] = gen
        except BaseException as exc:
            err.append(exc)
        finally:
            os.close(fd)

    th = threading.Thread(target=buffered, daemon=True)
    th.start()
    try:
        for le in range(3):
            ctl.pe_move("bf", le, Extent.from_path(three[(le + 1) % 3], 4 * ES))
            time.sleep(0.1)
    finally:
        stop.set()
        th.join(60)
    assert not err, err
    assert verify(lv.node, nblocks, acked) == []
    assert ctl.lv_status("bf").counters.flushes > 0


@pytest.mark.kmsg_allow(r"pemove: .*move of LE", r"I/O error", r"Buffer I/O error")
def test_failed_move_leaves_map_unchanged(ctl: Control, three: list[str]) -> None:
    """Destination is a dm 'error' device: EIO, map unchanged, data intact."""
    subprocess.run(
        ["dmsetup", "create", "pemove-terr", "--table", f"0 {16 * ES} error"],
        check=True,
    )
    lv = ctl.lv_create("f", ES, [Extent.from_path(three[0], 0)])
    wait_node(lv.node)
    nblocks = lv.size_bytes // BLOCK
    acked: dict[int, int] = {}
    fill(lv.node, nblocks, acked)
    before = ctl.lv_status("f").les
    with pytest.raises(errors.PemoveError) as exc:
        ctl.pe_move("f", 0, Extent.from_path("/dev/mapper/pemove-terr", 0))
    assert exc.value.errno == errno.EIO
    after = ctl.lv_status("f")
    assert after.les == before
    assert after.counters.moves_failed == 1 and after.counters.moves == 0
    assert verify(lv.node, nblocks, acked) == []
    # A good move afterwards still works.
    ctl.pe_move("f", 0, Extent.from_path(three[1], 0))
    assert verify(lv.node, nblocks, acked) == []


def test_legacy_lock_holds_writes_not_reads(ctl: Control, three: list[str]) -> None:
    lv = ctl.lv_create("lg", ES, [Extent.from_path(three[0], 0)])
    wait_node(lv.node)
    inflight = ctl.pe_lock("lg", 0)
    assert inflight == 0
    fd = os.open(lv.node, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    try:
        os.preadv(fd, [buf], 0)  # a read passes the lock
        done = threading.Event()

        def write() -> None:
            wbuf = mmap.mmap(-1, BLOCK)
            wbuf[:] = block_bytes(0, 77)
            os.pwritev(fd, [wbuf], 0)
            done.set()

        th = threading.Thread(target=write, daemon=True)
        th.start()
        deadline = time.monotonic() + 10
        while ctl.lv_status("lg").les[0].held == 0:
            assert time.monotonic() < deadline, "the write was not held"
            time.sleep(0.02)
        assert not done.is_set()
        dest = Extent.from_path(three[1], 0)
        ctl.pe_remap("lg", 0, dest)
        ctl.pe_unlock("lg", 0)
        th.join(10)
        assert done.is_set()
    finally:
        os.close(fd)
    status = ctl.lv_status("lg")
    assert status.les[0].pe == dest and status.counters.remaps == 1
    # The held write went to the new PE after the remap.
    fd = os.open(three[1], os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 0)
    finally:
        os.close(fd)
    assert buf[:] == block_bytes(0, 77)


def test_move_notrack_is_eopnotsupp_and_io_works(
    ctl: Control, three: list[str]
) -> None:
    lv = ctl.lv_create("nt", ES, [Extent.from_path(three[0], 0)], notrack=True)
    wait_node(lv.node)
    with pytest.raises(errors.NotSupported) as exc:
        ctl.pe_move("nt", 0, Extent.from_path(three[1], 0))
    assert exc.value.errno == errno.EOPNOTSUPP
    nblocks = lv.size_bytes // BLOCK
    acked: dict[int, int] = {}
    fill(lv.node, nblocks, acked)
    assert verify(lv.node, nblocks, acked) == []


def test_move_waits_for_a_write_in_flight(ctl: Control, three: list[str]) -> None:
    """The 2002 bug, checked directly: a write in flight when the move starts.

    Writes to the source PV are delayed 1.5 s by dm-delay.  The move starts
    while one is in flight; it must count it as drained, copy after it
    landed, and the new PE must hold the written data.
    """
    sectors = 16 * ES
    subprocess.run(["modprobe", "dm-delay"], check=True)
    table = f"0 {sectors} delay {three[0]} 0 0 {three[0]} 0 1500"
    subprocess.run(["dmsetup", "create", "pemove-tdelay", "--table", table], check=True)
    lv = ctl.lv_create("dr", ES, [Extent.from_path("/dev/mapper/pemove-tdelay", 0)])
    wait_node(lv.node)
    fd = os.open(lv.node, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)
    buf[:] = block_bytes(7, 42)
    th = threading.Thread(target=os.pwritev, args=(fd, [buf], 7 * BLOCK), daemon=True)
    try:
        th.start()
        deadline = time.monotonic() + 10
        while ctl.lv_status("dr").les[0].inflight == 0:
            assert time.monotonic() < deadline, "the write never got in flight"
            time.sleep(0.01)
        dest = Extent.from_path(three[1], 0)
        stats = ctl.pe_move("dr", 0, dest)
        th.join(30)
    finally:
        os.close(fd)
    assert stats.bios_drained >= 1
    fd = os.open(three[1], os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 7 * BLOCK)
    finally:
        os.close(fd)
    assert buf[:] == block_bytes(7, 42), "the in-flight write was lost by the move"
