"""Random ioctl payloads at the control node: no oops, and the module still works.

DESCRIPTION: hypothesis, derandomized (the same payloads on every run; set
PEMOVE_FUZZ_SEED to explore others -- it is printed), sends
``EXAMPLES * BATCH`` payloads: exact command numbers with random bytes and
mostly valid headers, command numbers near the real ones (other direction,
nr, size or type), and random command numbers outside the generic VFS
ranges.  User pointers inside the structs, and the ioctl argument itself
when it is passed as an integer, point only at memory that cannot be read
or written (NULL, a PROT_NONE page, a read-only page, kernel and
non-canonical addresses), so a module bug shows up as a wrong errno or a
splat rather than as corruption of this process.  Afterwards an LV is
created, moved and removed, and the conftest scans the kernel log.

Runtime: the batch of payloads is drawn from one integer per payload, so
hypothesis' own cost stays small under TCG.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kit.figures import Figures
from pemove import lvs, uapi
from pemove.control import Control, Extent

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ffi = uapi.ffi
EXAMPLES = 200
BATCH = 50  # payloads per example: EXAMPLES * BATCH >= 10,000
MAGIC = 0xE7
OPS = sorted(op for op, ctype in uapi.IOC_STRUCT.items() if ctype)
POINTER_FIELDS = {"LV_CREATE": "extents", "LV_LIST": "lvs", "LV_STATUS": "les"}
# Command types handled by the VFS before the driver sees them (FIOCLEX,
# FIONBIO, FS_IOC_*, FIFREEZE, FIBMAP...): not the module's input.
VFS_TYPES = {0x00, 0x54, 0x58, 0x66, 0x94}
ALLOWED = {
    errno.ENOTTY,
    errno.EFAULT,
    errno.EINVAL,
    errno.ENODEV,
    errno.EEXIST,
    errno.ENOENT,
    errno.EBUSY,
    errno.EOPNOTSUPP,
    errno.ENOMEM,
}
FUZZ_LV = b"fz"


def _libc_mmap(prot: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    addr = libc.mmap(
        None, mmap.PAGESIZE, prot, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0
    )
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    return int(addr)


@pytest.fixture(scope="module")
def bad_pointers() -> list[int]:
    """Addresses the kernel can neither read nor write on our behalf.

    The two pages stay mapped (never unmapped) so nothing else is ever
    placed at their addresses.
    """
    none = _libc_mmap(mmap.PROT_NONE if hasattr(mmap, "PROT_NONE") else 0)
    readonly = _libc_mmap(mmap.PROT_READ)
    return [
        0,
        1,
        0xFFF,
        none,
        none + 8,
        readonly,  # readable: output through it must fail
        0xFFFF_8880_0000_0000,  # kernel direct map
        0xFFFF_FFFF_8100_0000,  # kernel text
        0xDEAD_0000_0000_0000,  # non-canonical
        0xFFFF_FFFF_FFFF_FFF0,
    ]


def _cmd_for(rng: random.Random, kind: str, op: str) -> int:
    real = uapi.IOC[op]
    size = ffi.sizeof(uapi.IOC_STRUCT[op])
    nr = real & 0xFF
    if kind == "exact":
        return real
    if kind == "near":
        direction = rng.randrange(4)
        type_ = rng.choice([MAGIC, MAGIC, MAGIC - 1, MAGIC + 1])
        nr = rng.choice([nr, nr, nr + 1, max(nr - 1, 0), rng.randrange(16)])
        size = rng.choice([size, size + rng.randint(-16, 16), rng.randrange(2048)])
        size = max(size, 0)
        if (direction, type_, nr, size) == (
            3,
            MAGIC,
            real & 0xFF,
            ffi.sizeof(uapi.IOC_STRUCT[op]),
        ):
            size += 8
        return uapi.ioc_encode(direction, type_, nr, size)
    while True:
        cmd = rng.getrandbits(32)
        if (cmd >> 8) & 0xFF not in VFS_TYPES and cmd not in uapi.IOC.values():
            return cmd


def _payload(rng: random.Random, bad: list[int]) -> tuple[int, Any]:
    """One ioctl: (cmd, bytearray or int argument)."""
    kind = rng.choices(["exact", "near", "random"], weights=[6, 3, 1])[0]
    op = rng.choice(OPS)
    cmd = _cmd_for(rng, kind, op)
    if rng.random() < 0.05:
        # The argument itself is a bad pointer.  fcntl.ioctl passes an int
        # argument as a C int, sign-extended: -1 and -4096 reach the kernel
        # as the top of the address space.
        return cmd, rng.choice([0, 1, 0xFFF, -1, -4096])
    size = (cmd >> 16) & 0x3FFF
    # Always longer than 1024 bytes and than the encoded size: fcntl.ioctl
    # then passes this buffer itself, and the kernel cannot write past it.
    buf = bytearray(rng.randbytes(max(size, 1025) + 64))
    if kind == "exact":
        ctype = uapi.IOC_STRUCT[op]
        req = ffi.from_buffer(ctype + " *", buf)
        if rng.random() < 0.8:
            for i, part in enumerate(uapi.VERSION):
                req.hdr.version[i] = part
        if rng.random() < 0.7:
            req.hdr.flags = 0
        if rng.random() < 0.6:
            for f in ("reserved",):
                if hasattr(req, f):
                    for i in range(len(getattr(req, f))):
                        getattr(req, f)[i] = 0
        if hasattr(req, "name") and rng.random() < 0.5:
            req.name = rng.choice([FUZZ_LV, b"nope", b"x" * 31])
        if op in POINTER_FIELDS:
            setattr(req, POINTER_FIELDS[op], rng.choice(bad))
            if rng.random() < 0.5:
                field = {
                    "LV_CREATE": "extent_count",
                    "LV_LIST": "capacity",
                    "LV_STATUS": "le_capacity",
                }[op]
                setattr(
                    req,
                    field,
                    rng.choice([0, 1, 2, 0xFFFFFFFF, 1 << 20, (1 << 20) + 1]),
                )
    return cmd, buf


@pytest.fixture
def fuzz_lv(disks: list[str], make_lv: Callable[..., Any]) -> Iterator[str]:
    lv = make_lv(FUZZ_LV.decode(), 2048, [Extent.from_path(disks[0], 0)])
    yield lv.node


@pytest.mark.disks(2)
def test_fuzz_control_node(
    ctl: Control,
    disks: list[str],
    fuzz_lv: str,
    bad_pointers: list[int],
    make_lv: Callable[..., Any],
    figures: Figures,
) -> None:
    seed = int(os.environ.get("PEMOVE_FUZZ_SEED", "0"))
    print(f"pemove fuzz: hypothesis derandomized, PEMOVE_FUZZ_SEED={seed}")
    results: Counter[str] = Counter()
    sent = 0
    # Its own control file: a PE_LOCK that random input happens to take is
    # dropped when the file closes.
    fuzz_ctl = Control()
    fd = fuzz_ctl.fileno()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(st.integers(min_value=0, max_value=(1 << 63) - 1))
    def batch(draw: int) -> None:
        nonlocal sent
        rng = random.Random(draw ^ seed)
        for _ in range(BATCH):
            cmd, arg = _payload(rng, bad_pointers)
            try:
                if isinstance(arg, int):
                    fcntl.ioctl(fd, cmd, arg)
                else:
                    fcntl.ioctl(fd, cmd, arg, True)
                results["ok"] += 1
            except OSError as exc:
                assert exc.errno in ALLOWED, (
                    f"ioctl 0x{cmd:08x} gave {errno.errorcode.get(exc.errno or 0)} "
                    f"(draw {draw}, seed {seed})"
                )
                results[errno.errorcode[exc.errno or 0]] += 1
            sent += 1

    start = time.monotonic()
    try:
        batch()
    finally:
        fuzz_ctl.close()
    elapsed = time.monotonic() - start
    figures.fuzz_payloads += sent
    print(f"pemove fuzz: {sent} payloads in {elapsed:.1f} s: {dict(results)}")
    assert sent >= 10_000
    # Random input reaches the deep checks too, not only the number check.
    assert results["ENOTTY"] < sent and results["EFAULT"] > 0 and results["EINVAL"] > 0

    # The module still works: create, move, remove (the fuzzed LV may be gone).
    assert lvs.remove_all(ctl) == []
    make_lv("after", 2048, [Extent.from_path(disks[0], 4096)])
    ctl.pe_move("after", 0, Extent.from_path(disks[1], 4096))
    assert ctl.lv_status("after").les[0].pe == Extent.from_path(disks[1], 4096)
    ctl.lv_remove("after")
    assert ctl.lv_list() == []
