"""Raw block-device chores of the workloads: fill, zero, drop the page cache, modprobe.

Everything here writes with ``O_DIRECT`` from page-aligned memory, so what a
scenario or benchmark finds afterwards is on the device, not in a cache.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import subprocess

__all__ = ["drop_cache", "fill", "modprobe", "zero"]

# BLKFLSBUF, _IO(0x12, 97): write back and drop a block device's page cache.
_BLKFLSBUF = 0x1261
_CHUNK = 4 << 20
#: The non-zero pattern of :func:`fill`: every byte value in turn.
PATTERN = bytes(range(256))

_loaded: set[str] = set()


def fill(path: str, offset: int, length: int, pattern: bytes = PATTERN) -> None:
    """Write ``pattern`` over bytes ``[offset, offset + length)`` of ``path``, O_DIRECT.

    :param pattern: repeated to fill the range; its length must divide 4 MiB
    """
    if not pattern or _CHUNK % len(pattern):
        raise ValueError("the pattern's length must divide 4 MiB")
    buf = mmap.mmap(-1, _CHUNK)
    buf.write(pattern * (_CHUNK // len(pattern)))
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        done = 0
        while done < length:
            n = min(_CHUNK, length - done)
            with memoryview(buf)[:n] as view:
                os.pwrite(fd, view, offset + done)
            done += n
    finally:
        os.close(fd)
        buf.close()


def zero(path: str, sector: int, sectors: int) -> None:
    """Write zeros over ``sectors`` sectors from ``sector``, so no earlier run's blocks remain."""
    fill(path, sector * 512, sectors * 512, b"\0")


def drop_cache(path: str) -> None:
    """Empty the page cache of block device ``path`` (BLKFLSBUF)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _BLKFLSBUF)
    finally:
        os.close(fd)


def modprobe(*modules: str) -> None:
    """Load kernel modules (dm-delay, dm-mirror, ...), each once per process.

    Under TCG every exec costs seconds, so a module asked for again is not
    probed again.  A module that does not load is left to fail where it is
    used, with that tool's message.
    """
    for mod in modules:
        if mod not in _loaded:
            subprocess.run(["modprobe", mod], capture_output=True, check=False)
            _loaded.add(mod)
