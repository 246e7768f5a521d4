"""Device-mapper ioctls for the copy-engine peers of the move phase.

The kcopyd peer (:mod:`pemove.bench.kcopyd`, dm-mirror's recovery) and the
dm-clone peer (:mod:`pemove.bench.clone`, dm-clone's hydration) are timed the
same way: the device is created with no table and its table loaded
(``dmsetup``, outside the timed span), then the timer starts at the resume
and stops at the table event the target raises when its copy is done.  The
resume and the event wait are ioctls on ``/dev/mapper/control`` issued from
this process (``DM_DEV_SUSPEND`` without the suspend flag, ``DM_DEV_WAIT``),
so no ``dmsetup`` start-up is inside the span, and nothing polls: the wait
sleeps in the kernel until the event, and its reply carries the table status
read at that moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

from pemove.workload import dm

__all__ = [
    "DmControl",
    "dmsetup",
    "parse_target_versions",
    "suspended",
    "time_to_done",
]

# struct dm_ioctl (include/uapi/linux/dm-ioctl.h): version[3], data_size,
# data_start, target_count, open_count, flags, event_nr, padding, dev,
# name[128], uuid[129], data[7]: 312 bytes.
_DM_IOCTL = struct.Struct("=3IIIIiIIIQ128s129s7s")
_DM_TARGET_SPEC = struct.Struct("=QQiI16s")  # sector_start, length, status, next, type
_DM_TARGET_VERSIONS = struct.Struct("=I3I")  # next, version[3]; then the name
_DM_VERSION = (4, 0, 0)
_DM_BUFFER = 16384
_DM_STATUS_TABLE_FLAG = 1 << 4
_DM_BUFFER_FULL_FLAG = 1 << 8
_DM_NOFLUSH_FLAG = 1 << 11


def _iowr(nr: int, size: int) -> int:
    # _IOWR(DM_IOCTL = 0xfd, nr, struct dm_ioctl)
    return (3 << 30) | (size << 16) | (0xFD << 8) | nr


_DM_DEV_SUSPEND = _iowr(6, _DM_IOCTL.size)
_DM_DEV_WAIT = _iowr(8, _DM_IOCTL.size)
_DM_TABLE_STATUS = _iowr(12, _DM_IOCTL.size)
_DM_LIST_VERSIONS = _iowr(13, _DM_IOCTL.size)


def parse_target_versions(data: bytes) -> dict[str, tuple[int, int, int]]:
    """The ``struct dm_target_versions`` chain a ``DM_LIST_VERSIONS`` reply
    carries: target name -> version."""
    out: dict[str, tuple[int, int, int]] = {}
    off = 0
    while off + _DM_TARGET_VERSIONS.size <= len(data):
        nxt, *version = _DM_TARGET_VERSIONS.unpack_from(data, off)
        start = off + _DM_TARGET_VERSIONS.size
        name = data[start:].split(b"\0", 1)[0].decode()
        out[name] = (version[0], version[1], version[2])
        if not nxt:
            break
        off += nxt
    return out


class DmControl:
    """The device-mapper ioctls the peers' timing needs, on ``/dev/mapper/control``."""

    def __init__(self, path: str = "/dev/mapper/control") -> None:
        self.fd = os.open(path, os.O_RDWR)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> DmControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ioctl(
        self, cmd: int, name: str, *, flags: int = 0, event_nr: int = 0
    ) -> tuple[tuple[Any, ...], bytearray]:
        """One ioctl; returns the reply's ``struct dm_ioctl`` fields and buffer."""
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
        if fields[7] & _DM_BUFFER_FULL_FLAG:
            raise OSError(f"device-mapper reply for {name or 'targets'} did not fit")
        return fields, buf

    def _call(
        self, cmd: int, name: str, *, flags: int = 0, event_nr: int = 0
    ) -> tuple[int, int, str]:
        """One ioctl; returns (flags, event_nr, first target's status text)."""
        fields, buf = self._ioctl(cmd, name, flags=flags, event_nr=event_nr)
        data_start, target_count, out_flags, out_event = (
            fields[4],
            fields[5],
            fields[7],
            fields[8],
        )
        text = ""
        if target_count:
            spec = _DM_TARGET_SPEC.size
            raw = bytes(buf[data_start + spec : _DM_BUFFER])
            text = raw.split(b"\0", 1)[0].decode()
        return out_flags, out_event, text

    def resume(self, name: str) -> int:
        """Resume ``name`` (load its inactive table); returns its event counter."""
        return self._call(_DM_DEV_SUSPEND, name)[1]

    def status(self, name: str, *, noflush: bool = False) -> tuple[int, str]:
        """(event counter, status text of the first target).

        :param noflush: ``DM_NOFLUSH_FLAG``: a target that commits metadata
            when asked for its status (dm-clone, dm-thin) does not commit
        """
        flags = _DM_NOFLUSH_FLAG if noflush else 0
        _, ev, text = self._call(_DM_TABLE_STATUS, name, flags=flags)
        return ev, text

    def wait(
        self, name: str, event_nr: int, *, noflush: bool = False
    ) -> tuple[int, str]:
        """Sleep until ``name``'s event counter passes ``event_nr``; (counter, status)."""
        flags = _DM_NOFLUSH_FLAG if noflush else 0
        _, ev, text = self._call(_DM_DEV_WAIT, name, flags=flags, event_nr=event_nr)
        return ev, text

    def targets(self) -> dict[str, tuple[int, int, int]]:
        """The target types the kernel has registered now (``DM_LIST_VERSIONS``),
        name -> version: what ``dmsetup targets`` prints."""
        fields, buf = self._ioctl(_DM_LIST_VERSIONS, "")
        data_start, data_size = fields[4], fields[3]
        return parse_target_versions(bytes(buf[data_start:data_size]))


