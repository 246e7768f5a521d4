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
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pemove import errors
from pemove.control import Control, Extent
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.faults import (
    TOTALS,
    Load,
    clean_les,
    move_in_thread,
    settle,
    wait_node,
)

ES = 8192  # 4 MiB: four copy chunks
BPE = ES * 512 // BLOCK_SIZE


@pytest.fixture(autouse=True)
def _settled() -> Iterator[None]:
    yield
    settle()


def _slow_dest(disk: str, sectors: int, write_ms: int = 300) -> dm.DmDevice:
    return dm.create(
        "slow", dm.delay_table(disk, sectors, read_ms=0, write_ms=write_ms)
    )


def _wait_moving(ctl: Control, lv: str, le: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while ctl.lv_status(lv).les[le].state == 0:
        assert time.monotonic() < deadline, f"LE {le} of {lv} never started moving"
        time.sleep(0.01)


@pytest.fixture
def two(disks: list[str]) -> list[str]:
    if len(disks) < 2:
        pytest.skip("needs 2 disks")
    return disks


def test_same_le_twice_one_gets_ebusy(ctl: Control, two: list[str]) -> None:
    slow = _slow_dest(two[1], 8 * ES)
    lv = ctl.lv_create(
        "c", ES, [Extent.from_path(two[0], 0), Extent.from_path(two[0], ES)]
    )
    wait_node(lv.node)
    th, out = move_in_thread("c", 0, Extent(slow.major, slow.minor, 0))
    TOTALS.moves_attempted += 2
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.pe_move("c", 0, Extent(slow.major, slow.minor, 2 * ES))
    TOTALS.moves_failed += 1
    assert exc.value.errno == errno.EBUSY
    th.join(120)
    assert "stats" in out, out
    assert ctl.lv_status("c").les[0].pe == Extent(slow.major, slow.minor, 0)


def test_same_destination_twice_is_refused(ctl: Control, two: list[str]) -> None:
    """Two LEs moved onto the same PE at once: the second is refused (EINVAL)."""
    slow = _slow_dest(two[1], 8 * ES)
    lv = ctl.lv_create(
        "c", ES, [Extent.from_path(two[0], 0), Extent.from_path(two[0], ES)]
    )
    wait_node(lv.node)
    dest = Extent(slow.major, slow.minor, 0)
    th, out = move_in_thread("c", 0, dest)
    TOTALS.moves_attempted += 2
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.pe_move("c", 1, dest)
    TOTALS.moves_failed += 1
    assert exc.value.errno == errno.EINVAL
    th.join(120)
    assert "stats" in out, out


def test_different_les_at_once_both_move(ctl: Control, two: list[str]) -> None:
    slow = _slow_dest(two[1], 8 * ES)
    lv = ctl.lv_create(
        "c", ES, [Extent.from_path(two[0], 0), Extent.from_path(two[0], ES)]
    )
    wait_node(lv.node)
    load = Load(lv.node, "c", BPE, [0, 1], 2, writers=2, seed=11)
    load.start()
    dests = [Extent(slow.major, slow.minor, 0), Extent(slow.major, slow.minor, 4 * ES)]
    moves = [move_in_thread("c", le, dests[le]) for le in (0, 1)]
    TOTALS.moves_attempted += 2
    for th, _ in moves:
        th.join(120)
    assert [out.get("error") for _, out in moves] == [None, None]
    report = load.finish()
    assert (report.lost, report.stale, report.corrupt) == (0, 0, 0), report.summary()
    status = ctl.lv_status("c")
    assert [le.pe for le in status.les] == dests
    assert status.counters.moves == 2 and clean_les(status)


def test_remove_while_io_and_while_moving_is_ebusy(
    ctl: Control, two: list[str]
) -> None:
    slow = _slow_dest(two[1], 8 * ES)
    lv = ctl.lv_create("c", ES, [Extent.from_path(two[0], 0)])
    wait_node(lv.node)
    load = Load(lv.node, "c", BPE, [0], 1, writers=1, seed=3)
    load.start()
    load.wait_writes(10)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.lv_remove("c")  # the writer holds the node open, IO in flight
    assert exc.value.errno == errno.EBUSY
    report = load.finish()
    assert report.clean, report.summary()
    settle()
    th, out = move_in_thread("c", 0, Extent(slow.major, slow.minor, 0))
    TOTALS.moves_attempted += 1
    _wait_moving(ctl, "c", 0)
    with pytest.raises(errors.PemoveError) as exc:
        ctl.lv_remove("c")  # nobody has it open, but a move runs
    assert exc.value.errno == errno.EBUSY
    th.join(120)
    assert "stats" in out, out
    assert [lv.name for lv in ctl.lv_list()] == ["c"]


def test_create_remove_loop_beside_io_and_moves(ctl: Control, two: list[str]) -> None:
    """LVs come and go 20 times while another LV is written and its LEs moved."""
    lv = ctl.lv_create("busy", ES, [Extent.from_path(two[0], i * ES) for i in range(2)])
    wait_node(lv.node)
    load = Load(lv.node, "busy", BPE, [0, 1], 2, writers=2, seed=21)
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
                        Extent.from_path(two[1], (10 + le) * ES)
                        if i % 4 < 2
                        else Extent.from_path(two[0], le * ES)
                    )
                    c.pe_move("busy", le, dest)
                    moved.append(le)
                    i += 1
        except BaseException as exc:
            failure.append(exc)

    th = threading.Thread(target=mover, daemon=True)
    th.start()
    try:
        for i in range(20):
            name = f"tmp{i}"
            ctl.lv_create(name, ES, [Extent.from_path(two[1], (20 + i % 3) * ES)])
            settle()
            ctl.lv_remove(name)
    finally:
        stop.set()
        th.join(120)
    TOTALS.moves_attempted += len(moved)
    assert not failure, failure
    assert len(moved) >= 1
    report = load.finish()
    assert (report.lost, report.stale, report.corrupt) == (0, 0, 0), report.summary()
    assert [x.name for x in ctl.lv_list()] == ["busy"]
    assert clean_les(ctl.lv_status("busy"))


def test_rmmod_refused_while_an_lv_exists(module: Any, disks: list[str]) -> None:
    if not disks:
        pytest.skip("needs a disk")
    with Control() as c:
        c.lv_create("pin", ES, [Extent.from_path(disks[0], 0)])
    settle()
    res = subprocess.run(
        ["rmmod", module.name], capture_output=True, text=True, check=False
    )
    assert res.returncode != 0, "rmmod succeeded with an LV present"
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


def test_insmod_rmmod_cycles_leave_nothing(module: Any, disks: list[str]) -> None:
    """Five load/use/unload cycles; after each unload nothing of the module is left."""
    if not disks:
        pytest.skip("needs a disk")
    for cycle in range(5):
        module.reload()
        with Control() as c:
            lv = c.lv_create("cy", ES, [Extent.from_path(disks[0], 0)])
            wait_node(lv.node)
            settle()
            c.lv_remove("cy")
        res = subprocess.run(
            ["rmmod", module.name], capture_output=True, text=True, check=False
        )
        assert res.returncode == 0, f"cycle {cycle}: rmmod failed: {res.stderr}"
        deadline = time.monotonic() + 10
        while (left := _leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)  # devtmpfs nodes go asynchronously
        assert left == [], f"cycle {cycle}: left behind {left}"
    module.reload()
