"""dm-log-writes: read its log and replay it onto another device.

The format is the kernel's (drivers/md/dm-log-writes.c): the super at
byte 0 of the log device (magic, version, entry count, the logged
device's sector size), then each entry: one sector holding a
``log_write_entry`` (sector, nr_sectors, flags, data_len) and, for a mark,
its text; then, except for a discard, ``nr_sectors`` sectors of data.
All fields are little-endian; sectors are the logged device's sector size.

Writes are logged in the order they reach stable storage: an ordinary
write once a flush after it completed, a FUA write when it completes.  So
replaying the entries up to a flush or FUA entry gives what the disk could
hold if power failed right after that point.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "DISCARD",
    "FLUSH",
    "FUA",
    "MARK",
    "Entry",
    "Log",
    "LogError",
    "Replayer",
    "read_log",
]

WRITE_LOG_MAGIC = 0x6A736677736872
WRITE_LOG_VERSION = 1
FLUSH = 1 << 0
FUA = 1 << 1
DISCARD = 1 << 2
MARK = 1 << 3
METADATA = 1 << 4

_SUPER = struct.Struct("<QQQI")
_ENTRY = struct.Struct("<QQQQ")


class LogError(ValueError):
    """Not a dm-log-writes log, or one cut short."""


@dataclass(frozen=True)
class Entry:
    """One log entry.

    :ivar index: its position in the log, from 0
    :ivar sector: where the write went, in the device's sectors
    :ivar data_offset: byte offset of its data in the log
    :ivar mark: the text of a mark entry
    """

    index: int
    sector: int
    nr_sectors: int
    flags: int
    data_offset: int
    mark: str | None = None

    @property
    def is_point(self) -> bool:
        """A flush or FUA entry: a point a crash could leave the disk at."""
        return bool(self.flags & (FLUSH | FUA))


@dataclass(frozen=True)
class Log:
    """A parsed log: the sector size and the entries."""

    path: str
    sectorsize: int
    entries: tuple[Entry, ...]

    def marks(self) -> dict[str, int]:
        """Mark text -> entry index (the last one of that text)."""
        return {e.mark: e.index for e in self.entries if e.mark is not None}

    def points(self) -> list[int]:
        """Indices of the flush and FUA entries."""
        return [e.index for e in self.entries if e.is_point]


def _entries(fd: int, sectorsize: int, count: int, size: int) -> Iterator[Entry]:
    pos = sectorsize
    for index in range(count):
        head = os.pread(fd, sectorsize, pos)
        if len(head) < _ENTRY.size:
            raise LogError(f"entry {index} at byte {pos} is past the end of the log")
        sector, nr_sectors, flags, data_len = _ENTRY.unpack_from(head)
        mark = None
        if flags & MARK:
            mark = head[_ENTRY.size : _ENTRY.size + data_len].decode("utf-8", "replace")
        data = pos + sectorsize
        pos = data + (0 if flags & DISCARD else nr_sectors * sectorsize)
        if pos > size:
            raise LogError(f"entry {index}'s data runs past the end of the log")
        yield Entry(index, sector, nr_sectors, flags, data, mark)


def read_log(path: str) -> Log:
    """Parse the log on ``path``.

    :raises LogError: bad magic or version, or entries past the end
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        magic, version, count, sectorsize = _SUPER.unpack(os.pread(fd, _SUPER.size, 0))
        if magic != WRITE_LOG_MAGIC or version != WRITE_LOG_VERSION:
            raise LogError(f"{path} is not a dm-log-writes log (magic {magic:#x})")
        if sectorsize < 512 or sectorsize & (sectorsize - 1):
            raise LogError(f"{path}: sector size {sectorsize} is not a power of two")
        return Log(path, sectorsize, tuple(_entries(fd, sectorsize, count, size)))
    finally:
        os.close(fd)


class Replayer:
    """Applies a log's entries onto ``target`` in order, up to any later point.

    Replaying up to point ``b`` after point ``a`` gives the same device as
    replaying up to ``b`` from the start, so one pass serves every point.
    """

    def __init__(self, log: Log, target: str) -> None:
        self.log = log
        self.next = 0
        self.writes = 0
        self._log_fd = os.open(log.path, os.O_RDONLY | os.O_CLOEXEC)
        self._fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self._log_fd)
        os.close(self._fd)

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def replay_to(self, index: int) -> None:
        """Apply entries up to and including ``index``, then fsync the target."""
        ss = self.log.sectorsize
        if index < self.next - 1:
            raise ValueError(f"already past entry {index}")
        for entry in self.log.entries[self.next : index + 1]:
            if entry.nr_sectors and not entry.flags & MARK:
                length = entry.nr_sectors * ss
                if entry.flags & DISCARD:
                    data = bytes(length)
                else:
                    data = os.pread(self._log_fd, length, entry.data_offset)
                os.pwrite(self._fd, data, entry.sector * ss)
                self.writes += 1
        self.next = max(self.next, index + 1)
        os.fsync(self._fd)
