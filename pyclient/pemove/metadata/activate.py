"""Activation: LVs from their metadata, all of them or none.

:func:`activate` creates the kernel LVs of a set of :class:`~.assemble.Assembly`
results.  It refuses the whole set when any member has a problem, and when
one LV_CREATE fails it removes the LVs it created before it, so nothing is
left half-activated.  It writes nothing to the PVs: pending moves stay
pending for ``pemove move NAME --resume``.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass

from pemove import errors, lvs
from pemove.control import Control, LVInfo
from pemove.metadata.assemble import Assembly
from pemove.metadata.errors import MetadataError
from pemove.metadata.layout import RESERVED_SECTORS

__all__ = ["Activated", "activate"]


@dataclass(frozen=True)
class Activated:
    """One LV this call created (or found active with the same map)."""

    assembly: Assembly
    info: LVInfo
    node: str | None
    already: bool = False


def _same_map(ctl: Control, asm: Assembly) -> bool:
    try:
        les = ctl.lv_status(asm.name).les
    except errors.LVNotFound:
        return False
    return [e.pe for e in les] == asm.extents


def activate(
    ctl: Control,
    wanted: Sequence[Assembly],
    *,
    timeout: float | None = lvs.NODE_TIMEOUT,
) -> list[Activated]:
    """Create the kernel LV of every assembly in ``wanted``; all or none.

    An LV already active with the metadata's map is reported ``already``;
    one active with another map is refused.

    :raises MetadataError: an assembly has problems, or an active LV of the
        same name has another map; nothing was created
    :raises PemoveError: an LV_CREATE failed; the LVs created before it
        were removed again
    """
    active = {info.name for info in ctl.lv_list()}
    refused = [a for a in wanted if not a.ok]
    clash = [a for a in wanted if a.ok and a.name in active and not _same_map(ctl, a)]
    if refused or clash:
        lines = [f"{a.name}: {'; '.join(a.problems)}" for a in refused]
        lines += [
            f"{a.name}: an LV of that name is active with another map" for a in clash
        ]
        raise MetadataError(
            errno.ENODEV
            if any("missing" in p for a in refused for p in a.problems)
            else errno.EUCLEAN,
            "activate",
            "nothing was activated; " + " | ".join(lines),
        )
    reserve = RESERVED_SECTORS if ctl.version().pv_reserve else 0
    done: list[Activated] = []
    try:
        for asm in wanted:
            rec = asm.record
            assert rec is not None
            if asm.name in active:
                info = next(i for i in ctl.lv_list() if i.name == asm.name)
                done.append(Activated(asm, info, info.node, already=True))
                continue
            info, node = lvs.create(
                ctl,
                rec.name,
                rec.extent_sectors,
                asm.extents,
                notrack=rec.notrack,
                timeout=timeout,
                pv_reserved_sectors=reserve,
            )
            done.append(Activated(asm, info, node))
    except BaseException:
        for act in done:
            if not act.already:
                try:
                    lvs.remove_when_released(ctl, act.info.name)
                except errors.PemoveError:
                    pass
        raise
    return done
