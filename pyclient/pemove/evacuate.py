"""Emptying a PV while its LVs stay in use, as ``pvmove SRC [DST]`` does.

:func:`plan` finds every LE of every LV that lives on the source device and
chooses a destination for each: free places on ``--to DST`` if given, else
free places on the other PVs those LVs already use (the LE's own LV's PVs
first).  :func:`run` moves them one by one with :func:`pemove.move.move_extent`
(live by default, so the LVs stay in use), and reports what it did.

Running it again after an interruption finishes the job: the plan is made
from the map as it is now, so the LEs already moved are simply not on the
source any more.  When every LE has left, the module has given the source
back (an LV holds a PV only while it uses it), and :func:`released` checks
that another exclusive user can now claim it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pemove import errors, placement
from pemove.control import Control, Extent, LVStatus, Mode
from pemove.move import DEFAULT_MODE, Method, MoveResult, move_extent

__all__ = ["Evacuation", "Step", "plan", "released", "run"]


@dataclass(frozen=True)
class Step:
    """One LE to move off the source: ``lv`` LE ``le`` from ``source`` to ``dest``."""

    lv: str
    le: int
    source: Extent
    dest: Extent
    extent_sectors: int


@dataclass
class Evacuation:
    """What :func:`run` did: the steps planned, the moves made, the failure if any."""

    source: str
    steps: list[Step]
    done: list[tuple[Step, MoveResult]] = field(default_factory=list)
    failed: Step | None = None
    error: OSError | None = None

    @property
    def complete(self) -> bool:
        """Every planned LE moved."""
        return self.failed is None and len(self.done) == len(self.steps)


def _devno(ext: Extent) -> tuple[int, int]:
    return (ext.major, ext.minor)


def _statuses(ctl: Control) -> list[LVStatus]:
    found = []
    for info in ctl.lv_list():
        try:
            found.append(ctl.lv_status(info.name))
        except errors.LVNotFound:
            continue  # removed since the list was taken
    return found


def _metadata_reserve(names: Sequence[str]) -> dict[str, int]:
    """Per LV, the sectors its destinations keep free for a pemove label.

    An LV with on-disk metadata labels a new PV when it moves there, so its
    extents never start inside the metadata area, even on a blank disk.
    """
    from pemove.metadata import RESERVED_SECTORS
    from pemove.metadata.store import Store

    return {
        name: RESERVED_SECTORS if Store.find(name) is not None else 0
        for name in set(names)
    }


def plan(ctl: Control, source: str, to: placement.ToSpec | None = None) -> list[Step]:
    """The moves that empty ``source``, in LV order, LE order within an LV.

    :param to: where the LEs go; None: free places on the other PVs of the
        LVs that use ``source``
    :raises errors.InvalidArgument: the destinations lack room (the message
        says how to fix it)
    :raises errors.DeviceNotFound: ``source`` or ``to.dev`` is not a block device
    """
    src = _devno(Extent.from_path(source))
    lvs = _statuses(ctl)
    wanted = [(st, entry) for st in lvs for entry in st.les if _devno(entry.pe) == src]
    if not wanted:
        return []
    # Every range in use on every device, grown as destinations are chosen.
    used: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for st in lvs:
        for entry in st.les:
            used.setdefault(_devno(entry.pe), []).append(
                (entry.pe.sector, st.info.extent_sectors)
            )

    recorded: set[tuple[int, int]] = set()
    reserve = _metadata_reserve([st.info.name for st, _ in wanted])

    def place(devno: tuple[int, int], sectors: int, reserved: int) -> int | None:
        if devno not in recorded:
            # Inactive LVs and the reserved ends of unfinished moves are in
            # the device's metadata only; the kernel's map does not show them.
            recorded.add(devno)
            used.setdefault(devno, []).extend(placement.recorded_in_use(*devno))
        area = placement.data_area(*devno)
        if reserved > area.start:
            area = placement.Area(min(reserved, area.end), area.end)
        try:
            (start,) = placement.free_slots(used.get(devno, []), area, sectors, 1)
        except errors.InvalidArgument:
            return None
        used.setdefault(devno, []).append((start, sectors))
        return start

    target = _devno(Extent.from_path(to.dev)) if to is not None else None
    if target == src:
        raise errors.InvalidArgument(
            errno.EINVAL, "evacuate", f"--to {source} is the device being emptied"
        )
    others = {_devno(e.pe) for st, _ in wanted for e in st.les} - {src}

    def candidates(st: LVStatus) -> list[tuple[int, int]]:
        """Where an LE of ``st`` may go: --to, else its LV's PVs, then the others'."""
        if target is not None:
            return [target]
        own = sorted({_devno(e.pe) for e in st.les} - {src})
        return own + sorted(others - set(own))

    steps: list[Step] = []
    next_sector = to.sector if to is not None else None
    if to is not None and next_sector is not None:
        low = max(reserve.values())
        if next_sector < low:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "evacuate",
                f"--to {to.dev}:{next_sector}: sectors below {low} are kept for "
                f"the pemove metadata of the LVs moving there; use --to "
                f"{to.dev}:{low} or later, or --to {to.dev} alone",
            )
    for st, entry in wanted:
        sectors = st.info.extent_sectors
        dest: Extent | None = None
        if target is not None and next_sector is not None:
            dest = Extent(target[0], target[1], next_sector)
            next_sector += sectors
        else:
            for devno in candidates(st):
                start = place(devno, sectors, reserve[st.info.name])
                if start is not None:
                    dest = Extent(devno[0], devno[1], start)
                    break
        if dest is None:
            where = (
                f"{to.dev} has no room for them"
                if to is not None
                else "the other PVs of these LVs have no room for them"
            )
            raise errors.InvalidArgument(
                errno.EINVAL,
                "evacuate",
                f"{len(wanted)} LEs live on {source}, and {where} (placed "
                f"{len(steps)}); name a destination with room: pemove evacuate "
                f"{source} --to DEV",
            )
        steps.append(Step(st.info.name, entry.le, entry.pe, dest, sectors))
    return steps


def run(
    ctl: Control,
    source: str,
    steps: Sequence[Step],
    *,
    method: Method = "auto",
    mode: Mode = DEFAULT_MODE,
    chunk_sectors: int = 0,
    progress: Callable[[int, int], None] | None = None,
    moved: Callable[[Step, MoveResult], None] | None = None,
) -> Evacuation:
    """Move every step, in order; stop at the first failure (the map of that LE is unchanged).

    An LV with on-disk metadata moves with the crash-safe
    :func:`pemove.recorded.move_recorded` (live, two-phase), whatever
    ``method`` and ``mode`` say.

    :param progress: ``progress(done, total)`` in bytes of the LE being moved
    :param moved: called after each LE moved
    """
    from pemove.metadata.store import Store
    from pemove.recorded import move_recorded

    result = Evacuation(source, list(steps))
    stores: dict[str, Store | None] = {}
    for step in steps:
        try:
            if step.lv not in stores:
                stores[step.lv] = Store.find(step.lv)
            store = stores[step.lv]
            if store is not None:
                done = move_recorded(
                    ctl,
                    store,
                    step.le,
                    step.dest,
                    chunk_sectors=chunk_sectors,
                    progress=progress,
                )
            else:
                done = move_extent(
                    ctl,
                    step.lv,
                    step.le,
                    step.dest,
                    method,
                    progress,
                    mode=mode,
                    chunk_sectors=chunk_sectors,
                )
        except OSError as exc:
            result.failed = step
            result.error = exc
            return result
        result.done.append((step, done))
        if moved is not None:
            moved(step, done)
    return result


def released(source: str) -> bool:
    """Can another user claim ``source`` exclusively now (O_EXCL on a block device)?"""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True
