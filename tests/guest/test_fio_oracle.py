"""Scenario 4: fio, an independent checker, sees no bad block across locked moves.

fio writes with verify=crc32c, verify_backlog and serialize_overlap=1
(libaio, iodepth 8, O_DIRECT) while the LV's extents keep moving with
PE_MOVE, then reads everything back with --verify_only.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence

import pytest
from pemove.control import Control
from pemove.workload import scenarios


@pytest.mark.disks(1)
def test_fio_verifies_across_locked_moves(
    ctl: Control, disks: Sequence[str], seed: int, mode: str
) -> None:
    if shutil.which("fio") is None:
        pytest.skip("fio is not installed (apt-get install fio)")
    r = scenarios.fio_oracle(scenarios.Setting(ctl, disks, "locked", seed, mode))
    print(r)
    assert r["fio_rc"] == [0, 0], r["fio_stderr"]
    assert r["corrupt"] == 0, r["fio_stderr"]
    assert r["moves"] > 0
    assert r["acked"] > 0
    assert r["verified"] >= r["acked"]
