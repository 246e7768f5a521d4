"""Concurrent control commands: moves against moves, removes, creates and rmmod.

DESCRIPTION: a slow destination (dm-delay) keeps a PE_MOVE running for a
second or more, long enough for a second caller on another control file to
collide with it.  The same LE twice gives EBUSY; different LEs both move;
LV_REMOVE during IO or during a move gives EBUSY; LVs come and go in a loop
while another LV is written and moved; rmmod is refused while an LV exists;
insmod/rmmod cycles leave no node, sysfs entry or slab cache behind.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kit.faults import Load, clean_les, move_in_thread
from kit.figures import Figures
from kit.module import Module
from pemove import errors, lvs
from pemove.control import Control, Extent, LVInfo
from pemove.vm import guest
from pemove.wait import wait_until
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE

EXTENT_SECTORS = 8192  # 4 MiB: four copy chunks
BLOCKS_PER_LE = EXTENT_SECTORS * 512 // BLOCK_SIZE


@pytest.fixture
def slow_dest(disks: list[str], make_dm: Any) -> dm.DmDevice:
    """A destination on disk 1 whose writes take 300 ms: moves onto it last seconds."""
    return make_dm(
        "slow", dm.delay_table(disks[1], 8 * EXTENT_SECTORS, read_ms=0, write_ms=300)
    )


@pytest.fixture
def two_le_lv(disks: list[str], make_lv: Callable[..., LVInfo]) -> LVInfo:
    """LV ``c``: two LEs on disk 0."""
    return make_lv(
        "c",
        EXTENT_SECTORS,
        [Extent.from_path(disks[0], 0), Extent.from_path(disks[0], EXTENT_SECTORS)],
    )


def _wait_moving(ctl: Control, lv: str, le: int, timeout: float = 20.0) -> None:
    wait_until(
        lambda: ctl.lv_status(lv).les[le].state != 0,
        timeout,
        f"LE {le} of {lv} to start moving",
        interval=0.01,
    )


@pytest.mark.disks(2)
def test_same_le_twice_one_gets_ebusy(
    ctl: Control,
    two_le_lv: LVInfo,
    slow_dest: dm.DmDevice,
    figures: Figures,
    mode: str,
) -> None:
    th, out = move_in_thread(
        "c", 0, Extent(slow_dest.major, slow_dest.minor, 0), figures, mode=mode
    )
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc, figures.move():
        ctl.pe_move(
            "c", 0, Extent(slow_dest.major, slow_dest.minor, 2 * EXTENT_SECTORS)
        )
    assert exc.value.errno == errno.EBUSY
    th.join(120)
    assert "stats" in out, out
    assert ctl.lv_status("c").les[0].pe == Extent(slow_dest.major, slow_dest.minor, 0)


@pytest.mark.disks(2)
def test_same_destination_twice_is_refused(
    ctl: Control,
    two_le_lv: LVInfo,
    slow_dest: dm.DmDevice,
    figures: Figures,
    mode: str,
) -> None:
    """Two LEs moved onto the same PE at once: the second is refused (EINVAL)."""
    dest = Extent(slow_dest.major, slow_dest.minor, 0)
    th, out = move_in_thread("c", 0, dest, figures, mode=mode)
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc, figures.move():
        ctl.pe_move("c", 1, dest, mode=mode)  # type: ignore[arg-type]
    assert exc.value.errno == errno.EINVAL
    th.join(120)
    assert "stats" in out, out


@pytest.mark.disks(2)
def test_different_les_at_once_both_move(
    ctl: Control,
    two_le_lv: LVInfo,
    slow_dest: dm.DmDevice,
    figures: Figures,
    mode: str,
) -> None:
    lv = two_le_lv
    load = Load(
        lv.node, "c", BLOCKS_PER_LE, [0, 1], 2, figures=figures, writers=2, seed=11
    )
    load.start()
    slow = slow_dest
    dests = [
        Extent(slow.major, slow.minor, 0),
        Extent(slow.major, slow.minor, 4 * EXTENT_SECTORS),
    ]
    moves = [move_in_thread("c", le, dests[le], figures, mode=mode) for le in (0, 1)]
    for th, _ in moves:
        th.join(120)
    assert [out.get("error") for _, out in moves] == [None, None]
    report = load.finish()
    assert report.clean, report.summary()
    status = ctl.lv_status("c")
    assert [le.pe for le in status.les] == dests
    assert status.counters.moves == 2 and clean_les(status)


@pytest.mark.disks(2)
def test_remove_while_io_and_while_moving_is_ebusy(
    ctl: Control,
    disks: list[str],
    make_lv: Callable[..., LVInfo],
    slow_dest: dm.DmDevice,
    figures: Figures,
    mode: str,
) -> None:
    lv = make_lv("c", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)])
    load = Load(lv.node, "c", BLOCKS_PER_LE, [0], 1, figures=figures, writers=1, seed=3)
    load.start()
    load.wait_writes(10)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.lv_remove("c")  # the writer holds the node open, IO in flight
    assert exc.value.errno == errno.EBUSY
    report = load.finish()
    assert report.clean, report.summary()
    # Nobody has it open any more, so the EBUSY below is the move's.
    wait_until(
        lambda: ctl.lv_status("c", le_count=0).info.open_count == 0,
        30,
        "the LV to be closed",
    )
    th, out = move_in_thread(
        "c", 0, Extent(slow_dest.major, slow_dest.minor, 0), figures, mode=mode
    )
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.lv_remove("c")  # nobody has it open, but a move runs
    assert exc.value.errno == errno.EBUSY
    th.join(120)
    assert "stats" in out, out
    assert [lv.name for lv in ctl.lv_list()] == ["c"]


@pytest.mark.disks(2)
def test_create_remove_loop_beside_io_and_moves(
    ctl: Control,
    disks: list[str],
    make_lv: Callable[..., LVInfo],
    figures: Figures,
    mode: str,
) -> None:
    """LVs come and go 20 times while another LV is written and its LEs moved."""
    lv = make_lv(
        "busy",
        EXTENT_SECTORS,
        [Extent.from_path(disks[0], i * EXTENT_SECTORS) for i in range(2)],
    )
    load = Load(
        lv.node, "busy", BLOCKS_PER_LE, [0, 1], 2, figures=figures, writers=2, seed=21
    )
    load.start()
    stop = threading.Event()
    moved: list[int] = []
    failure: list[BaseException] = []

    def mover() -> None:
        try:
            with Control() as c:
                i = 0
                while not stop.is_set():
                    le = i % 2
                    # ping-pong each LE between disk 1 and its home on disk 0
                    dest = (
                        Extent.from_path(disks[1], (10 + le) * EXTENT_SECTORS)
                        if i % 4 < 2
                        else Extent.from_path(disks[0], le * EXTENT_SECTORS)
                    )
                    with figures.move():
                        c.pe_move("busy", le, dest, mode=mode)  # type: ignore[arg-type]
                    moved.append(le)
                    i += 1
        except BaseException as exc:
            failure.append(exc)

    th = threading.Thread(target=mover, daemon=True)
    th.start()
    try:
        for i in range(20):
            name = f"tmp{i}"
            lvs.create(
                ctl,
                name,
                EXTENT_SECTORS,
                [Extent.from_path(disks[1], (20 + i % 3) * EXTENT_SECTORS)],
            )
            ctl.lv_remove(name)
    finally:
        stop.set()
        th.join(120)
    assert not failure, failure
    assert len(moved) >= 1
    report = load.finish()
    assert report.clean, report.summary()
    assert [x.name for x in ctl.lv_list()] == ["busy"]
    assert clean_les(ctl.lv_status("busy"))


@pytest.mark.disks(1)
def test_rmmod_refused_while_an_lv_exists(module: Module, disks: list[str]) -> None:
    with Control() as c:
        lvs.create(c, "pin", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)])
    # The LV holds a module reference: delete_module(2) says "would block".
    with pytest.raises(OSError) as exc:
        guest.delete_module(module.name)
    assert exc.value.errno == errno.EWOULDBLOCK, exc.value
    assert module.loaded
    with Control() as c:
        assert [x.name for x in c.lv_list()] == ["pin"]
        c.lv_remove("pin")


def _leftovers() -> list[str]:
    found = []
    for path in (
        "/dev/pemove-control",
        "/sys/module/pemove",
        "/sys/class/misc/pemove-control",
    ):
        if os.path.exists(path):
            found.append(path)
    found += [
        f"/sys/block/{b}" for b in os.listdir("/sys/block") if b.startswith("pemove")
    ]
    for line in Path("/proc/devices").read_text().splitlines():
        if "pemove" in line:
            found.append(f"/proc/devices: {line.strip()}")
    slab = Path("/proc/slabinfo")
    if slab.exists():
        found += [
            f"slab {line.split()[0]}"
            for line in slab.read_text().splitlines()
            if line.startswith("pemove")
        ]
    return found


@pytest.mark.disks(1)
def test_insmod_rmmod_cycles_leave_nothing(module: Module, disks: list[str]) -> None:
    """Five load/use/unload cycles; after each unload nothing of the module is left."""
    for cycle in range(5):
        module.reload()
        with Control() as c:
            lvs.create(c, "cy", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)])
            c.lv_remove("cy")
        try:
            guest.delete_module(module.name)
        except OSError as exc:
            pytest.fail(f"cycle {cycle}: unloading failed: {exc}")
        try:  # devtmpfs nodes go asynchronously
            wait_until(lambda: not _leftovers(), 10, "the module's traces to go")
        except TimeoutError:
            pytest.fail(f"cycle {cycle}: left behind {_leftovers()}")
    module.reload()
