"""The 2002 userspace extent move, as LVM1's pvmove did it.

This is kept on purpose, bugs included, so that the harness can show on a
current kernel what the locked in-kernel move (PE_MOVE) fixes.  Use
:func:`pemove.move.move_extent`, which only comes here when asked to
(``method="legacy"``) or when the module has no PE_MOVE.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from pemove import errors
from pemove.control import Control, Extent, MoveStats
from pemove.discovery import device_node

__all__ = ["CHUNK_BYTES", "ProgressCallback", "legacy_move"]

#: ``progress(bytes_done, bytes_total)``, called while an extent is copied.
ProgressCallback = Callable[[int, int], None]

#: Bytes per read/write of the copy.
CHUNK_BYTES = 1 << 20


def _copy(
    src_node: str,
    dst_node: str,
    src_sector: int,
    dst_sector: int,
    length: int,
    chunk: int,
    progress: ProgressCallback | None,
) -> int:
    """Buffered copy of ``length`` bytes, then fsync of the destination; returns bytes copied."""
    src = os.open(src_node, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(dst_node, os.O_WRONLY | os.O_CLOEXEC)
        try:
            done = 0
            while done < length:
                want = min(chunk, length - done)
                data = os.pread(src, want, src_sector * 512 + done)
                if len(data) != want:
                    raise OSError(
                        errno.EIO,
                        f"short read from {src_node} at byte {src_sector * 512 + done}",
                    )
                view = memoryview(data)
                while view:
                    n = os.pwrite(dst, view, dst_sector * 512 + done)
                    view = view[n:]
                    done += n
                if progress is not None:
                    progress(done, length)
            os.fsync(dst)
            return done
        finally:
            os.close(dst)
    finally:
        os.close(src)


def legacy_move(
    ctl: Control,
    name: str,
    le: int,
    dest: Extent,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    progress: ProgressCallback | None = None,
) -> MoveStats:
    """Move LE ``le`` of LV ``name`` to ``dest`` the way LVM1's pvmove did in 2002.

    The steps, and why each one is wrong:

    1. PE_LOCK.  The kernel writes back the LV's dirty page cache (LVM1 called
       ``fsync_dev()``) and then holds *new* writes to the LE.  It does not
       wait for bios already in flight, so an O_DIRECT write issued just
       before the lock can land on the old PE after it has been copied: a
       lost write.
    2. Copy the PE with *buffered* reads of the source PV's device node and
       buffered writes to the destination's, then ``fsync``.  The page cache
       of the PV node is not coherent with IO sent through the LV, so pages
       cached there by an earlier read are copied instead of the data on
       disk: stale data, i.e. corruption.  The copy also runs in userspace
       and needs memory while writes are held.
    3. PE_REMAP the LE to ``dest``.
    4. PE_UNLOCK, always (in a ``finally``), so a failed copy never leaves
       writes held.  If the copy fails, the map is left unchanged.

    PE_LOCK belongs to the control handle ``ctl``; if this process dies,
    closing the handle unlocks the LE.

    :param ctl: an open control handle
    :param chunk_bytes: bytes per read and write
    :param progress: called as ``progress(done, total)`` in bytes
    :returns: the statistics; ``bios_drained`` is 0 (nothing is drained) and
        ``bios_not_waited`` counts the bios PE_LOCK found in flight
    :raises PemoveError: from the ioctls (see :meth:`Control.pe_lock`,
        :meth:`Control.pe_remap`), or :class:`~pemove.errors.MoveIOError` if
        the copy fails
    """
    status = ctl.lv_status(name, le_first=le, le_count=1)
    if not status.les:
        raise errors.InvalidArgument(
            errno.EINVAL, "legacy move", f"The LV has no LE {le}", lv=name, le=le
        )
    source = status.les[0].pe
    length = status.info.extent_sectors * 512
    src_node = device_node(source.major, source.minor)
    dst_node = device_node(dest.major, dest.minor)
    held_before = status.counters.held

    t_lock = time.monotonic_ns()
    not_waited = ctl.pe_lock(name, le)
    copy_ns = 0
    try:
        t_copy = time.monotonic_ns()
        try:
            copied = _copy(
                src_node,
                dst_node,
                source.sector,
                dest.sector,
                length,
                chunk_bytes,
                progress,
            )
        except OSError as exc:
            raise errors.from_errno(
                exc.errno or errno.EIO,
                "legacy move",
                lv=name,
                le=le,
                detail=f"copying {src_node}+{source.sector} to {dst_node}+{dest.sector} failed: {exc.strerror}",
            ) from None
        copy_ns = time.monotonic_ns() - t_copy
        ctl.pe_remap(name, le, dest)
    finally:
        ctl.pe_unlock(name, le)
    hold_ns = time.monotonic_ns() - t_lock

    held_after = ctl.lv_status(name, le_count=0).counters.held
    return MoveStats(
        bytes_copied=copied,
        hold_ns=hold_ns,
        copy_ns=copy_ns,
        bios_drained=0,
        bios_held=held_after - held_before,
        bios_not_waited=not_waited,
    )
