"""What the metadata says: LV records and their maps, independent of any device.

A map entry names a PV by its index in :attr:`LVRecord.pvs` (PV UUIDs),
never by ``major:minor``, which changes from boot to boot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal
from uuid import UUID

__all__ = ["PE", "LVRecord", "MoveState", "PendingMove"]

#: ``copying``: the map still names the source, ``other`` is the reserved
#: destination.  ``switched``: the map names the destination, ``other`` is the
#: old PE, still reserved (both hold every acknowledged write until COMMIT).
MoveState = Literal["copying", "switched"]
MOVE_STATES: tuple[MoveState, ...] = ("copying", "switched")


@dataclass(frozen=True, order=True)
class PE:
    """A physical extent: the PV (index into the LV's ``pvs``) and its first sector."""

    pv: int
    sector: int


@dataclass(frozen=True)
class PendingMove:
    """A move of one LE that the metadata knows has not finished."""

    le: int
    state: MoveState
    other: PE


@dataclass(frozen=True)
class LVRecord:
    """One LV as the metadata describes it.

    :ivar generation: raised by one on every change of the record; the
        newest generation on any PV is the LV's truth
    :ivar pvs: the UUIDs of every PV the map or a pending move uses
    :ivar map: LE ``i`` lives at ``map[i]``
    """

    name: str
    uuid: UUID
    generation: int
    extent_sectors: int
    pvs: tuple[UUID, ...]
    map: tuple[PE, ...]
    moves: tuple[PendingMove, ...] = ()
    notrack: bool = False

    def pe_of(self, le: int) -> tuple[UUID, int]:
        """The PV UUID and sector of LE ``le``."""
        pe = self.map[le]
        return self.pvs[pe.pv], pe.sector

    def move_of(self, le: int) -> PendingMove | None:
        """The pending move of LE ``le``, if any."""
        return next((m for m in self.moves if m.le == le), None)

    def pv_index(self, pv: UUID) -> tuple[LVRecord, int]:
        """The index of PV ``pv`` in ``pvs``, adding it at the end if it is new."""
        if pv in self.pvs:
            return self, self.pvs.index(pv)
        return replace(self, pvs=(*self.pvs, pv)), len(self.pvs)

    def compacted(self) -> LVRecord:
        """The same record with the PVs nothing uses any more dropped from ``pvs``."""
        used = sorted({pe.pv for pe in self.map} | {m.other.pv for m in self.moves})
        if used == list(range(len(self.pvs))):
            return self
        renumber = {old: new for new, old in enumerate(used)}
        return replace(
            self,
            pvs=tuple(self.pvs[i] for i in used),
            map=tuple(PE(renumber[p.pv], p.sector) for p in self.map),
            moves=tuple(
                replace(m, other=PE(renumber[m.other.pv], m.other.sector))
                for m in self.moves
            ),
        )

    def next(self, **changes: object) -> LVRecord:
        """The next generation of this record, with ``changes``, unused PVs dropped."""
        return replace(self, generation=self.generation + 1, **changes).compacted()  # type: ignore[arg-type]
