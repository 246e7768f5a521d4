"""From devices to LVs: scan for labels, pick each LV's newest record, check it whole.

:func:`scan` reads (never writes) every candidate device.  :func:`assemble`
decides, per LV name:

- the record with the highest ``generation`` on any PV is the LV's truth;
  PVs holding older generations are stale copies (a crash between the PV
  writes of one update) and are named in :attr:`Assembly.stale`;
- two records of one name with different LV UUIDs, or one generation with
  different contents, cannot be resolved: the LV is refused;
- every PV the newest record names must be present, exactly once (a PV
  UUID on two devices is refused), with its label intact and large enough
  for the extents.

A refused LV carries its :attr:`Assembly.problems`; nothing is half-built.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pemove import discovery
from pemove.control import Extent
from pemove.metadata import device
from pemove.metadata.device import PVRead
from pemove.metadata.model import LVRecord

__all__ = ["Assembly", "Scan", "assemble", "scan"]


@dataclass
class Scan:
    """What the devices hold.

    :ivar pvs: labelled devices with a valid label, by PV UUID (first seen)
    :ivar problems: one line per device that could not be used, and per
        PV UUID seen on two devices
    """

    pvs: dict[uuid.UUID, PVRead] = field(default_factory=dict)
    duplicates: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    damaged: list[PVRead] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    devices_read: int = 0


@dataclass
class Assembly:
    """One LV as the metadata describes it, and whether it can be activated.

    :ivar extents: LE ``i`` at ``extents[i]`` (major:minor of this boot)
    :ivar nodes: PV UUID -> device node, for every PV of the record
    :ivar stale: PV nodes whose copy of the record is older than the newest
    """

    name: str
    record: LVRecord | None
    extents: list[Extent] = field(default_factory=list)
    nodes: dict[uuid.UUID, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: False when no PV holds any record of the name (an LV without metadata)
    found: bool = True

    @property
    def ok(self) -> bool:
        return self.record is not None and not self.problems


def _candidates() -> list[str]:
    # Read-only disks (CD-ROMs) are left out: probing an empty drive can take seconds.
    return [c.node for c in discovery.pv_candidates()]


def scan(devices: Sequence[str] | None = None) -> Scan:
    """Read the label and slots of every device (pyudev's candidates when None)."""
    result = Scan()
    for node in _candidates() if devices is None else devices:
        try:
            pv = device.read_pv(node)
        except OSError as exc:
            result.problems.append(f"{node}: cannot be read: {exc}")
            continue
        result.devices_read += 1
        if not pv.labelled:
            continue
        if pv.label is None:
            result.damaged.append(pv)
            result.problems.append(f"{node}: damaged pemove label: {pv.error}")
            continue
        if pv.best is None:
            result.damaged.append(pv)
            why = "; ".join(f"slot {s.index}: {s.error}" for s in pv.slots)
            result.problems.append(f"{node}: no valid metadata slot ({why})")
            continue
        known = result.pvs.get(pv.label.pv_uuid)
        if known is not None:
            result.duplicates.setdefault(pv.label.pv_uuid, [known.node]).append(node)
            continue
        result.pvs[pv.label.pv_uuid] = pv
    for pv_uuid, nodes in result.duplicates.items():
        result.problems.append(
            f"PV {pv_uuid.hex} is on {len(nodes)} devices ({', '.join(nodes)}): "
            "remove the copies so that one device carries each PV"
        )
    return result


def _pick(name: str, copies: list[tuple[PVRead, LVRecord]]) -> Assembly:
    uuids = {rec.uuid for _, rec in copies}
    if len(uuids) > 1:
        holders = ", ".join(f"{pv.node} (LV UUID {rec.uuid.hex})" for pv, rec in copies)
        return Assembly(
            name,
            None,
            problems=[f"two different LVs are named {name}: {holders}"],
        )
    newest = max(rec.generation for _, rec in copies)
    top = {rec for _, rec in copies if rec.generation == newest}
    if len(top) > 1:
        return Assembly(
            name,
            None,
            problems=[
                f"PVs disagree about generation {newest} of LV {name}; "
                "the sequence numbers cannot tell which is right"
            ],
        )
    record = top.pop()
    stale = [pv.node for pv, rec in copies if rec.generation < newest]
    return Assembly(name, record, stale=stale)


def _place(asm: Assembly, found: Scan) -> None:
    record = asm.record
    assert record is not None
    for pv_uuid in record.pvs:
        if pv_uuid in found.duplicates:
            asm.problems.append(f"PV {pv_uuid.hex} is on more than one device")
            continue
        pv = found.pvs.get(pv_uuid)
        if pv is None:
            asm.problems.append(
                f"PV {pv_uuid.hex} is missing (no device carries its label)"
            )
            continue
        asm.nodes[pv_uuid] = pv.node
    if asm.problems:
        return
    for le, pe in enumerate(record.map):
        pv = found.pvs[record.pvs[pe.pv]]
        if pe.sector + record.extent_sectors > pv.sectors:
            asm.problems.append(f"LE {le} ends past the end of {pv.node}")
        asm.extents.append(Extent(pv.major, pv.minor, pe.sector))
    for move in record.moves:
        pv = found.pvs[record.pvs[move.other.pv]]
        if move.other.sector + record.extent_sectors > pv.sectors:
            asm.problems.append(f"the pending move of LE {move.le} ends past {pv.node}")


def assemble(found: Scan, names: Iterable[str] | None = None) -> list[Assembly]:
    """One :class:`Assembly` per LV name in the metadata (or per name asked for)."""
    copies: dict[str, list[tuple[PVRead, LVRecord]]] = {}
    for pv in found.pvs.values():
        for rec in pv.lvs:
            copies.setdefault(rec.name, []).append((pv, rec))
    wanted = sorted(copies) if names is None else list(dict.fromkeys(names))
    result: list[Assembly] = []
    for name in wanted:
        if name not in copies:
            result.append(
                Assembly(
                    name,
                    None,
                    problems=[f"no PV holds metadata of LV {name}"],
                    found=False,
                )
            )
            continue
        asm = _pick(name, copies[name])
        if asm.record is not None:
            _place(asm, found)
        result.append(asm)
    return result
