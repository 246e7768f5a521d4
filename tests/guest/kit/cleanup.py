"""Removing what a guest test left behind: LVs, then the dm devices under them.

Looking costs no process: the LVs come from LV_LIST, the dm devices from
sysfs.  ``dmsetup`` runs only for a device that is really there.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

import pytest
from pemove import lvs
from pemove.workload import dm

__all__ = ["KEPT", "LV_BUSY_WAIT", "WIPE_BYTES", "remove_leftovers", "wipe"]

#: Seconds an LV may stay busy (a writer closing, a move ending, udev on slow TCG guests).
LV_BUSY_WAIT = 180.0
CONTROL_NODE = "/dev/pemove-control"
#: Bytes zeroed at the start of each disk: old LV metadata or test data must
#: not leak across tests.
WIPE_BYTES = 1 << 20
#: The LVs that a fixture wider than one test owns, by name: the cleanup
#: after each test leaves them (the fixture removes them at its end).
KEPT = pytest.StashKey[set[str]]()


def _remove_lvs(timeout: float, keep: Collection[str]) -> list[str]:
    if not os.path.exists(CONTROL_NODE):
        return []
    from pemove.control import Control

    with Control() as ctl:
        return lvs.remove_all(ctl, timeout, keep)


def remove_leftovers(
    lv_timeout: float = LV_BUSY_WAIT, keep: Collection[str] = ()
) -> list[str]:
    """Remove every LV and every ``pemove-t*`` dm device; return what would not go.

    LVs go first (they hold their PVs), then the dm devices, then both once
    more if anything stayed, for stacks of the two.

    :param keep: LVs that a class- or module-scoped fixture owns (:data:`KEPT`)
    """
    problems = _remove_lvs(lv_timeout, keep) + dm.remove_all()
    if problems:
        problems = _remove_lvs(lv_timeout, keep) + dm.remove_all()
    return problems


def wipe(nodes: Iterable[str], nbytes: int = WIPE_BYTES) -> None:
    """Zero the first *nbytes* of each disk: no earlier test's metadata or data."""
    zeros = bytes(nbytes)
    for node in nodes:
        fd = os.open(node, os.O_WRONLY)
        try:
            os.write(fd, zeros)
            os.fsync(fd)
        finally:
            os.close(fd)
