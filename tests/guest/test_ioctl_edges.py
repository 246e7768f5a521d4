"""The control node's edges: a request buffer it cannot write, and oversized LV_STATUS asks.

DESCRIPTION: the reviewer's findings 5 and 6.

- Finding 5: when the copy-out failed after a command succeeded, the ioctl
  reported failure for a change that did happen (LV_CREATE, PE_MOVE,
  PE_LOCK, ...).  Now the kernel writes the caller's struct back before it
  acts, so a buffer it cannot write fails with EFAULT and nothing changes.
- Finding 6: LV_STATUS allocated up to 32 MiB for the caller's capacity
  before it looked the LV up.  Now it looks up and checks first, and sizes
  the buffer by what the LV has.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pemove import errors, uapi
from pemove.control import Control, Extent

EXTENT = 8192
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_LIBC.ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)


def request(op: str, /, **fields: Any) -> bytes:
    """The bytes of an ``op`` request with the client's version and ``fields``."""
    req = uapi.ffi.new(uapi.IOC_STRUCT[op] + " *")
    for i, part in enumerate(uapi.VERSION):
        req.hdr.version[i] = part
    for key, value in fields.items():
        if key == "dest":
            req.dest.major, req.dest.minor, req.dest.sector = value
        else:
            setattr(req, key, value)
    return bytes(uapi.ffi.buffer(req))


@contextmanager
def read_only(data: bytes) -> Iterator[int]:
    """``data`` in a page the caller may read but not write; yields its address."""
    page = mmap.mmap(-1, mmap.PAGESIZE)
    page[: len(data)] = data
    anchor = ctypes.c_char.from_buffer(page)
    addr = ctypes.addressof(anchor)
    assert _LIBC.mprotect(addr, mmap.PAGESIZE, mmap.PROT_READ) == 0
    try:
        yield addr
    finally:
        _LIBC.mprotect(addr, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE)
        del anchor
        page.close()


def efault(ctl: Control, op: str, data: bytes) -> None:
    """``op`` with its struct in a read-only page must fail with EFAULT.

    libc's ioctl() directly: fcntl.ioctl() copies a read-only buffer into a
    writable one of its own, and takes no pointer as an int.
    """
    with read_only(data) as addr:
        rc = _LIBC.ioctl(ctl.fileno(), uapi.IOC[op], addr)
        err = ctypes.get_errno()
    assert rc == -1 and err == errno.EFAULT, (rc, os.strerror(err))


def claimable(node: str) -> bool:
    try:
        fd = os.open(node, os.O_RDONLY | os.O_EXCL)
    except OSError:
        return False
    os.close(fd)
    return True


@pytest.mark.disks(1)
def test_lv_create_into_a_read_only_buffer_creates_nothing(
    ctl: Control, disks: list[str]
) -> None:
    """Finding 5: EFAULT, no LV, and the PV is not held."""
    pes = uapi.ffi.new("struct pemove_extent[]", 1)
    pv = Extent.from_path(disks[0], 0)
    pes[0].major, pes[0].minor, pes[0].sector = pv.major, pv.minor, 0
    data = request(
        "LV_CREATE",
        name=b"ro",
        extent_sectors=EXTENT,
        extents=int(uapi.ffi.cast("uintptr_t", pes)),
        extent_count=1,
    )
    efault(ctl, "LV_CREATE", data)
    assert ctl.lv_list() == []
    assert claimable(disks[0])


@pytest.mark.disks(2)
def test_pe_move_and_pe_lock_into_a_read_only_buffer_change_nothing(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 5: a PE_MOVE or PE_LOCK that cannot report back does not happen."""
    make_lv("ro", EXTENT, [Extent.from_path(disks[0], 0)])
    before = ctl.lv_status("ro")
    dest = Extent.from_path(disks[1], 0)
    efault(
        ctl,
        "PE_MOVE",
        request("PE_MOVE", name=b"ro", le=0, dest=(dest.major, dest.minor, 0)),
    )
    efault(ctl, "PE_LOCK", request("PE_LOCK", name=b"ro", le=0))
    after = ctl.lv_status("ro")
    assert after.les == before.les, "the map or the LE state changed"
    assert after.counters.moves == 0 and after.counters.moves_failed == 0
    assert after.info.pv_count == 1 and claimable(disks[1])
    ctl.pe_move("ro", 0, dest)  # the LE is not locked or claimed


@pytest.mark.disks(1)
def test_lv_status_looks_up_before_it_allocates(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    """Finding 6: the largest capacity on a missing LV is ENOENT; on an LV, its LEs only."""
    most = uapi.const["PEMOVE_MAX_EXTENTS"]
    arr = uapi.ffi.new("struct pemove_le_status[]", 4)
    addr = int(uapi.ffi.cast("uintptr_t", arr))
    buf = bytearray(request("LV_STATUS", name=b"nosuch", les=addr, le_capacity=most))
    with pytest.raises(errors.LVNotFound):
        ctl.raw_ioctl(uapi.IOC["LV_STATUS"], buf)
    make_lv("st", EXTENT, [Extent.from_path(disks[0], i * EXTENT) for i in range(4)])
    buf = bytearray(request("LV_STATUS", name=b"st", les=addr, le_capacity=most))
    ctl.raw_ioctl(uapi.IOC["LV_STATUS"], buf)
    got = uapi.ffi.from_buffer("struct pemove_lv_status *", buf)
    assert got.le_count == 4
