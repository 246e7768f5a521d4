"""Moving an extent of an LV with on-disk metadata, with no crash window.

:func:`move_recorded` is the crash-safe order (docs/metadata.md):

1. **intent**: the metadata records a pending move of the LE, state
   ``copying``, with the destination reserved; the map still names the
   source;
2. **copy**: PE_MOVE live with ``sync_only``: it returns once the
   destination is in sync, every write now reaching both PEs;
3. **detach**: PE_MOVE_END DETACH: the mirror outlives this process;
4. **switch in the metadata**: the map names the destination, the pending
   move (state ``switched``) keeps the old PE reserved.  Both PEs hold every
   acknowledged write, so whichever a crash leaves named is complete;
5. **commit**: PE_MOVE_END COMMIT switches the kernel's map;
6. **free**: the metadata drops the pending move; the old PE is free.

A mover killed during 1-2 leaves no kernel state (closing its control file
aborts the copy) and an intent that :func:`resume` re-copies from the start;
killed in 3-4, a detached mirror that :func:`resume` switches and commits;
killed in 5-6, a record that :func:`resume` completes.

:func:`move_then_record` is the order the one-call PE_MOVE allows (switch,
then write the metadata): it is kept to show its window in the replay test.
"""

from __future__ import annotations

import errno
import time
from dataclasses import replace

from pemove import errors
from pemove.control import Control, Extent
from pemove.legacy import ProgressCallback
from pemove.metadata.layout import RESERVED_SECTORS
from pemove.metadata.model import PE, PendingMove
from pemove.metadata.store import Store
from pemove.move import MoveResult, _locked_move

__all__ = ["move_recorded", "move_then_record", "resume"]


def _without_move(store: Store, le: int) -> None:
    rec = store.record
    store.update(rec.next(moves=tuple(m for m in rec.moves if m.le != le)))


def _roll_back(ctl: Control, store: Store, le: int, old: PE) -> None:
    """The destination failed after the switch record: name ``old`` again, then ABORT.

    The module holds the LE's writes (and completes none whose destination
    leg failed) from the failure until this ABORT, so no write reaches the
    source alone while the metadata names the destination.  If the
    metadata write fails, the move is left held for :func:`resume`.
    """
    rec = store.record
    back = list(rec.map)
    back[le] = old
    store.update(
        rec.next(map=tuple(back), moves=tuple(m for m in rec.moves if m.le != le))
    )
    try:
        ctl.pe_move_end(rec.name, le, "abort")
    except errors.InvalidArgument:
        pass  # no move any more: a module that aborted it at the COMMIT


def _switch_and_commit(ctl: Control, store: Store, le: int) -> None:
    """Steps 4-6: the metadata names the destination, COMMIT, the old PE is freed."""
    rec = store.record
    move = rec.move_of(le)
    assert move is not None and move.state == "copying"
    old = rec.map[le]
    new_map = list(rec.map)
    new_map[le] = move.other
    others = tuple(m for m in rec.moves if m.le != le)
    store.update(
        rec.next(map=tuple(new_map), moves=(*others, PendingMove(le, "switched", old)))
    )
    try:
        ctl.pe_move_end(rec.name, le, "commit")
    except errors.MoveIOError:
        _roll_back(ctl, store, le, old)
        raise
    _without_move(store, le)


def move_recorded(
    ctl: Control,
    store: Store,
    le: int,
    dest: Extent,
    *,
    chunk_sectors: int = 0,
    progress: ProgressCallback | None = None,
) -> MoveResult:
    """Move LE ``le`` of ``store``'s LV to ``dest`` in the crash-safe order above.

    :raises PemoveError: as :meth:`Control.pe_move`; the intent is withdrawn
        from the metadata when the copy fails
    :raises MetadataError: a metadata write failed (the move is then left
        for :func:`resume`)
    """
    lv = store.record.name
    if dest.sector < RESERVED_SECTORS:
        raise errors.InvalidArgument(
            errno.EINVAL,
            "move",
            f"{dest} is inside the metadata area (the first {RESERVED_SECTORS} sectors "
            "of every PV of an LV with metadata)",
            lv=lv,
            le=le,
        )
    pending = store.record.move_of(le)
    if pending is None:
        rec, dest_pe = store.pe(dest)
        store.update(rec.next(moves=(*rec.moves, PendingMove(le, "copying", dest_pe))))
    elif pending.state != "copying" or store.extent(pending.other) != dest:
        raise errors.InvalidArgument(
            errno.EINVAL,
            "move",
            f"LE {le} of {lv} has an interrupted move; 'pemove move {lv} --resume' finishes it",
            lv=lv,
            le=le,
        )
    try:
        stats = _locked_move(ctl, lv, le, dest, "live", chunk_sectors, progress, True)
        ctl.pe_move_end(lv, le, "detach")
    except errors.PemoveError:
        if not ctl.move_status(lv, le).active:
            _without_move(store, le)
        raise
    _switch_and_commit(ctl, store, le)
    return MoveResult("locked", replace(stats, synced=False), "live")


