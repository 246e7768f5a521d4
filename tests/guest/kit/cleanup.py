"""Removing what a guest test left behind: LVs, then the dm devices under them.

Looking costs no process: the LVs come from LV_LIST, the dm devices from
sysfs.  ``dmsetup`` runs only for a device that is really there.
"""

from __future__ import annotations

import os

from pemove import lvs
from pemove.workload import dm

__all__ = ["LV_BUSY_WAIT", "remove_leftovers"]

#: Seconds an LV may stay busy (a writer closing, a move ending, udev on slow TCG guests).
LV_BUSY_WAIT = 180.0
CONTROL_NODE = "/dev/pemove-control"


def _remove_lvs(timeout: float) -> list[str]:
    if not os.path.exists(CONTROL_NODE):
        return []
    from pemove.control import Control

    with Control() as ctl:
        return lvs.remove_all(ctl, timeout)


def remove_leftovers(lv_timeout: float = LV_BUSY_WAIT) -> list[str]:
    """Remove every LV and every ``pemove-t*`` dm device; return what would not go.

    LVs go first (they hold their PVs), then the dm devices, then both once
    more if anything stayed, for stacks of the two.
    """
    problems = _remove_lvs(lv_timeout) + dm.remove_all()
    if problems:
        problems = _remove_lvs(lv_timeout) + dm.remove_all()
    return problems
