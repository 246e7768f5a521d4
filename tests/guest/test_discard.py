"""Discard and write-zeroes pass through to the PVs, and moves handle them like writes.

DESCRIPTION: the reviewer's finding 10.  Before the fix both were refused
(the LV advertised no discard), so fstrim and mkfs's discard failed on a
pemove LV.  Now the LV offers what all its PVs offer, splits them at extent
boundaries like any bio, holds and drains them during a whole-extent move,
and treats them as writes to the chunks they cover during a live move.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kit.directio import read_direct, write_direct
from pemove.control import Control, Extent
from pemove.workload.writers import Ext4Volume, FileWriter

EXTENT = 8192
MIB = 1 << 20


@pytest.mark.disks(2)
def test_discard_and_write_zeroes_reach_the_pvs(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 10: blkdiscard and blkdiscard -z work across an extent boundary."""
    lv = make_lv(
        "dz", EXTENT, [Extent.from_path(disks[0], 0), Extent.from_path(disks[1], 0)]
    )
    name = lv.disk_name
    assert int(Path(f"/sys/block/{name}/queue/discard_max_bytes").read_text()) > 0
    write_direct(lv.node, 0, b"\xab" * (8 * MIB))
    # Zero 2 MiB either side of the boundary between LE 0 (disk 0) and LE 1 (disk 1).
    subprocess.run(
        ["blkdiscard", "-z", "-o", str(2 * MIB), "-l", str(4 * MIB), lv.node],
        check=True,
    )
    assert read_direct(lv.node, 2 * MIB, 4 * MIB) == bytes(4 * MIB)
    assert read_direct(lv.node, 0, 2 * MIB) == b"\xab" * (2 * MIB)
    assert read_direct(disks[1], 0, 2 * MIB) == bytes(2 * MIB), (
        "LE 1's half went elsewhere"
    )
    subprocess.run(["blkdiscard", lv.node], check=True)
    assert ctl.lv_status("dz").counters.discards >= 2


@pytest.mark.disks(2)
@pytest.mark.parametrize("mode", ["live", "whole"])
def test_fstrim_during_a_move_storm_loses_nothing(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any], mode: str, seed: int
) -> None:
    """Finding 10: ext4 on an LV, files written, deleted and fstrimmed while every LE moves.

    fstrim sends discards for the freed blocks of the moving LEs; the files
    left must read back as their last fsynced content and e2fsck stays clean.
    """
    n_le = 8
    homes = [Extent.from_path(disks[0], i * EXTENT) for i in range(n_le)]
    twins = [Extent.from_path(disks[1], i * EXTENT) for i in range(n_le)]
    lv = make_lv("trim", EXTENT, homes)
    on_twin = [False] * n_le
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as mnt, Ext4Volume(lv.node, Path(mnt)) as vol:
        vol.create()
        stop = threading.Event()
        writer = FileWriter(
            vol.mountpoint, stop, seed=seed, files=24, max_bytes=256 << 10
        )
        writer.start()
        trims: list[int] = []
        failure: list[BaseException] = []

        def trimmer() -> None:
            try:
                while not stop.is_set():
                    res = subprocess.run(
                        ["fstrim", "-v", str(vol.mountpoint)],
                        capture_output=True,
                        text=True,
                    )
                    assert res.returncode == 0, res.stderr
                    trims.append(1)
            except BaseException as exc:  # reported below
                failure.append(exc)

        th = threading.Thread(target=trimmer, daemon=True)
        th.start()
        try:
            for _ in range(3 * n_le):
                le = rng.randrange(n_le)
                on_twin[le] = not on_twin[le]
                dest = twins[le] if on_twin[le] else homes[le]
                ctl.pe_move("trim", le, dest, mode=mode)  # type: ignore[arg-type]
        finally:
            stop.set()
            th.join(120)
            writer.join(120)
        assert not failure, failure
        assert trims, "fstrim never ran"
        report = vol.check(writer)
    assert report.fsck_clean, report.to_json()
    assert not report.lost and not report.corrupt, report.to_json()
    assert ctl.lv_status("trim").counters.discards > 0, "no discard reached the LV"
