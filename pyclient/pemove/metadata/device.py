"""Reading and writing one PV's label and slots, with O_DIRECT and FUA.

Reads use O_DIRECT, so no page cache stands between the metadata and the
disk.  A slot is written with one O_DIRECT | O_DSYNC ``pwrite`` (the block
layer sends it with FUA) and then ``fsync`` (a flush).  Before it, the
caller flushes the PVs (:func:`flush`), so data written before the metadata
is on stable storage before the metadata that depends on it.

Only the slot that does *not* hold the newest valid copy is overwritten, so a
torn write leaves the previous copy readable.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pemove.metadata import layout, parser
from pemove.metadata.model import LVRecord

__all__ = [
    "PVRead",
    "SlotRead",
    "flush",
    "read_pv",
    "wipe",
    "write_label",
    "write_slot",
]


@dataclass(frozen=True)
class SlotRead:
    """One slot as read: its header and LVs, or why it is not valid."""

    index: int
    seqno: int | None = None
    lvs: tuple[LVRecord, ...] = ()
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None and self.seqno is not None


@dataclass(frozen=True)
class PVRead:
    """What one device holds: no label, a damaged one, or a label and its slots.

    :ivar error: why the label is unusable (None: valid, or no label at all)
    """

    node: str
    major: int
    minor: int
    sectors: int
    label: layout.Label | None = None
    slots: tuple[SlotRead, ...] = field(default_factory=tuple)
    labelled: bool = False
    error: str | None = None

    @property
    def best(self) -> SlotRead | None:
        """The valid slot with the highest sequence number."""
        valid = [s for s in self.slots if s.valid]
        return max(valid, key=lambda s: s.seqno or 0) if valid else None

    @property
    def lvs(self) -> tuple[LVRecord, ...]:
        best = self.best
        return best.lvs if best else ()


def _read(fd: int, offset: int, length: int) -> bytes:
    buf = mmap.mmap(-1, length)
    try:
        got = os.preadv(fd, [buf], offset)
        return bytes(buf[:got])
    finally:
        buf.close()


def _size(fd: int) -> int:
    return os.lseek(fd, 0, os.SEEK_END)


def _devno(path: str) -> tuple[int, int]:
    """``major:minor`` of a block device; (0, 0) for a regular file (an image, a test)."""
    st = os.stat(path)
    if stat.S_ISREG(st.st_mode):
        return 0, 0
    if not stat.S_ISBLK(st.st_mode):
        raise OSError(f"{path} is not a block device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


def _open(path: str, flags: int) -> int:
    """Open with O_DIRECT; a regular file on a filesystem without it (tmpfs) goes without."""
    try:
        return os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL or not stat.S_ISREG(os.stat(path).st_mode):
            raise
        return os.open(path, flags | os.O_CLOEXEC)


def _read_slot(fd: int, index: int, label: layout.Label) -> SlotRead:
    image = _read(fd, layout.slot_offset(index), layout.SLOT_BYTES)
    if not any(image[: layout.SLOT_HEADER_SIZE]):
        return SlotRead(index, error="empty")
    try:
        header, body = layout.unpack_slot(image)
        if header.pv_uuid != label.pv_uuid:
            raise layout.FramingError("the slot names another PV than its label")
        lvs = parser.parse(body, label.pv_uuid)
    except (layout.FramingError, parser.BodyError) as exc:
        return SlotRead(index, error=str(exc))
    return SlotRead(index, header.seqno, lvs)


def read_pv(path: str) -> PVRead:
    """Read the label and both slots of ``path``; never writes.

    :raises OSError: the device cannot be opened or read
    """
    major, minor = _devno(path)
    fd = _open(path, os.O_RDONLY)
    try:
        size = _size(fd)
        block = _read(fd, 0, layout.BLOCK) if size >= layout.BLOCK else b""
        base = PVRead(path, major, minor, size // 512)
        if not layout.is_label(block):
            return base
        try:
            label = layout.unpack_label(block)
        except layout.FramingError as exc:
            return PVRead(
                path, major, minor, size // 512, labelled=True, error=str(exc)
            )
        if size < label.reserved_sectors * 512:
            return PVRead(
                path,
                major,
                minor,
                size // 512,
                labelled=True,
                error=f"the device ({size} bytes) is shorter than its metadata area",
            )
        slots = tuple(_read_slot(fd, i, label) for i in range(label.slot_count))
    finally:
        os.close(fd)
    return PVRead(path, major, minor, size // 512, label, slots, labelled=True)


def _write(path: str, offset: int, data: bytes) -> None:
    buf = mmap.mmap(-1, len(data))
    fd = _open(path, os.O_WRONLY | os.O_DSYNC)
    try:
        buf.write(data)
        done = os.pwritev(fd, [buf], offset)
        if done != len(data):
            raise OSError(f"{path}: short metadata write ({done} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
        buf.close()


def flush(paths: Iterable[str]) -> None:
    """Flush each device's write cache (fsync issues a flush even when nothing is dirty)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_label(path: str, pv_uuid: uuid.UUID) -> None:
    """Make ``path`` a pemove PV: zero both slots, then write the label."""
    for i in range(layout.SLOT_COUNT):
        _write(path, layout.slot_offset(i), bytes(layout.BLOCK))
    _write(path, 0, layout.pack_label(layout.Label(pv_uuid)))


def write_slot(pv: PVRead, lvs: Sequence[LVRecord]) -> int:
    """Write ``lvs`` as the newest metadata of ``pv`` into the slot it is not using.

    :returns: the new sequence number
    :raises OSError: the write failed
    """
    if pv.label is None:
        raise ValueError(f"{pv.node} has no valid label")
    best = pv.best
    index = 0 if best is None else (best.index + 1) % layout.SLOT_COUNT
    seqno = 1 if best is None or best.seqno is None else best.seqno + 1
    body = parser.encode(pv.label.pv_uuid, lvs)
    _write(
        pv.node,
        layout.slot_offset(index),
        layout.pack_slot(seqno, pv.label.pv_uuid, body),
    )
    return seqno


def wipe(path: str) -> None:
    """Remove the label and both slots' headers: the device is no PV any more."""
    _write(path, 0, bytes(layout.BLOCK))
    for i in range(layout.SLOT_COUNT):
        _write(path, layout.slot_offset(i), bytes(layout.BLOCK))
