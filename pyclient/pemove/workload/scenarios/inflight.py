"""Scenario 1, ``inflight``: O_DIRECT writes in flight (held back by dm-delay) when the LE moves."""

from __future__ import annotations

import threading
import time
from typing import Any

from pemove.control import Extent
from pemove.wait import wait_until
from pemove.workload import dm
from pemove.workload.blockdev import modprobe, zero
from pemove.workload.ledger import Ledger
from pemove.workload.scenarios.common import SMALL_EXTENT_SECTORS, Run, Setting
from pemove.workload.writers import direct_writers, partition_lbas, running

__all__ = ["inflight_race"]


def inflight_race(
    setting: Setting,
    *,
    writers: int = 4,
    write_ms: int = 1000,
    extent_sectors: int = SMALL_EXTENT_SECTORS,
) -> dict[str, Any]:
    """Scenario 1: O_DIRECT writes in flight (delayed by dm-delay) when the LE moves.

    :param setting: ``setting.disks`` needs at least two raw disks
    :param writers: O_DIRECT writer threads, i.e. writes in flight at the move
    :param write_ms: dm-delay's write delay on the source PV
    """
    run = Run("inflight", setting)
    ctl, disks = setting.ctl, setting.disks
    modprobe("dm-delay")
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    dst = Extent.from_path(disks[1], 0)

    def race(lv: str, node: str, ledger: Ledger) -> None:
        stop = threading.Event()
        deadline = time.monotonic_ns() + int(60e9)
        parts = partition_lbas(list(range(ledger.blocks_per_extent)), writers)
        threads = direct_writers(
            node, ledger, parts, stop, deadline_ns=deadline, seed=setting.seed
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
                lambda: ctl.lv_status(lv, le_count=1).les[0].inflight >= writers,
                30,
                f"{writers} writes in flight on LE 0",
                interval=0.005,
            )
            run.mover.move(lv, 0, dst, [ledger])

    with dm.dm_devices() as made:
        src = dm.create(
            "race-src",
            dm.delay_table(disks[0], extent_sectors, read_ms=0, write_ms=write_ms),
        )
        made.append(src)
        pe = Extent(src.major, src.minor, 0)
        report = run.one_le("race", pe, extent_sectors, race)
    return run.verified(report, writers=writers, write_delay_ms=write_ms)
