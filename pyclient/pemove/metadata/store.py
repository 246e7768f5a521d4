"""Changing the metadata of one LV on all its PVs, in an order that survives a crash.

Every change is a new generation of the LV's record, written to each PV of
the record (a read-modify-write of that PV's newest slot into its other
slot), after a flush of every PV involved.  A crash between two PVs leaves
some PVs with the older generation; :mod:`.assemble` takes the newest.
A PV the LV stops using is written last, without the record.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pemove.control import Extent
from pemove.metadata import assemble, device
from pemove.metadata.errors import MetadataError
from pemove.metadata.model import PE, LVRecord

__all__ = ["Store", "destroy", "destroy_present", "label_pvs", "new_record"]


def _devno(node: str) -> tuple[int, int]:
    st = os.stat(node)
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def label_pvs(nodes: Sequence[str], op: str = "create") -> dict[str, uuid.UUID]:
    """The PV UUID of each node, writing a fresh label on devices that have none.

    :raises MetadataError: a device's label is damaged (it is not overwritten)
    """
    found: dict[str, uuid.UUID] = {}
    for node in dict.fromkeys(nodes):
        pv = device.read_pv(node)
        if pv.labelled and pv.label is None:
            raise MetadataError(
                errno.EUCLEAN,
                op,
                f"{node} has a damaged pemove label ({pv.error}); "
                "pemove does not overwrite it: repair it or wipe the first MiB by hand",
            )
        if pv.label is not None and pv.best is None:
            raise MetadataError(
                errno.EUCLEAN,
                op,
                f"{node} has a pemove label but no valid metadata slot",
            )
        if pv.label is not None:
            found[node] = pv.label.pv_uuid
            continue
        pv_uuid = uuid.uuid4()
        device.write_label(node, pv_uuid)
        device.write_slot(device.read_pv(node), [])
        found[node] = pv_uuid
    return found


def _write_pv(
    node: str, pv_uuid: uuid.UUID, name: str, record: LVRecord | None
) -> None:
    pv = device.read_pv(node)
    if pv.label is None or pv.label.pv_uuid != pv_uuid:
        raise MetadataError(
            errno.EUCLEAN, "metadata", f"{node} no longer carries PV {pv_uuid.hex}"
        )
    lvs = [r for r in pv.lvs if r.name != name]
    if record is not None:
        lvs.append(record)
    device.write_slot(pv, lvs)


@dataclass
class Store:
    """The newest record of one LV and the nodes of its PVs; :meth:`update` changes it."""

    record: LVRecord
    nodes: dict[uuid.UUID, str]
    _devnos: dict[tuple[int, int], uuid.UUID] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for pv_uuid, node in self.nodes.items():
            self._devnos[_devno(node)] = pv_uuid

    @classmethod
    def load(cls, name: str, devices: Sequence[str] | None = None) -> Store:
        """The metadata of LV ``name`` from a scan.

        :raises MetadataError: no metadata names it, or it cannot be assembled
        """
        asm = assemble.assemble(assemble.scan(devices), [name])[0]
        if not asm.found:
            raise MetadataError(
                errno.ENOENT, "metadata", "; ".join(asm.problems), lv=name
            )
        if asm.record is None or asm.problems:
            err = errno.EUCLEAN
            if asm.record is not None and any("missing" in p for p in asm.problems):
                err = errno.ENODEV
            raise MetadataError(err, "metadata", "; ".join(asm.problems), lv=name)
        return cls(asm.record, dict(asm.nodes))

    @classmethod
    def find(cls, name: str, devices: Sequence[str] | None = None) -> Store | None:
        """:meth:`load`, or None when no PV holds metadata of ``name``."""
        try:
            return cls.load(name, devices)
        except MetadataError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    def uuid_of(self, extent: Extent) -> uuid.UUID:
        """The PV UUID of the device of ``extent``, labelling it if it is new.

        :raises MetadataError: the device's label is damaged
        """
        key = (extent.major, extent.minor)
        if key not in self._devnos:
            from pemove import discovery

            node = discovery.device_node(*key)
            pv_uuid = label_pvs([node], "move")[node]
            self.nodes[pv_uuid] = node
            self._devnos[key] = pv_uuid
        return self._devnos[key]

    def extent(self, pe: PE) -> Extent:
        """The extent (this boot's major:minor) of a PE of the record."""
        major, minor = _devno(self.nodes[self.record.pvs[pe.pv]])
        return Extent(major, minor, pe.sector)

    def pe(self, extent: Extent) -> tuple[LVRecord, PE]:
        """``extent`` as a PE of the record (the record gains its PV if it is new)."""
        record, index = self.record.pv_index(self.uuid_of(extent))
        return record, PE(index, extent.sector)

    def update(self, record: LVRecord) -> None:
        """Write ``record`` (a later generation) to every PV of it, then drop it from the rest."""
        if record.generation <= self.record.generation:
            record = replace(record, generation=self.record.generation + 1)
        record = record.compacted()
        departed = [p for p in self.record.pvs if p not in record.pvs]
        nodes = [self.nodes[p] for p in (*record.pvs, *departed)]
        device.flush(nodes)
        for pv_uuid in record.pvs:
            _write_pv(self.nodes[pv_uuid], pv_uuid, record.name, record)
        for pv_uuid in departed:
            _write_pv(self.nodes[pv_uuid], pv_uuid, record.name, None)
        self.record = record


def new_record(
    name: str,
    extent_sectors: int,
    extents: Sequence[Extent],
    uuids: dict[tuple[int, int], uuid.UUID],
    *,
    notrack: bool = False,
) -> LVRecord:
    """Generation 1 of a new LV's record."""
    pvs = list(dict.fromkeys(uuids[(e.major, e.minor)] for e in extents))
    return LVRecord(
        name=name,
        uuid=uuid.uuid4(),
        generation=1,
        extent_sectors=extent_sectors,
        pvs=tuple(pvs),
        map=tuple(PE(pvs.index(uuids[(e.major, e.minor)]), e.sector) for e in extents),
        notrack=notrack,
    )


def create(
    name: str, extent_sectors: int, extents: Sequence[Extent], *, notrack: bool = False
) -> Store:
    """Label the PVs of a new LV if needed and write generation 1 of its record.

    :raises MetadataError: EEXIST, a PV already holds an LV of that name;
        EUCLEAN, a damaged label
    """
    from pemove import discovery

    nodes = {
        (e.major, e.minor): discovery.device_node(e.major, e.minor) for e in extents
    }
    by_node = label_pvs(list(nodes.values()))
    uuids = {key: by_node[node] for key, node in nodes.items()}
    for node in nodes.values():
        if any(r.name == name for r in device.read_pv(node).lvs):
            raise MetadataError(
                errno.EEXIST,
                "create",
                f"{node} already holds metadata of an LV named {name}; "
                f"'pemove activate {name}' brings it back, 'pemove remove {name}' "
                "after activating destroys it",
                lv=name,
            )
    record = new_record(name, extent_sectors, extents, uuids, notrack=notrack)
    store = Store(
        replace(record, generation=0, pvs=()),
        {uuids[k]: n for k, n in nodes.items()},
    )
    store.update(replace(record, generation=1))
    return store


def destroy(store: Store) -> None:
    """Remove the LV's record from all its PVs; a PV left with no LV loses its label."""
    name = store.record.name
    for pv_uuid in store.record.pvs:
        node = store.nodes[pv_uuid]
        pv = device.read_pv(node)
        rest = [r for r in pv.lvs if r.name != name]
        if rest:
            device.write_slot(pv, rest)
        else:
            device.wipe(node)


def destroy_present(name: str, devices: Sequence[str] | None = None) -> list[str]:
    """Remove every record of LV ``name`` from the PVs that are here; their nodes.

    For metadata that cannot be assembled (a PV missing, two LVs of one
    name): the records on the devices found go, the others stay with their
    devices.  A PV left with no LV loses its label, as in :func:`destroy`.
    Devices whose label or slots are damaged are not written.
    """
    changed: list[str] = []
    found = assemble.scan(devices)
    copies = [*found.pvs.values()]
    for nodes in found.duplicates.values():
        copies += [device.read_pv(node) for node in nodes[1:]]
    for pv in copies:
        rest = [r for r in pv.lvs if r.name != name]
        if len(rest) == len(pv.lvs):
            continue
        if rest:
            device.write_slot(pv, rest)
        else:
            device.wipe(pv.node)
        changed.append(pv.node)
    return changed
