"""A caller without CAP_SYS_ADMIN gets EPERM for every command.

DESCRIPTION: the control node is opened as root (its mode would stop
``nobody`` at open(2), and the contract puts the capability check in the
ioctl), then a forked child drops to uid/gid 65534 (``nobody``), which
clears every capability, and issues each PEMOVE_IOC_* with a well-formed
request naming an existing LV.  Every one must fail with EPERM, and the LV
must be exactly as it was.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable
from typing import Any

import pytest
from pemove import uapi
from pemove.control import Control, Extent

ffi = uapi.ffi
NOBODY = 65534
EXTENT_SECTORS = 2048


def _request(op: str, lv_ptr: int, dest: Extent) -> bytearray:
    """A well-formed request for ``op`` on LV ``u``, LE 0."""
    req = ffi.new(uapi.IOC_STRUCT[op] + " *")
    for i, part in enumerate(uapi.VERSION):
        req.hdr.version[i] = part
    if hasattr(req, "name"):
        req.name = b"u" if op != "LV_CREATE" else b"u2"
    if op == "LV_CREATE":
        req.extent_sectors = EXTENT_SECTORS
        req.extents = lv_ptr
        req.extent_count = 1
    if hasattr(req, "dest"):
        req.dest.major, req.dest.minor, req.dest.sector = (
            dest.major,
            dest.minor,
            dest.sector,
        )
    return bytearray(ffi.buffer(req))


def _child(fd: int, requests: dict[str, bytearray], report: int) -> None:
    """In the forked child: drop to nobody, issue each request, write errnos."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    lines = []
    for op, buf in requests.items():
        try:
            fcntl.ioctl(fd, uapi.IOC[op], buf, True)
            code = 0
        except OSError as exc:
            code = exc.errno or -1
        lines.append(f"{op} {code}")
    os.write(report, ("\n".join(lines) + "\n").encode())


@pytest.mark.disks(2)
def test_every_command_is_eperm_for_nobody(
    ctl: Control, disks: list[str], make_lv: Callable[..., Any]
) -> None:
    make_lv("u", EXTENT_SECTORS, [Extent.from_path(disks[0], 0)])
    before = ctl.lv_status("u")
    ext = ffi.new("struct pemove_extent *")
    src = Extent.from_path(disks[1], 0)
    ext.major, ext.minor, ext.sector = src.major, src.minor, 8 * EXTENT_SECTORS
    ptr = int(ffi.cast("uintptr_t", ext))
    requests = {op: _request(op, ptr, src) for op in uapi.IOC if uapi.IOC_STRUCT[op]}
    assert len(requests) == len(uapi.IOC)
    fd = os.open("/dev/pemove-control", os.O_RDWR | os.O_CLOEXEC)
    r, w = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 0
            try:
                os.close(r)
                _child(fd, requests, w)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 4096):
            chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, "the child failed to drop to nobody"
    got = dict(line.split() for line in b"".join(chunks).decode().splitlines())
    got = {op: errno.errorcode.get(int(code), code) for op, code in got.items()}
    assert got == {op: "EPERM" for op in requests}
    after = ctl.lv_status("u")
    assert after.les == before.les and after.counters == before.counters
    assert [x.name for x in ctl.lv_list()] == ["u"]
