"""O_DIRECT reads and writes of a device node, each with its own descriptor.

The guest tests read a PV or an LV past the page cache to see what reached
the disk, and write past it so that a write is a bio the module sees at
once.  :func:`write_in_thread` issues one write in a thread of its own, for
a test that watches the write wait (held, or in flight) while it runs.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["read_direct", "write_direct", "write_in_thread"]


def _aligned(data: bytes) -> mmap.mmap:
    buf = mmap.mmap(-1, len(data))  # page-aligned, as O_DIRECT wants
    buf[:] = data
    return buf


def read_direct(node: str, offset: int, length: int) -> bytes:
    """``length`` bytes of ``node`` at byte ``offset``, read with O_DIRECT (no short read)."""
    buf = mmap.mmap(-1, length)
    fd = os.open(node, os.O_RDONLY | os.O_DIRECT)
    try:
        done = os.preadv(fd, [buf], offset)
    finally:
        os.close(fd)
    assert done == length, f"read {done} of {length} bytes of {node} at {offset}"
    return bytes(buf)


def write_direct(node: str, offset: int, data: bytes) -> None:
    """Write ``data`` to ``node`` at byte ``offset`` with O_DIRECT."""
    buf = _aligned(data)
    fd = os.open(node, os.O_RDWR | os.O_DIRECT)
    try:
        os.pwritev(fd, [buf], offset)
    finally:
        os.close(fd)


@contextlib.contextmanager
def write_in_thread(
    node: str, offset: int, data: bytes, timeout: float = 60.0
) -> Iterator[threading.Thread]:
    """An O_DIRECT write of ``data`` at ``offset``, started in a thread; yields the thread.

    On leaving the ``with`` body the write must complete within ``timeout``
    and have written all of ``data``.  The descriptor is closed either way.
    """
    buf = _aligned(data)
    out: dict[str, Any] = {}

    def write() -> None:
        try:
            out["written"] = os.pwritev(fd, [buf], offset)
        except OSError as exc:
            out["error"] = exc

    fd = os.open(node, os.O_RDWR | os.O_DIRECT)
    writer = threading.Thread(target=write, daemon=True)
    try:
        writer.start()
        yield writer
        writer.join(timeout)
        assert not writer.is_alive(), f"the write at {offset} is still waiting"
        assert out == {"written": len(data)}, out
    finally:
        os.close(fd)
