"""Scenario 1, ``inflight``: O_DIRECT writes in flight (held back by dm-delay) when the LE moves."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from pemove import lvs
from pemove.control import Control, Extent
from pemove.move import DEFAULT_MODE
from pemove.wait import wait_until
from pemove.workload import dm
from pemove.workload.blockdev import modprobe, zero
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger
from pemove.workload.scenarios.common import (
    LV_PREFIX,
    SMALL_EXTENT_SECTORS,
    Log,
    Run,
    log_stderr,
)
from pemove.workload.verify import verify
from pemove.workload.writers import direct_writers, partition_lbas, running

__all__ = ["inflight_race"]


def inflight_race(
    ctl: Control,
    disks: Sequence[str],
    method: str,
    *,
    mode: str = DEFAULT_MODE,
    seed: int,
    writers: int = 4,
    write_ms: int = 1000,
    extent_sectors: int = SMALL_EXTENT_SECTORS,
    log: Log = log_stderr,
) -> dict[str, Any]:
    """Scenario 1: O_DIRECT writes in flight (delayed by dm-delay) when the LE moves.

    :param disks: at least two raw disks
    :param writers: O_DIRECT writer threads, i.e. writes in flight at the move
    :param write_ms: dm-delay's write delay on the source PV
    """
    run = Run("inflight", ctl, method, seed, mode)
    modprobe("dm-delay")
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    with dm.dm_devices() as made:
        src = dm.create(
            "race-src",
            dm.delay_table(disks[0], extent_sectors, read_ms=0, write_ms=write_ms),
        )
        made.append(src)
        dst = Extent.from_path(disks[1], 0)
        pe = Extent(src.major, src.minor, 0)
        with lvs.temporary(
            ctl, f"{LV_PREFIX}race-{method}-{mode}", extent_sectors, [pe]
        ) as (
            info,
            node,
        ):
            run.phases.mark("setup")
            ledger = Ledger(info.name, blocks_per_le)
            stop = threading.Event()
            deadline = time.monotonic_ns() + int(60e9)
            parts = partition_lbas(list(range(blocks_per_le)), writers)
            threads = direct_writers(
                node, ledger, parts, stop, deadline_ns=deadline, seed=seed
            )
            with running(threads, stop):
                # First let each writer have a write acknowledged, so the LE
                # holds data; then move while all of them have one in flight.
                wait_until(
                    lambda: all(
                        any(r.ack_ns for lba in t.lbas for r in ledger.history[lba])
                        for t in threads
                    ),
                    30,
                    "a first acknowledged write per writer",
                    interval=0.005,
                )
                wait_until(
                    lambda: (
                        ctl.lv_status(info.name, le_count=1).les[0].inflight >= writers
                    ),
                    30,
                    f"{writers} writes in flight on LE 0",
                    interval=0.005,
                )
                run.mover.move(info.name, 0, dst, [ledger])
            run.phases.mark("write+move")
            report = verify(node, ledger)
            run.phases.mark("verify")
    run.phases.mark("teardown")
    return run.verified(report, log, writers=writers, write_delay_ms=write_ms)
