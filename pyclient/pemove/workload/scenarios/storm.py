"""Scenario 3, ``storm``: every PE of two LVs moves back and forth under mixed load."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pemove import lvs
from pemove.workload.blockdev import zero
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger
from pemove.workload.scenarios.common import LV_PREFIX, MIB_SECTORS, Run, Setting, Slots
from pemove.workload.verify import verify
from pemove.workload.writers import (
    BufferedWriter,
    Ext4Volume,
    FileWriter,
    direct_writers,
    partition_lbas,
    running,
)

__all__ = ["move_storm"]


def move_storm(
    setting: Setting,
    *,
    moves: int = 200,
    block_extents: int = 8,
    fs_extents: int = 32,
    extent_sectors: int = MIB_SECTORS,
    timeout: float = 900,
) -> dict[str, Any]:
    """Scenario 3: every PE of two LVs moves back and forth under mixed load.

    LV ``pmt-storm-blk`` carries four O_DIRECT writers and one buffered+fsync
    writer; LV ``pmt-storm-fs`` carries ext4 (journal inside) and a file
    writer.  LEs of both LVs are moved in turn, A to B and back, until
    ``moves`` moves are done.

    :param setting: ``setting.disks`` needs at least two raw disks
    """
    run = Run("storm", setting)
    ctl, disks, seed, log = setting.ctl, setting.disks, setting.seed, setting.log
    mover = run.mover
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    a, b = disks[0], disks[1]
    fs_base = block_extents * extent_sectors
    total = (block_extents + fs_extents) * extent_sectors
    zero(a, 0, total)
    zero(b, 0, total)
    blk = Slots(a, b, 0, extent_sectors, block_extents)
    fs = Slots(a, b, fs_base, extent_sectors, fs_extents)
    stop = threading.Event()
    deadline = time.monotonic_ns() + int(timeout * 1e9)
    with contextlib.ExitStack() as stack:
        blk_info, blk_node = stack.enter_context(
            lvs.temporary(ctl, f"{LV_PREFIX}storm-blk", extent_sectors, blk.home())
        )
        fs_info, fs_node = stack.enter_context(
            lvs.temporary(ctl, f"{LV_PREFIX}storm-fs", extent_sectors, fs.home())
        )
        mnt = stack.enter_context(tempfile.TemporaryDirectory(prefix="pemove-storm-"))
        vol = stack.enter_context(Ext4Volume(fs_node, Path(mnt)))
        vol.create()
        ledger = Ledger(blk_info.name, blocks_per_le)
        parts = partition_lbas(list(range(block_extents * blocks_per_le)), 5)
        threads: list[Any] = direct_writers(
            blk_node, ledger, parts[:4], stop, deadline_ns=deadline, seed=seed
        )
        threads.append(
            BufferedWriter(
                blk_node, ledger, 5, parts[4], stop, deadline_ns=deadline, seed=seed + 4
            )
        )
        files = FileWriter(Path(mnt), stop, deadline_ns=deadline, seed=seed + 5)
        threads.append(files)
        order = [(blk_info.name, le, blk, [ledger]) for le in range(block_extents)]
        order += [(fs_info.name, le, fs, []) for le in range(fs_extents)]
        with running(threads, stop):
            i = 0
            while mover.moves < moves and time.monotonic_ns() < deadline:
                lv, le, slots, ledgers = order[i % len(order)]
                mover.move(lv, le, slots.flip(le), ledgers)
                i += 1
                if mover.moves % 50 == 0:
                    log(
                        f"storm: {mover.moves}/{moves} moves, {ledger.acked} block writes acknowledged"
                    )
        report = verify(blk_node, ledger)
        file_report = vol.check(files)
        vol.umount()
    log(f"{run.label}: {report.summary()}; files: {file_report.to_json()}")
    return run.result(
        acked=report.acked + file_report.acked,
        lost=report.lost + len(file_report.lost),
        stale=report.stale,
        corrupt=report.corrupt
        + len(file_report.corrupt)
        + (0 if file_report.fsck_clean else 1),
        moves_wanted=moves,
        writes=sum(t.writes for t in threads),
        verify=report.to_json(),
        files=file_report.to_json(),
        fsck_clean=file_report.fsck_clean,
    )
