"""Scenario 2, ``stale``: the source PV's page cache holds old data when the LE moves."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

from pemove import lvs
from pemove.control import Control, Extent
from pemove.move import DEFAULT_MODE
from pemove.workload.blockdev import drop_cache, zero
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
from pemove.workload.writers import write_pass

__all__ = ["stale_cache"]


def stale_cache(
    ctl: Control,
    disks: Sequence[str],
    method: str,
    *,
    mode: str = DEFAULT_MODE,
    seed: int,
    extent_sectors: int = SMALL_EXTENT_SECTORS,
    log: Log = log_stderr,
) -> dict[str, Any]:
    """Scenario 2: the source PV's page cache holds old data when the LE moves.

    :param disks: at least two raw disks
    """
    run = Run("stale", ctl, method, seed, mode)
    blocks_per_le = extent_sectors * 512 // BLOCK_SIZE
    zero(disks[0], 0, extent_sectors)
    zero(disks[1], 0, extent_sectors)
    # The raw disks serve as PVs: no dm device means no process to start.
    for disk in disks[:2]:
        drop_cache(disk)
    src = Extent.from_path(disks[0], 0)
    dst = Extent.from_path(disks[1], 0)
    with lvs.temporary(
        ctl, f"{LV_PREFIX}stale-{method}-{mode}", extent_sectors, [src]
    ) as (
        info,
        node,
    ):
        run.phases.mark("setup")
        ledger = Ledger(info.name, blocks_per_le)
        lbas = list(range(blocks_per_le))
        random.Random(seed).shuffle(lbas)
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
            run.mover.move(info.name, 0, dst, [ledger])
        finally:
            os.close(cache_fd)
        run.phases.mark("write+move")
        report = verify(node, ledger)
        run.phases.mark("verify")
    run.phases.mark("teardown")
    return run.verified(report, log)
