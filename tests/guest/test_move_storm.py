"""Scenario 3: at least 200 locked moves under mixed load lose nothing.

Every PE of two LVs moves back and forth between two disks while four
O_DIRECT writers, a buffered+fsync writer and an ext4 file writer run.
Blocks are verified, ext4 must pass ``e2fsck -fn``, and every file must hold
its last fsynced content.  PEMOVE_STORM_MOVES raises the move count (e.g.
2000 for a long run); PEMOVE_SEED fixes the seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
from pemove.control import Control
from pemove.workload import scenarios

MOVES = max(200, int(os.environ.get("PEMOVE_STORM_MOVES", "200")))


@pytest.mark.disks(2)
def test_move_storm_locked_loses_nothing(
    ctl: Control, disks: Sequence[str], seed: int, mode: str
) -> None:
    setting = scenarios.Setting(ctl, disks[:2], "locked", seed, mode)
    r = scenarios.move_storm(setting, moves=MOVES)
    print({k: v for k, v in r.items() if k not in ("verify", "files")})
    assert (r["method"], r["mode"]) == ("locked", mode)
    assert r["moves"] >= MOVES
    assert r["verify"]["acked"] > 0
    assert r["files"]["acked"] > 0
    assert r["fsck_clean"], r["files"]["fsck_tail"]
    assert (r["lost"], r["stale"], r["corrupt"]) == (0, 0, 0), (r["verify"], r["files"])
