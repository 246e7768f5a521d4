"""Where extents go: placement requests, the room on a device, the PEs in use.

Requests (their text syntax is :mod:`pemove.cli.args`):

- :class:`PVSpec`, ``pemove create --pv DEV[:FIRST_SECTOR[:COUNT]]``;
- :class:`ToSpec`, ``pemove move --to DEV[:SECTOR]``.

Facts about devices and LVs:

- :func:`device_sectors`: a block device's size, from sysfs;
- :func:`data_area`: the sectors of a device where extents may go.  Today
  that is the whole device; a range reserved on every PV (such as a metadata
  area at its start) is carved out here, and every placement below follows;
- :func:`extents_in_use`: every PE that any LV maps.

Decisions:

- :func:`allocate`: the extents of a new LV, from its ``--pv`` specs;
- :func:`free_slots`: first-fit free places in a data area;
- :func:`destinations`: where ``pemove move --to`` puts the LEs it moves.

Extent starts are kept on 4 KiB boundaries (:data:`ALIGN_SECTORS`), which
satisfies any logical block size up to 4 KiB.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pemove import errors
from pemove.control import Control, Extent

__all__ = [
    "ALIGN_SECTORS",
    "Area",
    "PVSpec",
    "ToSpec",
    "allocate",
    "data_area",
    "destinations",
    "device_sectors",
    "extents_in_use",
    "free_slots",
]

ALIGN_SECTORS = 8
SYS_DEV_BLOCK = Path("/sys/dev/block")


@dataclass(frozen=True)
class PVSpec:
    """``COUNT`` consecutive extents on ``dev`` from ``first_sector``; all that fit if None."""

    dev: str
    first_sector: int = 0
    count: int | None = None


@dataclass(frozen=True)
class ToSpec:
    """Moved LEs go to ``dev``, one after another from ``sector``; to free places if None."""

    dev: str
    sector: int | None = None


@dataclass(frozen=True)
class Area:
    """Sectors ``[start, end)`` of a device, where extents may go."""

    start: int
    end: int


def device_sectors(major: int, minor: int, sys_dev: Path = SYS_DEV_BLOCK) -> int:
    """The size of block device ``major:minor`` in 512-byte sectors.

    :raises errors.DeviceNotFound: no such block device
    """
    try:
        return int((sys_dev / f"{major}:{minor}" / "size").read_text(encoding="ascii"))
    except FileNotFoundError:
        raise errors.DeviceNotFound(
            errno.ENODEV, "lookup", f"There is no block device {major}:{minor}"
        ) from None


def data_area(major: int, minor: int, sys_dev: Path = SYS_DEV_BLOCK) -> Area:
    """Where extents may go on block device ``major:minor``: today, all of it."""
    return Area(0, device_sectors(major, minor, sys_dev))


def allocate(specs: Sequence[PVSpec], extent_sectors: int) -> list[Extent]:
    """The extents of a new LV, LE 0 first, in the order of ``specs``.

    :raises errors.InvalidArgument: a spec starts before the device's data
        area, or leaves no room for an extent
    :raises errors.DeviceNotFound: a DEV is not a block device
    """
    extents: list[Extent] = []
    for spec in specs:
        base = Extent.from_path(spec.dev)
        area = data_area(base.major, base.minor)
        if spec.first_sector < area.start:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "create",
                f"{spec.dev}: sectors below {area.start} are reserved; "
                f"start the extents at {area.start} or later",
            )
        count = spec.count
        if count is None:
            count = (area.end - spec.first_sector) // extent_sectors
            if count <= 0:
                raise errors.InvalidArgument(
                    errno.EINVAL,
                    "create",
                    f"{spec.dev} has no room for an extent after sector {spec.first_sector}",
                )
        extents += [
            Extent(base.major, base.minor, spec.first_sector + i * extent_sectors)
            for i in range(count)
        ]
    return extents


def free_slots(
    used: Iterable[tuple[int, int]], area: Area, extent_sectors: int, n: int
) -> list[int]:
    """First-fit starts of ``n`` free ranges of ``extent_sectors`` in ``area``.

    :param used: ``(start, length)`` ranges to avoid, in sectors
    :raises errors.InvalidArgument: fewer than ``n`` fit
    """
    slots: list[int] = []
    taken = sorted(used)
    pos = area.start
    while len(slots) < n:
        pos = -(-pos // ALIGN_SECTORS) * ALIGN_SECTORS
        clash = next(
            ((s, ln) for s, ln in taken if s < pos + extent_sectors and pos < s + ln),
            None,
        )
        if clash is not None:
            pos = clash[0] + clash[1]
            continue
        if pos + extent_sectors > area.end:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "move",
                f"the destination has room for only {len(slots)} of the {n} extents",
            )
        slots.append(pos)
        taken.append((pos, extent_sectors))
        pos += extent_sectors
    return slots


def extents_in_use(
    ctl: Control, devices: Iterable[tuple[int, int]] | None = None
) -> list[tuple[Extent, int]]:
    """Every PE any LV maps, as ``(extent, length in sectors)``.

    :param devices: only PEs on these ``(major, minor)`` devices; all if None
    """
    wanted = set(devices) if devices is not None else None
    used: list[tuple[Extent, int]] = []
    for info in ctl.lv_list():
        try:
            les = ctl.lv_status(info.name).les
        except errors.LVNotFound:
            continue  # removed since the list was taken
        for entry in les:
            if wanted is None or (entry.pe.major, entry.pe.minor) in wanted:
                used.append((entry.pe, info.extent_sectors))
    return used


def destinations(
    ctl: Control, to: ToSpec, count: int, extent_sectors: int
) -> list[Extent]:
    """Where ``count`` moved LEs go: from ``to.sector`` on, or in free places of ``to.dev``.

    :raises errors.InvalidArgument: the free places are too few
    :raises errors.DeviceNotFound: ``to.dev`` is not a block device
    """
    base = Extent.from_path(to.dev)
    if to.sector is not None:
        starts = [to.sector + i * extent_sectors for i in range(count)]
    else:
        used = [
            (e.sector, n) for e, n in extents_in_use(ctl, [(base.major, base.minor)])
        ]
        area = data_area(base.major, base.minor)
        starts = free_slots(used, area, extent_sectors, count)
    return [Extent(base.major, base.minor, s) for s in starts]
