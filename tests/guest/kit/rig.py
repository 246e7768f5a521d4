"""A move test's usual set-up in one object: the ``rig`` fixture (conftest.py).

Most move tests want the same things: the control file, the disks, an LV
of a few 4 MiB extents on disk 0, a destination on disk 1 (plain, or slowed
by dm-delay so that a move lasts), and a :class:`~kit.faults.Load` that
counts into the session's figures and is seeded by the file's seed.  A
:class:`Rig` holds the fixtures they come from and makes each of those
things in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pemove.control import Control, Extent, LVInfo
from pemove.workload import dm
from pemove.workload.blockfmt import BLOCK_SIZE

from kit.faults import Load
from kit.figures import Figures

__all__ = ["EXTENT", "LE_BLOCKS", "Rig", "at"]

EXTENT = 8192  # sectors: 4 MiB
LE_BLOCKS = EXTENT * 512 // BLOCK_SIZE


def at(dev: dm.DmDevice, sector: int = 0) -> Extent:
    """The extent at ``sector`` of the device-mapper device ``dev``."""
    return Extent(dev.major, dev.minor, sector)


@dataclass(frozen=True)
class Rig:
    """The fixtures a move test needs (``ctl``, ``disks``, ``make_lv``,
    ``make_dm``, ``figures``, ``seed``), and the set-up made of them."""

    ctl: Control
    disks: list[str]
    make_lv: Callable[..., LVInfo]
    make_dm: Callable[[str, str], dm.DmDevice]
    figures: Figures
    seed: int

    def pe(self, disk: int, sector: int = 0) -> Extent:
        """The extent at ``sector`` of ``disks[disk]``."""
        return Extent.from_path(self.disks[disk], sector)

    def lv(self, name: str, extents: int = 1, *, disk: int = 0) -> LVInfo:
        """LV ``name``: ``extents`` LEs of :data:`EXTENT`, back to back from
        sector 0 of ``disks[disk]``."""
        return self.make_lv(
            name, EXTENT, [self.pe(disk, i * EXTENT) for i in range(extents)]
        )

    def linear(self, name: str, *, disk: int = 1, extents: int = 4) -> dm.DmDevice:
        """dm device ``name``: the first ``extents`` extents of ``disks[disk]``
        (its table can be swapped for a failing one)."""
        return self.make_dm(name, dm.linear_table(self.disks[disk], extents * EXTENT))

    def delayed(
        self,
        write_ms: int,
        *,
        read_ms: int = 0,
        name: str = "slow",
        disk: int = 1,
        extents: int = 4,
    ) -> dm.DmDevice:
        """dm-delay device ``name`` over the first ``extents`` extents of
        ``disks[disk]``: writes take ``write_ms``, reads ``read_ms``."""
        table = dm.delay_table(
            self.disks[disk], extents * EXTENT, read_ms=read_ms, write_ms=write_ms
        )
        return self.make_dm(name, table)

    def slow(self, write_ms: int, *, read_ms: int = 0, extents: int = 4) -> Extent:
        """The first extent of :meth:`delayed` ``slow`` on disk 1: a destination
        onto which a move lasts."""
        return at(self.delayed(write_ms, read_ms=read_ms, extents=extents))

    def load(
        self,
        lv: LVInfo,
        les: Sequence[int] | None = None,
        *,
        writers: int = 2,
        seed: int | None = None,
    ) -> Load:
        """A :class:`~kit.faults.Load` on ``les`` of ``lv`` (default: all of
        them), counted in the figures, seeded by the file's seed unless
        ``seed`` is given."""
        return Load(
            lv.node,
            lv.name,
            LE_BLOCKS,
            list(range(lv.extent_count)) if les is None else list(les),
            lv.extent_count,
            figures=self.figures,
            writers=writers,
            seed=self.seed if seed is None else seed,
        )
