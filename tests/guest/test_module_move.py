"""PE_MOVE against the real module, with IO running.

DESCRIPTION: an LV on three disks gets known data through O_DIRECT and
buffered IO; every PE is moved to the fourth disk (or a free area) while a
writer keeps writing; afterwards the shared verifier
(:mod:`pemove.workload.verify`) finds every block as its ledger says (no
lost, stale or corrupt block), the map points at the new PEs, and the
counters add up.  The legacy lock holds writes and lets reads pass.  (A
move onto a failing destination is tests/guest/test_faults.py's.)
"""

from __future__ import annotations

import errno
import mmap
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from pemove import errors
from pemove.control import Control, Extent, LVInfo, MoveStats
from pemove.wait import wait_until
from pemove.workload import blockfmt, dm
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger, MoveEvent
from pemove.workload.verify import verify
from pemove.workload.writers import BufferedWriter, DirectWriter, running, write_pass

EXTENT_SECTORS = 4096  # 2 MiB extents: two copy chunks each
BLOCKS_PER_LE = EXTENT_SECTORS * 512 // BLOCK_SIZE
WRITER = 1  # the one writer id: it owns every block of the LV

MakeLV = Callable[..., LVInfo]

pytestmark = pytest.mark.disks(3)


def known_data(lv: LVInfo) -> Ledger:
    """Every block of ``lv`` written once: the first half O_DIRECT, the rest buffered + fsync."""
    ledger = Ledger(lv.name, BLOCKS_PER_LE)
    lbas = list(range(lv.extent_count * BLOCKS_PER_LE))
    ledger.claim(lbas, WRITER)
    half = len(lbas) // 2
    write_pass(lv.node, ledger, WRITER, lbas[:half])
    write_pass(lv.node, ledger, WRITER, lbas[half:], buffered=True)
    return ledger


def assert_intact(lv: LVInfo, ledger: Ledger) -> None:
    """Every block reads back as the ledger says: nothing lost, stale or corrupt."""
    report = verify(lv.node, ledger)
    assert report.checked == len(ledger.history)
    assert report.clean, report.summary()


def locked_move(ctl: Control, ledger: Ledger, le: int, dest: Extent) -> MoveStats:
    """PE_MOVE of LE ``le``, recorded in ``ledger`` for the verifier."""
    start = time.monotonic_ns()
    stats = ctl.pe_move(ledger.lv, le, dest)
    ledger.add_move(MoveEvent(ledger.lv, le, start, time.monotonic_ns(), "locked"))
    return stats