def move_then_record(
    ctl: Control,
    store: Store,
    le: int,
    dest: Extent,
    *,
    chunk_sectors: int = 0,
    window_s: float = 0.0,
) -> MoveResult:
    """The pre-fix order: the one-call PE_MOVE switches, then the metadata follows.

    Between the two, writes reach only the destination while the metadata
    still names the source: a crash there loses them.  ``window_s`` is the
    time a real mover might take in between (scheduling, a slow metadata
    write); the replay test sets it so that its flush points land inside.
    """
    rec, dest_pe = store.pe(dest)
    stats = _locked_move(ctl, rec.name, le, dest, "live", chunk_sectors, None)
    time.sleep(window_s)
    new_map = list(rec.map)
    new_map[le] = dest_pe
    store.update(rec.next(map=tuple(new_map)))
    return MoveResult("locked", stats, "live")


def resume(ctl: Control, store: Store, *, chunk_sectors: int = 0) -> list[str]:
    """Finish every interrupted move of ``store``'s LV; one line per move done.

    - ``copying``, the kernel holds a detached mirror: switch and commit;
    - ``copying``, no move in the kernel (the mover died while copying, or
      the system restarted): copy the whole extent again, then as above;
    - ``switched``, a detached mirror: commit, then free the old PE;
    - ``switched``, the kernel maps the destination: free the old PE;
    - ``switched``, the kernel maps the old PE (a commit failed and the
      rollback was not recorded): roll the metadata back to the old PE.

    :raises errors.LVBusy: a live mover still owns a move of the LV
    """
    lv = store.record.name
    done: list[str] = []
    for move in sorted(store.record.moves, key=lambda m: m.le):
        le = move.le
        progress = ctl.move_status(lv, le)
        if progress.active and not progress.detached:
            raise errors.LVBusy(
                errno.EBUSY,
                "resume",
                "another mover still owns this move; wait for it or stop it",
                lv=lv,
                le=le,
            )
        kernel_pe = ctl.lv_status(lv).les[le].pe
        if move.state == "copying":
            if progress.detached:
                _switch_and_commit(ctl, store, le)
                done.append(
                    f"LE {le}: committed the detached mirror to {store.extent(store.record.map[le])}"
                )
            else:
                dest = store.extent(move.other)
                move_recorded(ctl, store, le, dest, chunk_sectors=chunk_sectors)
                done.append(f"LE {le}: copied again and moved to {dest}")
            continue
        if progress.detached:
            try:
                ctl.pe_move_end(lv, le, "commit")
            except errors.MoveIOError as exc:
                _roll_back(ctl, store, le, move.other)
                done.append(
                    f"LE {le}: the destination failed ({exc.errno_name}); "
                    f"rolled back to {store.extent(move.other)}"
                )
                continue
            _without_move(store, le)
            done.append(f"LE {le}: committed the detached mirror, freed the old PE")
        elif kernel_pe == store.extent(store.record.map[le]):
            _without_move(store, le)
            done.append(f"LE {le}: freed the old PE {store.extent(move.other)}")
        else:
            rec = store.record
            back = list(rec.map)
            back[le] = move.other
            store.update(
                rec.next(
                    map=tuple(back), moves=tuple(m for m in rec.moves if m.le != le)
                )
            )
            done.append(f"LE {le}: rolled back to {kernel_pe} (the commit had failed)")
    return done
