"""Scenario 2, ``stale``: the source PV's page cache holds old data when the LE moves."""

from __future__ import annotations

import os
import random
from typing import Any

from pemove.control import Extent
from pemove.workload.blockdev import drop_cache, zero
from pemove.workload.ledger import Ledger
from pemove.workload.scenarios.common import SMALL_EXTENT_SECTORS, Run, Setting
from pemove.workload.writers import write_pass

__all__ = ["stale_cache"]


def stale_cache(
    setting: Setting, *, extent_sectors: int = SMALL_EXTENT_SECTORS
) -> dict[str, Any]:
    """Scenario 2: the source PV's page cache holds old data when the LE moves.

    :param setting: ``setting.disks`` needs at least two raw disks
    """
    run = Run("stale", setting)
    disks = setting.disks
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    # The raw disks serve as PVs: no dm device means no process to start.
    for disk in disks[:2]:
        drop_cache(disk)
    src = Extent.from_path(disks[0], 0)
    dst = Extent.from_path(disks[1], 0)

    def race(lv: str, node: str, ledger: Ledger) -> None:
        lbas = list(range(ledger.blocks_per_extent))
        random.Random(setting.seed).shuffle(lbas)
        ledger.claim(lbas, 1)
        write_pass(node, ledger, 1, lbas)
        # Read the PE through the PV's node: its page cache now holds
        # generation 1.  Keep the node open so the cache is not dropped on
        # last close, whatever else holds the PV.
        cache_fd = os.open(disks[0], os.O_RDONLY | os.O_CLOEXEC)
        try:
            got = os.pread(cache_fd, extent_sectors * 512, 0)
            if len(got) != extent_sectors * 512:
                raise OSError(f"{disks[0]}: short read while filling the page cache")
            write_pass(node, ledger, 1, lbas)
            run.mover.move(lv, 0, dst, [ledger])
        finally:
            os.close(cache_fd)

    report = run.one_le("stale", src, extent_sectors, race)
    return run.verified(report)
