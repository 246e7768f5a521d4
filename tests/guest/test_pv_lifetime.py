"""An LV holds a PV only while one of its LEs, or a move in progress, uses it.

DESCRIPTION: the reviewer's finding 0 ("the evacuated disk is never
released").  Before the fix an LV opened a PV when it was created or when a
move's destination was checked, and never closed it again: after emptying
a disk, LV_STATUS still counted it, another exclusive user got EBUSY, and
it stayed in the flush fan-out, so a dead old disk failed every flush of
the LV.  A destination that a move accepted and then failed on stayed open
too.  Each test here claims the disk the way another user would (an
exclusive open, dmsetup, mkfs) right after the LV stopped using it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from kit.faults import clean_les, spawn_mover
from kit.rig import EXTENT, Rig, at
from pemove import errors
from pemove.control import Extent
from pemove.wait import wait_until
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE


def claimable(node: str) -> bool:
    """Can another user open ``node`` exclusively right now?"""
    try:
        fd = os.open(node, os.O_RDONLY | os.O_EXCL)
    except OSError as exc:
        assert exc.errno == errno.EBUSY, exc
        return False
    os.close(fd)
    return True


@pytest.mark.disks(2)
def test_evacuated_disk_is_released_at_once(rig: Rig) -> None:
    """Finding 0: after its last LE left, the old disk is free for dm and mkfs at once."""
    ctl = rig.ctl
    a, b = rig.disks[0], rig.disks[1]
    lv = rig.lv("ev", 2)
    assert ctl.lv_status("ev").info.pv_count == 1
    assert not claimable(a), "the LV should hold its PV exclusively"

    ctl.pe_move("ev", 0, Extent.from_path(b, 0), mode="live")
    status = ctl.lv_status("ev")
    assert status.info.pv_count == 2, "one LE left on each disk"
    assert not claimable(a), "LE 1 still uses the old disk"

    ctl.pe_move("ev", 1, Extent.from_path(b, EXTENT), mode="whole")
    status = ctl.lv_status("ev")
    assert status.info.pv_count == 1
    new = Extent.from_path(b)
    assert {(le.pe.major, le.pe.minor) for le in status.les} == {(new.major, new.minor)}
    # Another exclusive user can have the old disk now: dm, then mkfs.
    assert claimable(a)
    sectors = int(Path(f"/sys/class/block/{os.path.basename(a)}/size").read_text())
    user = dm.create("reuse", dm.linear_table(a, sectors))
    dm.remove(user.name)
    subprocess.run(["mkfs.ext4", "-q", "-F", a], check=True)
    assert lv.extent_count == 2


@pytest.mark.disks(2)
def test_pv_stays_held_while_an_le_uses_it(rig: Rig) -> None:
    """Finding 0: a PV shared by two LVs stays held until neither uses it."""
    ctl = rig.ctl
    a, b = rig.disks[0], rig.disks[1]
    rig.make_lv("s1", EXTENT, [rig.pe(0)])
    rig.make_lv("s2", EXTENT, [rig.pe(0, EXTENT)])
    ctl.pe_move("s1", 0, Extent.from_path(b, 0))
    assert not claimable(a), "s2 still lives on the disk"
    ctl.pe_move("s2", 0, Extent.from_path(b, EXTENT))
    assert claimable(a)
    assert ctl.lv_status("s1").info.pv_count == 1
    assert ctl.lv_status("s2").info.pv_count == 1


@pytest.mark.disks(2)
def test_old_disk_leaves_the_flush_fan_out(rig: Rig) -> None:
    """Finding 0: a flush of the LV no longer reaches the disk it left.

    The old PV is suspended without flushing, so any flush sent to it would
    wait until the resume.  Before the fix fsync on the LV hung here; now it
    returns, because only the PV the LE lives on is flushed.
    """
    ctl = rig.ctl
    old = rig.linear("old", disk=0, extents=2)
    lv = rig.make_lv("ff", EXTENT, [at(old)])
    ctl.pe_move("ff", 0, rig.pe(1))
    assert ctl.lv_status("ff").info.pv_count == 1
    old.suspend_noflush()
    done = threading.Event()
    failure: list[BaseException] = []

    def sync() -> None:
        try:
            fd = os.open(lv.node, os.O_RDWR)
            try:
                os.pwrite(fd, b"x" * BLOCK_SIZE, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException as exc:  # reported below
            failure.append(exc)
        done.set()

    th = threading.Thread(target=sync, daemon=True)
    th.start()
    try:
        finished = done.wait(30)
    finally:
        old.resume()
        th.join(60)
    assert finished, "fsync on the LV waited for the disk it had left"
    assert not failure, failure


@pytest.mark.disks(2)
@pytest.mark.kmsg_allow(
    r"pemove: .*move of LE \d+ failed", r"I/O error", r"Buffer I/O error"
)
@pytest.mark.parametrize("mode", ["whole", "live"])
def test_failed_move_gives_the_destination_back(rig: Rig, mode: str) -> None:
    """Finding 0: a destination that was accepted and then failed (EIO) is closed again."""
    ctl = rig.ctl
    table = dm.flakey_table(
        rig.disks[1], 2 * EXTENT, up_s=0, down_s=3600, features=("error_writes",)
    )
    dst = rig.make_dm("bad", table)
    lv = rig.lv("fd")
    load = rig.load(lv, seed=7)
    with load.running():
        load.wait_writes(10)
        with pytest.raises(errors.MoveIOError) as exc:
            ctl.pe_move("fd", 0, at(dst), mode=mode)  # type: ignore[arg-type]
        assert exc.value.errno == errno.EIO
        status = ctl.lv_status("fd")
        assert status.info.pv_count == 1, "the failed destination is still held"
        assert claimable(dst.node)
        load.wait_writes(10)
    assert clean_les(ctl.lv_status("fd"))


@pytest.mark.disks(2)
def test_killed_move_gives_the_destination_back(rig: Rig) -> None:
    """Finding 0: EINTR (the mover killed mid-copy) closes the destination too."""
    ctl = rig.ctl
    slow = rig.delayed(write_ms=200, extents=2)
    rig.lv("kd")
    dest = at(slow)
    with spawn_mover("kd", 0, dest, "live", chunk_sectors=8) as mover:
        wait_until(
            lambda: ctl.move_status("kd", 0).copied_sectors > 0, 60, "the copy to start"
        )
        assert ctl.lv_status("kd").info.pv_count == 2
        mover.send_signal(signal.SIGKILL)
        assert mover.wait(60) == -signal.SIGKILL
    status = ctl.lv_status("kd")
    assert status.les[0].pe == rig.pe(0), "the map changed"
    assert status.info.pv_count == 1
    assert claimable(slow.node)
    assert clean_les(status)