def dmsetup(*args: str) -> None:
    """Run ``dmsetup ARGS``; :class:`pemove.workload.dm.DmError` with its stderr."""
    argv = ["dmsetup", *args]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise dm.DmError(f"{' '.join(argv)} failed: {res.stderr.strip()}")


@contextlib.contextmanager
def suspended(name: str, table: str) -> Iterator[str]:
    """Device ``pemove-t-<name>`` created with no table and ``table`` loaded
    (inactive) into it, so the next resume starts it; removed on exit.
    Yields its full name."""
    full = f"{dm.PREFIX}-{name}"
    with contextlib.suppress(dm.DmError):
        dm.remove(full)
    dmsetup("create", "--noudevsync", "--notable", full)
    try:
        dmsetup("load", full, "--table", table)
        yield full
    finally:
        dm.remove(full)


def time_to_done(
    ctl: DmControl,
    name: str,
    progress: Callable[[str], tuple[int, int]],
    *,
    timeout: float,
    noflush: bool = False,
) -> dict[str, Any]:
    """Resume ``name`` and sleep on its table events until ``progress`` says done.

    :param progress: a status line -> (regions done, regions)
    :param noflush: status queries with ``DM_NOFLUSH_FLAG`` (see :meth:`DmControl.status`)
    :returns: ``{"seconds", "events", "regions", "status"}``: seconds from
        the resume to the event whose status says done, the events waited
        for, and that status line
    :raises TimeoutError: not done within ``timeout`` (guest) seconds, checked
        at each event
    """
    t0 = time.monotonic()
    ev = ctl.resume(name)
    ev, text = ctl.status(name, noflush=noflush)
    events = 0
    done, total = progress(text)
    while done < total:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{name}: {done}/{total} regions after {timeout} s")
        ev, text = ctl.wait(name, ev, noflush=noflush)
        events += 1
        done, total = progress(text)
    took = time.monotonic() - t0
    return {"seconds": took, "events": events, "regions": total, "status": text}
