"""Moving one extent: the one place that decides how an LE moves.

:func:`move_extent` moves LE ``le`` of an LV to ``dest`` by a **method**:

- ``"locked"``: PE_MOVE, the module's locked in-kernel copy;
- ``"legacy"``: the 2002 userspace move (:func:`pemove.legacy.legacy_move`),
  which loses writes on purpose (it is there to show the bug);
- ``"auto"``: ``locked``; on a module that answers ENOTTY (``locked_copy=0``,
  or no PE_MOVE at all) it issues one :class:`LegacyFallbackWarning` and uses
  ``legacy``, and that control handle never tries PE_MOVE again.

The ``pemove move`` command, the scenarios and the benchmarks all call it.

The method says *who* copies the extent.  A second, separate question is the
**mode** of a locked move:

- ``"live"`` (the default): the LE is never held as a whole; reads go to the
  source, a write waits only while its chunk is copied, and writes to copied
  chunks reach both PEs;
- ``"whole"``: the seed's move, which holds every bio to the LE for the whole
  copy; kept for the reproduction and for comparison.

It is its own argument of :func:`move_extent` and its own ``mode`` field of
:class:`MoveResult` (and of ``pemove move --json``), never folded into
``method``.  The legacy move has no mode (None).

An LV with on-disk metadata (:mod:`pemove.metadata`) moves with
:func:`pemove.recorded.move_recorded` instead, which wraps the live
two-phase PE_MOVE in metadata updates so that no crash loses a write.
"""

from __future__ import annotations

import errno
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import Literal

from pemove.control import MODES, Control, Extent, Mode, MoveStats
from pemove.errors import NotSupported, PemoveError
from pemove.legacy import ProgressCallback, legacy_move

__all__ = [
    "DEFAULT_MODE",
    "METHODS",
    "MODES",
    "LegacyFallbackWarning",
    "Method",
    "Mode",
    "MoveResult",
    "ProgressCallback",
    "move_extent",
    "pe_move_available",
]

#: The mode of a locked move when the caller names none.
DEFAULT_MODE: Mode = "live"

# How often the progress of a locked move is read back (MOVE_STATUS).
_PROGRESS_INTERVAL_S = 0.2

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
    :ivar mode: the locked move's mode, None for the legacy move
    :ivar stats: what the move reported
    """

    method: Literal["locked", "legacy"]
    stats: MoveStats
    mode: Mode | None = None


def pe_move_available(ctl: Control) -> bool | None:
    """What ``ctl`` learnt about PE_MOVE: True, False (ENOTTY), or None before any move."""
    return _PE_MOVE_SEEN.get(ctl)


def _locked_move(
    ctl: Control,
    lv: str,
    le: int,
    dest: Extent,
    mode: Mode,
    chunk_sectors: int,
    progress: ProgressCallback | None,
    sync_only: bool = False,
) -> MoveStats:
    """PE_MOVE, with ``progress`` fed from MOVE_STATUS while it copies.

    The ioctl blocks; a thread reads the move's progress on the same handle
    (the kernel takes ioctls on one file concurrently) until it returns.
    """
    if progress is None:
        return ctl.pe_move(
            lv, le, dest, mode=mode, chunk_sectors=chunk_sectors, sync_only=sync_only
        )
    done = threading.Event()

    def poll() -> None:
        while not done.wait(_PROGRESS_INTERVAL_S):
            try:
                st = ctl.move_status(lv, le)
            except (PemoveError, ValueError):
                return  # the handle closed or the LV went: the move's error says why
            if st.active and st.total_sectors:
                progress(st.copied_sectors * 512, st.total_sectors * 512)

    watcher = threading.Thread(
        target=poll, name=f"pemove-progress-{lv}-{le}", daemon=True
    )
    watcher.start()
    try:
        stats = ctl.pe_move(
            lv, le, dest, mode=mode, chunk_sectors=chunk_sectors, sync_only=sync_only
        )
    finally:
        done.set()
        watcher.join()
    progress(stats.bytes_copied, stats.bytes_copied)
    return stats


def move_extent(
    ctl: Control,
    lv: str,
    le: int,
    dest: Extent,
    method: Method = "auto",
    progress: ProgressCallback | None = None,
    *,
    mode: Mode = DEFAULT_MODE,
    chunk_sectors: int = 0,
) -> MoveResult:
    """Move LE ``le`` of LV ``lv`` to ``dest`` by ``method`` (and, locked, ``mode``).

    :param progress: called as ``progress(done, total)`` in bytes while the
        extent is copied
    :param mode: ``"live"`` or ``"whole"``, for the locked method
    :param chunk_sectors: the live copy's chunk size (0: the module's default)
    :raises ValueError: an unknown method or mode
    :raises PemoveError: as :meth:`Control.pe_move` (``locked``, ``auto``), or
        as :func:`pemove.legacy.legacy_move` (``legacy``, or ``auto`` after
        the fallback); ``locked`` passes ENOTTY on instead of falling back
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if method == "legacy" or (method == "auto" and _PE_MOVE_SEEN.get(ctl) is False):
        return MoveResult("legacy", legacy_move(ctl, lv, le, dest, progress=progress))
    try:
        stats = _locked_move(ctl, lv, le, dest, mode, chunk_sectors, progress)
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
    return MoveResult("locked", stats, mode)
