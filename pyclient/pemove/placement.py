"""Where extents go: placement requests, the room on a device, the PEs in use.

Requests (their text syntax is :mod:`pemove.cli.args`):

- :class:`PVSpec`, ``pemove create --pv DEV[:FIRST_SECTOR[:COUNT]]``;
- :class:`ToSpec`, ``pemove move --to DEV[:SECTOR]``.

Facts about devices and LVs:

- :func:`device_sectors`: a block device's size, from sysfs;
- :func:`data_area`: the sectors of a device where extents may go: all of
  it, less the metadata area at its start (:data:`pemove.metadata.RESERVED_SECTORS`)
  when the device carries a pemove label or the caller reserves it for new
  metadata; every placement below follows;
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
    "labelled_reserve",
    "recorded_in_use",
    "destinations",
    "device_sectors",
    "extents_in_use",
    "free_slots",
]

ALIGN_SECTORS = 8
SYS_DEV_BLOCK = Path("/sys/dev/block")


@dataclass(frozen=True)
class PVSpec:
    """``COUNT`` consecutive extents on ``dev`` from ``first_sector``; all that fit if None.

    ``first_sector`` None: from the start of the device's data area.
    """

    dev: str
    first_sector: int | None = None
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


def labelled_reserve(major: int, minor: int) -> int:
    """The sectors a pemove label reserves at the start of ``major:minor`` (0: no label).

    A damaged label reserves them too: the area is not data either way.
    """
    from pemove import discovery
    from pemove.metadata import RESERVED_SECTORS, device

    try:
        pv = device.read_pv(discovery.device_node(major, minor))
    except OSError:
        return 0
    return RESERVED_SECTORS if pv.labelled else 0


def recorded_in_use(major: int, minor: int) -> list[tuple[int, int]]:
    """``(start, length)`` of every PE the device's metadata gives to an LV.

    Inactive LVs and the reserved ends of unfinished moves are in the
    metadata only; the kernel knows nothing of them.
    """
    from pemove import discovery
    from pemove.metadata import device

    try:
        pv = device.read_pv(discovery.device_node(major, minor))
    except OSError:
        return []
    if pv.label is None:
        return []
    used = []
    for rec in pv.lvs:
        pes = [*rec.map, *(m.other for m in rec.moves)]
        used += [
            (pe.sector, rec.extent_sectors)
            for pe in pes
            if rec.pvs[pe.pv] == pv.label.pv_uuid
        ]
    return used


def data_area(
    major: int, minor: int, sys_dev: Path = SYS_DEV_BLOCK, reserved: int | None = None
) -> Area:
    """Where extents may go on block device ``major:minor``.

    :param reserved: sectors kept free at the start; None: those of the
        device's pemove label, if it has one (only when ``sys_dev`` is the
        real sysfs)
    """
    size = device_sectors(major, minor, sys_dev)
    if reserved is None:
        reserved = labelled_reserve(major, minor) if sys_dev == SYS_DEV_BLOCK else 0
    return Area(min(reserved, size), size)


def allocate(
    specs: Sequence[PVSpec], extent_sectors: int, reserved: int | None = None
) -> list[Extent]:
    """The extents of a new LV, LE 0 first, in the order of ``specs``.

    :param reserved: as :func:`data_area`: the metadata area a new LV with
        metadata keeps free on every PV (0: raw PVs, extents from sector 0)
    :raises errors.InvalidArgument: a spec starts before the device's data
        area, or leaves no room for an extent
    :raises errors.DeviceNotFound: a DEV is not a block device
    """
    extents: list[Extent] = []
    for spec in specs:
        base = Extent.from_path(spec.dev)
        area = data_area(base.major, base.minor)
        if reserved:
            area = Area(max(area.start, min(reserved, area.end)), area.end)
        first = area.start if spec.first_sector is None else spec.first_sector
        spec = PVSpec(spec.dev, first, spec.count)
        if first < area.start:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "create",
                f"{spec.dev}: sectors below {area.start} are reserved for pemove "
                f"metadata; start the extents at {area.start} or later (or, on a "
                "device without a pemove label, use --no-metadata)",
            )
        count = spec.count
        if count is None:
            count = (area.end - first) // extent_sectors
            if count <= 0:
                raise errors.InvalidArgument(
                    errno.EINVAL,
                    "create",
                    f"{spec.dev} has no room for an extent after sector {first}",
                )
        extents += [
            Extent(base.major, base.minor, first + i * extent_sectors)
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
    ctl: Control, to: ToSpec, count: int, extent_sectors: int, reserved: int = 0
) -> list[Extent]:
    """Where ``count`` moved LEs go: from ``to.sector`` on, or in free places of ``to.dev``.

    :param reserved: sectors kept free at the start of ``to.dev`` even if it
        has no label yet (an LV with metadata will label it)

    :raises errors.InvalidArgument: the free places are too few
    :raises errors.DeviceNotFound: ``to.dev`` is not a block device
    """
    base = Extent.from_path(to.dev)
    area = data_area(base.major, base.minor)
    area = Area(max(area.start, min(reserved, area.end)), area.end)
    if to.sector is not None:
        if to.sector < area.start:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "move",
                f"{to.dev}: sectors below {area.start} are reserved for pemove "
                f"metadata; move to sector {area.start} or later",
            )
        starts = [to.sector + i * extent_sectors for i in range(count)]
    else:
        used = [
            (e.sector, n) for e, n in extents_in_use(ctl, [(base.major, base.minor)])
        ]
        used += recorded_in_use(base.major, base.minor)
        starts = free_slots(used, area, extent_sectors, count)
    return [Extent(base.major, base.minor, s) for s in starts]
