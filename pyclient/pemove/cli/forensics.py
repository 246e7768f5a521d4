"""After a failed ``pemove move``: where the LE lives now, and what holds it.

A failed PE_MOVE leaves the map as it was (docs/HACKING.md).  The report
reads the LE back with LV_STATUS, so it is evidence, not a promise, and on
EBUSY it names what else owns the LE.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pemove import errors
from pemove.control import Control, Extent, LEStatus

__all__ = ["failed_line", "failed_move", "le_state"]


def le_state(le: LEStatus) -> list[str]:
    """What holds an LE, in words: who owns it and what its IO is doing."""
    words = []
    if le.moving:
        words.append("a PE_MOVE is copying it")
    if le.wrlocked:
        words.append("a PE_LOCK (legacy move) holds its writes")
    if le.inflight:
        words.append(f"{le.inflight} bios in flight")
    if le.held:
        words.append(f"{le.held} bios held")
    return words


def failed_move(
    ctl: Control, name: str, le: int, source: Extent, dest: Extent, exc: OSError
) -> dict[str, Any]:
    """The record of a failed move: the errno and the LE as LV_STATUS shows it now.

    Keys: ``le``, ``from``, ``to``, ``errno`` (the Linux name, e.g.
    ``EOPNOTSUPP``), then ``pe_now``, ``unchanged`` and ``state``, or
    ``status_error`` when the LE could not be read back.
    """
    record: dict[str, Any] = {
        "le": le,
        "from": dataclasses.asdict(source),
        "to": dataclasses.asdict(dest),
        "errno": errors.errno_name(exc.errno),
    }
    try:
        now = ctl.lv_status(name).les[le]
    except (OSError, IndexError) as again:  # e.g. the LV was removed meanwhile
        record["status_error"] = str(again)
        return record
    record["pe_now"] = dataclasses.asdict(now.pe)
    record["unchanged"] = now.pe == source
    record["state"] = le_state(now)
    return record


def failed_line(name: str, failed: dict[str, Any]) -> str:
    """One line for a person from a :func:`failed_move` record."""
    if "pe_now" not in failed:
        return f"LE {failed['le']}: could not read its state back ({failed['status_error']})"
    where = Extent(**failed["pe_now"])
    if failed["unchanged"]:
        line = f"{name} LE {failed['le']} is still on {where}: the map is unchanged"
    else:
        line = f"{name} LE {failed['le']} is now on {where}, not where it was"
    if failed["state"]:
        line += "; now: " + ", ".join(failed["state"])
    return line
