"""Concurrent control commands: moves against moves, removes, creates and rmmod.

DESCRIPTION: a slow destination (dm-delay) keeps a PE_MOVE running for a
second or more, long enough for a second caller on another control file to
collide with it.  The same LE twice gives EBUSY; different LEs both move;
LV_REMOVE during IO or during a move gives EBUSY; LVs come and go in a loop
while another LV is written and moved; rmmod is refused while an LV exists;
insmod/rmmod cycles leave no node, sysfs entry or slab cache behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kit.faults import clean_les, move_in_thread
from kit.module import Module
from kit.rig import EXTENT, Rig
from pemove import errors, lvs
from pemove.control import Control, Extent, LVInfo
from pemove.vm import guest
from pemove.wait import wait_until

# An EXTENT (4 MiB) is four copy chunks.


@pytest.fixture
def slow_dest(rig: Rig) -> Extent:
    """A destination on disk 1 whose writes take 300 ms: moves onto it last seconds."""
    return rig.slow(write_ms=300, extents=8)


@pytest.fixture
def two_le_lv(rig: Rig) -> LVInfo:
    """LV ``c``: two LEs on disk 0."""
    return rig.lv("c", 2)


def _wait_moving(ctl: Control, lv: str, le: int, timeout: float = 20.0) -> None:
    wait_until(
        lambda: ctl.lv_status(lv).les[le].state != 0,
        timeout,
        f"LE {le} of {lv} to start moving",
        interval=0.01,
    )


@contextlib.contextmanager
def _le0_moving(rig: Rig, dest: Extent, mode: str) -> Iterator[None]:
    """LE 0 of ``c`` moving onto ``dest`` on another control file, for the body;
    then that move must have succeeded."""
    th, out = move_in_thread("c", 0, dest, rig.figures, mode=mode)
    _wait_moving(rig.ctl, "c", 0)
    yield
    th.join(120)
    assert "stats" in out, out


def _refused(
    rig: Rig,
    slow_dest: Extent,
    mode: str,
    le: int,
    dest: Extent,
    *,
    second_mode: str | None = None,
) -> int:
    """The errno of a PE_MOVE of LE ``le`` of ``c`` onto ``dest`` (in
    ``second_mode``, else the default) made while :func:`_le0_moving` moves
    LE 0 onto ``slow_dest`` in ``mode``."""
    kw: dict[str, Any] = {} if second_mode is None else {"mode": second_mode}
    with _le0_moving(rig, slow_dest, mode):
        with pytest.raises(errors.PemoveError) as exc, rig.figures.move():
            rig.ctl.pe_move("c", le, dest, **kw)
    return exc.value.errno


@pytest.mark.disks(2)
def test_same_le_twice_one_gets_ebusy(
    rig: Rig, two_le_lv: LVInfo, slow_dest: Extent, mode: str
) -> None:
    other = replace(slow_dest, sector=2 * EXTENT)
    assert _refused(rig, slow_dest, mode, 0, other) == errno.EBUSY
    assert rig.ctl.lv_status("c").les[0].pe == slow_dest


@pytest.mark.disks(2)
def test_same_destination_twice_is_refused(
    rig: Rig, two_le_lv: LVInfo, slow_dest: Extent, mode: str
) -> None:
    """Two LEs moved onto the same PE at once: the second is refused (EINVAL)."""
    assert (
        _refused(rig, slow_dest, mode, 1, slow_dest, second_mode=mode) == errno.EINVAL
    )


@pytest.mark.disks(2)
def test_different_les_at_once_both_move(
    rig: Rig, two_le_lv: LVInfo, slow_dest: Extent, mode: str
) -> None:
    ctl, figures = rig.ctl, rig.figures
    load = rig.load(two_le_lv, seed=11)
    load.start()
    dests = [slow_dest, replace(slow_dest, sector=4 * EXTENT)]
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
    rig: Rig, slow_dest: Extent, mode: str
) -> None:
    ctl = rig.ctl
    lv = rig.lv("c")
    load = rig.load(lv, writers=1, seed=3)
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
    with _le0_moving(rig, slow_dest, mode):
        with pytest.raises(errors.PemoveError) as exc:
            ctl.lv_remove("c")  # nobody has it open, but a move runs
        assert exc.value.errno == errno.EBUSY
    assert [lv.name for lv in ctl.lv_list()] == ["c"]


@pytest.mark.disks(2)
def test_create_remove_loop_beside_io_and_moves(rig: Rig, mode: str) -> None:
    """LVs come and go 20 times while another LV is written and its LEs moved."""
    ctl = rig.ctl
    lv = rig.lv("busy", 2)
    load = rig.load(lv, seed=21)
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
                        rig.pe(1, (10 + le) * EXTENT)
                        if i % 4 < 2
                        else rig.pe(0, le * EXTENT)
                    )
                    with rig.figures.move():
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
            lvs.create(ctl, name, EXTENT, [rig.pe(1, (20 + i % 3) * EXTENT)])
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
        lvs.create(c, "pin", EXTENT, [Extent.from_path(disks[0], 0)])
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
            lvs.create(c, "cy", EXTENT, [Extent.from_path(disks[0], 0)])
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
