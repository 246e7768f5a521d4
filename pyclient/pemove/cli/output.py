"""What the LV commands print: JSON documents for scripts, lines for people.

Every reporting command has ``--json``; the keys below are what scripts may
rely on.  A move record's ``method`` is the method that moved the LE
(``locked`` or ``legacy``) and its ``mode`` the locked move's mode (``live``
or ``whole``; null for legacy), see :mod:`pemove.move`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from pemove.control import Extent, LVInfo, LVStatus
from pemove.move import MoveResult
from pemove.units import human

__all__ = [
    "add_json",
    "info_dict",
    "info_line",
    "list_lines",
    "move_record",
    "moves_lines",
    "print_json",
    "status_dict",
    "status_lines",
]


def add_json(
    parser: argparse.ArgumentParser,
    help_text: str = "print the result as JSON on stdout",
) -> None:
    """The ``--json`` option of a reporting command."""
    parser.add_argument("--json", action="store_true", help=help_text)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout."""
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def info_dict(info: LVInfo) -> dict[str, Any]:
    """An LV: every LV_LIST field, plus ``notrack`` and ``size_bytes``."""
    data = dataclasses.asdict(info)
    data["notrack"] = info.notrack
    data["size_bytes"] = info.size_bytes
    return data


def status_dict(status: LVStatus, with_les: bool) -> dict[str, Any]:
    """An LV's status: ``info``, ``counters`` and, with ``with_les``, ``les``."""
    data: dict[str, Any] = {
        "info": info_dict(status.info),
        "counters": dataclasses.asdict(status.counters),
    }
    if with_les:
        data["les"] = [
            {
                "le": e.le,
                "pe": dataclasses.asdict(e.pe),
                "state": e.state,
                "locked": e.locked,
                "wrlocked": e.wrlocked,
                "moving": e.moving,
                "copying": e.copying,
                "synced": e.synced,
                "detached": e.detached,
                "inflight": e.inflight,
                "held": e.held,
            }
            for e in status.les
        ]
    return data


def move_record(
    le: int, source: Extent, dest: Extent, result: MoveResult
) -> dict[str, Any]:
    """One moved LE: ``le``, ``from``, ``to``, ``method``, ``mode`` and the move's ``stats``."""
    return {
        "le": le,
        "from": dataclasses.asdict(source),
        "to": dataclasses.asdict(dest),
        "method": result.method,
        "mode": result.mode,
        "stats": dataclasses.asdict(result.stats),
    }


def info_line(info: LVInfo, node: str | None) -> str:
    """``pemove create``'s line about the new LV."""
    return (
        f"{info.name}: {node or info.node} ({info.disk_major}:{info.disk_minor}), "
        f"{info.extent_count} extents of {human(info.extent_sectors * 512)} = "
        f"{human(info.size_bytes)}{', no tracking' if info.notrack else ''}"
    )


def list_lines(lvs: Sequence[LVInfo]) -> list[str]:
    """``pemove list``'s table."""
    if not lvs:
        return ["no LVs"]
    lines = [
        f"{'NAME':<16} {'DEVICE':<16} {'MAJ:MIN':<9} {'SIZE':>10} {'EXTENTS':>8} {'EXTENT':>10} {'OPEN':>4} FLAGS"
    ]
    for info in lvs:
        devno = f"{info.disk_major}:{info.disk_minor}"
        lines.append(
            f"{info.name:<16} {info.node:<16} {devno:<9}"
            f" {human(info.size_bytes):>10} {info.extent_count:>8} {human(info.extent_sectors * 512):>10}"
            f" {info.open_count:>4} {'notrack' if info.notrack else '-'}"
        )
    return lines


def status_lines(status: LVStatus, with_les: bool) -> list[str]:
    """``pemove status``'s report."""
    info, c = status.info, status.counters
    lines = [
        f"{info.name}: {info.node} ({info.disk_major}:{info.disk_minor})",
        f"  {info.extent_count} extents of {human(info.extent_sectors * 512)} = {human(info.size_bytes)}, "
        f"{info.pv_count} PVs, open {info.open_count}, reserve {human(info.reserve_bytes or 0)}"
        f"{', no tracking' if info.notrack else ''}",
        f"  bios {c.bios}, splits {c.splits}, flushes {c.flushes}, held {c.held} "
        f"({c.reads_held} reads), mirrored {c.writes_mirrored}, discards {c.discards}, "
        f"moves {c.moves} ({c.moves_failed} failed, {human(c.bytes_moved)}), remaps {c.remaps}",
    ]
    if with_les:
        lines.append(
            f"  {'LE':>8}  {'PV':<9} {'SECTOR':>12}  {'STATE':<16} {'INFLIGHT':>8} {'HELD':>6}"
        )
        for e in status.les:
            state = ",".join(
                s
                for s, on in (
                    ("locked", e.locked),
                    ("wrlocked", e.wrlocked),
                    ("moving", e.moving),
                    ("copying", e.copying),
                    ("synced", e.synced),
                    ("detached", e.detached),
                )
                if on
            )
            lines.append(
                f"  {e.le:>8}  {e.pe.devno:<9} {e.pe.sector:>12}  {state or '-':<16} {e.inflight:>8} {e.held:>6}"
            )
    return lines


def _how(rec: dict[str, Any]) -> str:
    return rec["method"] + (f", {rec['mode']}" if rec.get("mode") else "")


def moves_lines(
    lv: str, dev: str, records: Sequence[dict[str, Any]], planned: int
) -> list[str]:
    """``pemove move``'s summary: one line per LE for a single move, else one in all."""
    if planned == 1:
        lines = []
        for rec in records:
            s = rec["stats"]
            lines.append(
                f"moved {lv} LE {rec['le']} -> {Extent(**rec['to'])} ({_how(rec)}): "
                f"{human(s['bytes_copied'])}, IO held {s['hold_ns'] / 1e6:.1f} ms, "
                f"longest wait {s['max_wait_ns'] / 1e6:.1f} ms, "
                f"{s['bios_drained']} bios drained, {s['bios_held']} held, "
                f"{s['writes_mirrored']} writes mirrored"
            )
        return lines
    if not records:
        return []
    longest = max(r["stats"]["hold_ns"] for r in records) / 1e6
    wait = max(r["stats"]["max_wait_ns"] for r in records) / 1e6
    methods = "/".join(sorted({_how(r) for r in records}))
    copied = sum(r["stats"]["bytes_copied"] for r in records)
    return [
        f"moved {len(records)} of {planned} LEs of {lv} to {dev} ({methods}): "
        f"{human(copied)}, longest hold {longest:.1f} ms, longest wait {wait:.1f} ms"
    ]
