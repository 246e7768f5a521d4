"""The kernel's own copy engine as the move peer: dm-kcopyd under dm-mirror.

A dm-mirror (``mirror core ...``: an in-memory log, every region out of
sync) over the same extent of the two brd disks recovers the second leg
from the first with dm-kcopyd, one region at a time: the engine under LVM2's
pvmove, without LVM2's start-up, polling and metadata commits.

Timing is from the resume that starts the recovery to the table event
dm-raid1 raises when the last region is in sync.  Both the resume and the
event wait are device-mapper ioctls issued from this process
(``DM_DEV_SUSPEND`` without the suspend flag, ``DM_DEV_WAIT``), so no
``dmsetup`` start-up is inside the timed span, and nothing polls: the wait
sleeps in the kernel until the event, and its reply carries the table
status read at that moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from pemove.workload import dm

__all__ = [
    "DmControl",
    "mirror_table",
    "parse_mirror_status",
    "time_mirror_sync",
]

# struct dm_ioctl (include/uapi/linux/dm-ioctl.h): version[3], data_size,
# data_start, target_count, open_count, flags, event_nr, padding, dev,
# name[128], uuid[129], data[7]: 312 bytes.
_DM_IOCTL = struct.Struct("=3IIIIiIIIQ128s129s7s")
_DM_TARGET_SPEC = struct.Struct("=QQiI16s")  # sector_start, length, status, next, type
_DM_VERSION = (4, 0, 0)
_DM_BUFFER = 16384
_DM_STATUS_TABLE_FLAG = 1 << 4
_DM_BUFFER_FULL_FLAG = 1 << 8


def _iowr(nr: int, size: int) -> int:
    # _IOWR(DM_IOCTL = 0xfd, nr, struct dm_ioctl)
    return (3 << 30) | (size << 16) | (0xFD << 8) | nr


_DM_DEV_SUSPEND = _iowr(6, _DM_IOCTL.size)
_DM_DEV_WAIT = _iowr(8, _DM_IOCTL.size)
_DM_TABLE_STATUS = _iowr(12, _DM_IOCTL.size)


class DmControl:
    """The device-mapper ioctls the kcopyd timing needs, on ``/dev/mapper/control``."""

    def __init__(self, path: str = "/dev/mapper/control") -> None:
        self.fd = os.open(path, os.O_RDWR)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> DmControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self, cmd: int, name: str, *, flags: int = 0, event_nr: int = 0
    ) -> tuple[int, int, str]:
        """One ioctl; returns (flags, event_nr, first target's status text)."""
        buf = bytearray(_DM_BUFFER)
        _DM_IOCTL.pack_into(
            buf,
            0,
            *_DM_VERSION,
            _DM_BUFFER,
            _DM_IOCTL.size,
            0,
            0,
            flags,
            event_nr,
            0,
            0,
            name.encode(),
            b"",
            b"",
        )
        fcntl.ioctl(self.fd, cmd, buf)
        fields = _DM_IOCTL.unpack_from(buf, 0)
        data_start, target_count, out_flags, out_event = (
            fields[4],
            fields[5],
            fields[7],
            fields[8],
        )
        if out_flags & _DM_BUFFER_FULL_FLAG:
            raise OSError(f"device-mapper status of {name} did not fit the buffer")
        text = ""
        if target_count:
            spec = _DM_TARGET_SPEC.size
            raw = bytes(buf[data_start + spec : _DM_BUFFER])
            text = raw.split(b"\0", 1)[0].decode()
        return out_flags, out_event, text

    def resume(self, name: str) -> int:
        """Resume ``name`` (load its inactive table); returns its event counter."""
        return self._call(_DM_DEV_SUSPEND, name)[1]

    def status(self, name: str) -> tuple[int, str]:
        """(event counter, status text of the first target)."""
        _, ev, text = self._call(_DM_TABLE_STATUS, name)
        return ev, text

    def wait(self, name: str, event_nr: int) -> tuple[int, str]:
        """Sleep until ``name``'s event counter passes ``event_nr``; (counter, status)."""
        _, ev, text = self._call(_DM_DEV_WAIT, name, event_nr=event_nr)
        return ev, text


def _dmsetup(*args: str) -> None:
    argv = ["dmsetup", *args]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise dm.DmError(f"{' '.join(argv)} failed: {res.stderr.strip()}")


def mirror_table(
    src: str, dst: str, sectors: int, region_sectors: int, src_off: int, dst_off: int
) -> str:
    """A two-leg dm-mirror with a core log, all regions out of sync: ``dst`` is
    recovered from ``src`` (the first leg is the default mirror)."""
    return (
        f"0 {sectors} mirror core 1 {region_sectors} "
        f"2 {src} {src_off} {dst} {dst_off} 1 handle_errors"
    )


def parse_mirror_status(text: str) -> tuple[int, int]:
    """(regions in sync, regions) from a mirror's status line.

    The line reads ``2 253:0 253:1 31/32 1 AA 1 core``: the legs, then
    ``in_sync/total``.
    """
    parts = text.split()
    legs = int(parts[0])
    done, total = parts[1 + legs].split("/")
    return int(done), int(total)


@contextlib.contextmanager
def _suspended_mirror(name: str, table: str) -> Iterator[str]:
    full = f"{dm.PREFIX}-{name}"
    with contextlib.suppress(dm.DmError):
        dm.remove(full)
    _dmsetup("create", "--noudevsync", "--notable", full)
    try:
        _dmsetup("load", full, "--table", table)
        yield full
    finally:
        dm.remove(full)


def time_mirror_sync(
    src: str,
    dst: str,
    sectors: int,
    *,
    region_sectors: int,
    src_off: int = 0,
    dst_off: int = 0,
    timeout: float = 600,
) -> dict[str, Any]:
    """Seconds dm-kcopyd takes to bring ``dst`` in sync with ``src``.

    :returns: ``{"seconds", "bytes", "events", "regions"}``
    :raises TimeoutError: not in sync within ``timeout`` (guest) seconds
    """
    table = mirror_table(src, dst, sectors, region_sectors, src_off, dst_off)
    with _suspended_mirror("kcopyd", table) as name, DmControl() as ctl:
        t0 = time.monotonic()
        ev = ctl.resume(name)
        ev, text = ctl.status(name)
        events = 0
        done, total = parse_mirror_status(text)
        while done < total:
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{name}: {done}/{total} regions after {timeout} s")
            ev, text = ctl.wait(name, ev)
            events += 1
            done, total = parse_mirror_status(text)
        took = time.monotonic() - t0
    return {"seconds": took, "bytes": sectors * 512, "events": events, "regions": total}
