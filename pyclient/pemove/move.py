"""Moving one extent: the one place that decides how an LE moves.

:func:`move_extent` moves LE ``le`` of an LV to ``dest`` by a **method**:

- ``"locked"``: PE_MOVE, the module's locked in-kernel copy;
- ``"legacy"``: the 2002 userspace move (:func:`pemove.legacy.legacy_move`),
  which loses writes on purpose (it is there to show the bug);
- ``"auto"``: ``locked``; on a module that answers ENOTTY (``locked_copy=0``,
  or no PE_MOVE at all) it issues one :class:`LegacyFallbackWarning` and uses
  ``legacy``, and that control handle never tries PE_MOVE again.

The ``pemove move`` command, the scenarios and the benchmarks all call it.

The method says *who* copies the extent.  A second question, the **mode** of
a locked move (``whole`` or ``live``), is coming with the module's live move:
it will be a separate keyword argument of :func:`move_extent` and a separate
``mode`` field of :class:`MoveResult` (and of ``pemove move --json``), never
folded into ``method``.
"""

from __future__ import annotations

import errno
import warnings
import weakref
from dataclasses import dataclass
from typing import Literal

from pemove.control import Control, Extent, MoveStats
from pemove.errors import NotSupported
from pemove.legacy import ProgressCallback, legacy_move

__all__ = [
    "METHODS",
    "LegacyFallbackWarning",
    "Method",
    "MoveResult",
    "ProgressCallback",
    "move_extent",
    "pe_move_available",
]

#: How an extent may be moved; see the module docstring.
Method = Literal["auto", "locked", "legacy"]
METHODS: tuple[Method, ...] = ("auto", "locked", "legacy")

# What each open control handle learnt about PE_MOVE (True: it worked,
# False: ENOTTY).  Keyed weakly, so a closed and dropped handle is forgotten.
_PE_MOVE_SEEN: weakref.WeakKeyDictionary[Control, bool] = weakref.WeakKeyDictionary()


class LegacyFallbackWarning(UserWarning):
    """PE_MOVE is unavailable, so :func:`move_extent` used the legacy move."""


@dataclass(frozen=True)
class MoveResult:
    """What :func:`move_extent` did.

    :ivar method: the method that moved the extent (``"auto"`` resolves to
        one of the two)
    :ivar stats: what the move reported
    """

    method: Literal["locked", "legacy"]
    stats: MoveStats


def pe_move_available(ctl: Control) -> bool | None:
    """What ``ctl`` learnt about PE_MOVE: True, False (ENOTTY), or None before any move."""
    return _PE_MOVE_SEEN.get(ctl)


def move_extent(
    ctl: Control,
    lv: str,
    le: int,
    dest: Extent,
    method: Method = "auto",
    progress: ProgressCallback | None = None,
) -> MoveResult:
    """Move LE ``le`` of LV ``lv`` to ``dest`` by ``method``.

    :param progress: called as ``progress(done, total)`` in bytes; the
        locked move reports only its end
    :raises ValueError: an unknown method
    :raises PemoveError: as :meth:`Control.pe_move` (``locked``, ``auto``), or
        as :func:`pemove.legacy.legacy_move` (``legacy``, or ``auto`` after
        the fallback); ``locked`` passes ENOTTY on instead of falling back
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if method == "legacy" or (method == "auto" and _PE_MOVE_SEEN.get(ctl) is False):
        return MoveResult("legacy", legacy_move(ctl, lv, le, dest, progress=progress))
    try:
        stats = ctl.pe_move(lv, le, dest)
    except NotSupported as exc:
        if exc.errno != errno.ENOTTY:
            raise
        _PE_MOVE_SEEN[ctl] = False
        if method == "locked":
            raise
        warnings.warn(
            LegacyFallbackWarning(
                f"{ctl.path}: PE_MOVE is not available (ENOTTY: locked_copy=0 or an unpatched "
                "module); falling back to the 2002 userspace move, which can lose writes made "
                "during the move"
            ),
            stacklevel=2,
        )
        return MoveResult("legacy", legacy_move(ctl, lv, le, dest, progress=progress))
    _PE_MOVE_SEEN[ctl] = True
    if progress is not None:
        progress(stats.bytes_copied, stats.bytes_copied)
    return MoveResult("locked", stats)
