"""``pemove activate|deactivate|scan``: LVs from and to their on-disk metadata.

- ``scan``: what the metadata on the block devices describes, read-only;
- ``activate [NAME...]``: create those LVs in the kernel, all or none;
- ``deactivate NAME...``: remove LVs from the kernel, keeping their metadata
  (``pemove remove`` destroys both).
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Any

from pemove import discovery, errors, exitcodes, lvs
from pemove.cli import output
from pemove.cli.lv import (
    _add_wait,
    _finish,
    _node_timeout,
    _parser,
    _reports_errors,
)
from pemove.control import Control
from pemove.metadata import activate as act
from pemove.metadata import assemble
from pemove.metadata.errors import MetadataError
from pemove.metadata.store import Store

__all__ = ["register"]


def _assembly_dict(asm: assemble.Assembly, active: set[str]) -> dict[str, Any]:
    rec = asm.record
    data: dict[str, Any] = {
        "name": asm.name,
        "ok": asm.ok,
        "active": asm.name in active,
    }
    if rec is not None:
        data.update(
            uuid=rec.uuid.hex,
            generation=rec.generation,
            extent_sectors=rec.extent_sectors,
            extent_count=len(rec.map),
            notrack=rec.notrack,
            pvs=[{"uuid": p.hex, "node": asm.nodes.get(p)} for p in rec.pvs],
            pending_moves=[{"le": m.le, "state": m.state} for m in rec.moves],
        )
    data["stale_copies"] = asm.stale
    data["problems"] = asm.problems
    return data


def _scan(
    devices: list[str] | None, names: list[str] | None
) -> tuple[assemble.Scan, list[assemble.Assembly]]:
    found = assemble.scan(devices or None)
    return found, assemble.assemble(found, names or None)


def _active_names() -> set[str]:
    try:
        with Control() as ctl:
            return {i.name for i in ctl.lv_list()}
    except errors.PemoveError:
        return set()


@_reports_errors
def _cmd_scan(args: argparse.Namespace) -> int:
    found, lvs_found = _scan(args.device, args.names)
    active = _active_names()
    if args.json:
        output.print_json(
            {
                "devices_read": found.devices_read,
                "pvs": [
                    {"uuid": u.hex, "node": pv.node, "lvs": [r.name for r in pv.lvs]}
                    for u, pv in found.pvs.items()
                ],
                "lvs": [_assembly_dict(a, active) for a in lvs_found],
                "problems": found.problems,
            }
        )
    else:
        for a in lvs_found:
            rec = a.record
            state = "active" if a.name in active else ("ready" if a.ok else "REFUSED")
            size = f"{len(rec.map)} LEs, generation {rec.generation}" if rec else "-"
            print(f"{a.name:<16} {state:<8} {size}")
            for p in a.problems:
                print(f"  problem: {p}")
            if rec is not None and rec.moves:
                print(
                    f"  interrupted moves of LEs {[m.le for m in rec.moves]}: pemove move {a.name} --resume"
                )
        for p in found.problems:
            print(f"device problem: {p}")
    bad = found.problems or any(not a.ok for a in lvs_found)
    return exitcodes.FAILED if bad else exitcodes.OK


@_reports_errors
def _cmd_activate(args: argparse.Namespace) -> int:
    found, wanted = _scan(args.device, args.names)
    if not wanted and not args.names:
        print("pemove activate: no pemove metadata found", file=sys.stderr)
    with Control() as ctl:
        done = act.activate(ctl, wanted, timeout=_node_timeout(args))
    if args.json:
        output.print_json(
            {
                "activated": [
                    {
                        **output.info_dict(d.info),
                        "node": d.node,
                        "already_active": d.already,
                        "pending_moves": [m.le for m in d.assembly.record.moves]
                        if d.assembly.record
                        else [],
                    }
                    for d in done
                ],
                "problems": found.problems,
            }
        )
    else:
        for d in done:
            note = " (already active)" if d.already else ""
            print(output.info_line(d.info, d.node) + note)
            rec = d.assembly.record
            if rec is not None and rec.moves:
                print(
                    f"  interrupted moves of LEs {[m.le for m in rec.moves]}: pemove move {rec.name} --resume"
                )
    return exitcodes.OK


def _recorded(ctl: Control, name: str) -> bool:
    """Whether active LV ``name`` has metadata, read first from its own PVs.

    Another LV of the same name on other devices (a disk from elsewhere)
    makes the metadata of all devices ambiguous, but not the active LV's
    own PVs; those alone can miss a PV the record names (the destination
    of an interrupted move), and then every device is read.
    """
    status = ctl.lv_status(name)
    own = sorted({discovery.device_node(le.pe.major, le.pe.minor) for le in status.les})
    try:
        return Store.find(name, own) is not None
    except MetadataError:
        return Store.find(name) is not None


@_reports_errors
def _cmd_deactivate(args: argparse.Namespace) -> int:
    with Control() as ctl:
        for name in args.names:
            if not _recorded(ctl, name):
                raise MetadataError(
                    errno.ENOENT,
                    "deactivate",
                    "it has no metadata: deactivating would lose its map; use 'pemove remove'",
                    lv=name,
                )
        for name in args.names:
            lvs.remove_when_released(ctl, name)
    if args.json:
        output.print_json({"deactivated": args.names})
    return exitcodes.OK


def _devices(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        action="append",
        metavar="DEV",
        help="read only these devices (repeatable; default: every block device udev lists)",
    )


def register(subparsers: Any) -> None:
    """Add ``activate``, ``deactivate`` and ``scan``."""
    p = _parser(
        subparsers,
        "activate",
        "create LVs from their on-disk metadata",
        "Scan the block devices for pemove metadata and create each LV (or the NAMEs given) from the\n"
        "newest consistent copy.  If any of them cannot be assembled (a PV missing, copies that\n"
        "disagree, damaged metadata), none is activated.  Nothing is written to the PVs; an\n"
        "interrupted move is reported, and 'pemove move NAME --resume' finishes it.",
    )
    p.add_argument("names", nargs="*", metavar="NAME")
    _devices(p)
    _add_wait(p, "each LV's node")
    _finish(p, _cmd_activate)

    p = _parser(
        subparsers,
        "deactivate",
        "remove LVs from the kernel, keeping their metadata",
        "Remove the LVs from the kernel; their metadata stays, so 'pemove activate' brings them back.",
    )
    p.add_argument("names", nargs="+", metavar="NAME")
    _finish(p, _cmd_deactivate)

    p = _parser(
        subparsers,
        "scan",
        "list the LVs the on-disk metadata describes (read-only)",
        "Read the pemove labels and metadata of the block devices and list the LVs they describe,\n"
        "whether each could be activated and why not.  Nothing is written.  Exits 1 when a device\n"
        "or an LV has a problem.",
    )
    p.add_argument("names", nargs="*", metavar="NAME")
    _devices(p)
    _finish(p, _cmd_scan)