def test_move_every_pe_while_writing(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    n_le = 6
    src = [
        Extent.from_path(disks[i % 3], (i // 3) * EXTENT_SECTORS) for i in range(n_le)
    ]
    lv = make_lv("mv", EXTENT_SECTORS, src)
    ledger = known_data(lv)

    target = disks[3] if len(disks) > 3 else disks[0]
    base = 0 if len(disks) > 3 else 8 * EXTENT_SECTORS
    dests = [Extent.from_path(target, base + i * EXTENT_SECTORS) for i in range(n_le)]

    stop = threading.Event()
    writer = DirectWriter(lv.node, ledger, WRITER, list(ledger.history), stop, seed=1)
    stats = []
    with running([writer], stop):  # raises the writer's error, if it had one
        for le, dest in enumerate(dests):
            time.sleep(0.2)
            stats.append(locked_move(ctl, ledger, le, dest))
    assert writer.writes > 0

    assert_intact(lv, ledger)
    status = ctl.lv_status("mv")
    assert [le.pe for le in status.les] == dests
    assert all(le.state == 0 and le.inflight == 0 and le.held == 0 for le in status.les)
    for s in stats:
        assert s.bytes_copied == EXTENT_SECTORS * 512
        assert s.hold_ns > 0 and s.copy_ns > 0
        assert s.hold_ns >= s.copy_ns
    c = status.counters
    assert c.moves == n_le and c.moves_failed == 0
    assert c.bytes_moved == n_le * EXTENT_SECTORS * 512
    assert c.held == sum(s.bios_held for s in stats)

    # The old PEs are free again: another LV can use one of them.
    ctl.lv_create("reuse", EXTENT_SECTORS, [src[0]])


def test_move_and_buffered_writer_with_fsync(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    """Buffered writes + fsync (flushes) during moves; data read back intact."""
    lv = make_lv(
        "bf", EXTENT_SECTORS, [Extent.from_path(disks[i], 0) for i in range(3)]
    )
    ledger = known_data(lv)
    stop = threading.Event()
    # One block per fsync, so every write is a flush through the LV.
    writer = BufferedWriter(
        lv.node, ledger, WRITER, list(ledger.history), stop, seed=2, batch=1
    )
    with running([writer], stop):
        for le in range(3):
            dest = Extent.from_path(disks[(le + 1) % 3], 4 * EXTENT_SECTORS)
            locked_move(ctl, ledger, le, dest)
            time.sleep(0.1)
    assert_intact(lv, ledger)
    assert ctl.lv_status("bf").counters.flushes > 0


def test_legacy_lock_holds_writes_not_reads(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    lv = make_lv("lg", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)])
    inflight = ctl.pe_lock("lg", 0)
    assert inflight == 0
    written = blockfmt.pack(0, WRITER, 77)
    fd = os.open(lv.node, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    try:
        os.preadv(fd, [buf], 0)  # a read passes the lock
        done = threading.Event()

        def write() -> None:
            wbuf = mmap.mmap(-1, BLOCK_SIZE)
            wbuf[:] = written
            os.pwritev(fd, [wbuf], 0)
            done.set()

        th = threading.Thread(target=write, daemon=True)
        th.start()
        wait_until(
            lambda: ctl.lv_status("lg").les[0].held > 0, 10, "the write to be held"
        )
        assert not done.is_set()
        dest = Extent.from_path(disks[1], 0)
        ctl.pe_remap("lg", 0, dest)
        ctl.pe_unlock("lg", 0)
        th.join(10)
        assert done.is_set()
    finally:
        os.close(fd)
    status = ctl.lv_status("lg")
    assert status.les[0].pe == dest and status.counters.remaps == 1
    # The held write went to the new PE after the remap.
    fd = os.open(disks[1], os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 0)
    finally:
        os.close(fd)
    assert buf[:] == written


def test_move_notrack_is_eopnotsupp_and_io_works(
    ctl: Control, disks: list[str], make_lv: MakeLV
) -> None:
    lv = make_lv("nt", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)], notrack=True)
    with pytest.raises(errors.NotSupported) as exc:
        ctl.pe_move("nt", 0, Extent.from_path(disks[1], 0))
    assert exc.value.errno == errno.EOPNOTSUPP
    assert_intact(lv, known_data(lv))


def test_move_waits_for_a_write_in_flight(
    ctl: Control, disks: list[str], make_lv: MakeLV, make_dm: Any
) -> None:
    """The 2002 bug, checked directly: a write in flight when the move starts.

    Writes to the source PV are delayed 1.5 s by dm-delay.  The move starts
    while one is in flight; it must count it as drained, copy after it
    landed, and the new PE must hold the written data.
    """
    slow = make_dm(
        "delay",
        dm.delay_table(disks[0], 16 * EXTENT_SECTORS, read_ms=0, write_ms=1500),
    )
    lv = make_lv("dr", EXTENT_SECTORS, [Extent(slow.major, slow.minor, 0)])
    written = blockfmt.pack(7, WRITER, 42)
    fd = os.open(lv.node, os.O_RDWR | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    buf[:] = written
    th = threading.Thread(
        target=os.pwritev, args=(fd, [buf], 7 * BLOCK_SIZE), daemon=True
    )
    try:
        th.start()
        wait_until(
            lambda: ctl.lv_status("dr").les[0].inflight > 0,
            10,
            "the write to be in flight",
            interval=0.01,
        )
        dest = Extent.from_path(disks[1], 0)
        stats = ctl.pe_move("dr", 0, dest)
        th.join(30)
    finally:
        os.close(fd)
    assert stats.bios_drained >= 1
    fd = os.open(disks[1], os.O_RDONLY | os.O_DIRECT)
    try:
        os.preadv(fd, [buf], 7 * BLOCK_SIZE)
    finally:
        os.close(fd)
    assert buf[:] == written, "the in-flight write was lost by the move"
