"""Every bad input of the errno contract gets its exact errno, and changes nothing.

DESCRIPTION: each case of the errno table in docs/HACKING.md is sent to the
real module, most of them as raw ioctls (the client would refuse some inputs
before the kernel sees them).  After each rejected call the LV list and every
LV's map, state and counters must be what they were before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.cleanup import KEPT, wipe
from kit.faults import scsi_debug_disk
from pemove import errors, lvs, placement, uapi
from pemove.control import Control, Extent
from pemove.vm import guest

ffi = uapi.ffi
C = uapi.const
EXTENT_SECTORS = 2048  # 1 MiB extents


def raw(op: str, /, **fields: Any) -> Any:
    """A request struct for ``op`` with the client's version and ``fields``."""
    req = ffi.new(uapi.IOC_STRUCT[op] + " *")
    for i, part in enumerate(uapi.VERSION):
        req.hdr.version[i] = part
    for key, value in fields.items():
        setattr(req, key, value)
    return req


def call(ctl: Control, op: str, req: Any, cmd: int | None = None) -> int:
    """Issue ``op`` raw; return 0 or the errno."""
    try:
        ctl.raw_ioctl(uapi.IOC[op] if cmd is None else cmd, ffi.buffer(req))
    except errors.PemoveError as exc:
        return exc.errno
    return 0


def extents_array(exts: list[Extent]) -> Any:
    arr = ffi.new("struct pemove_extent[]", max(len(exts), 1))
    for i, e in enumerate(exts):
        arr[i].major, arr[i].minor, arr[i].sector = e.major, e.minor, e.sector
    return arr


def create_req(name: bytes, exts: list[Extent], **fields: Any) -> tuple[Any, Any]:
    arr = extents_array(exts)
    fields.setdefault("extent_sectors", EXTENT_SECTORS)
    fields.setdefault("extent_count", len(exts))
    req = raw(
        "LV_CREATE",
        name=name,
        extents=int(ffi.cast("uintptr_t", arr)),
        **fields,
    )
    return req, arr  # keep arr alive while req is used


def snapshot(ctl: Control) -> list[Any]:
    """Everything a rejected call must leave unchanged."""
    state = []
    for info in ctl.lv_list():
        st = ctl.lv_status(info.name)
        # open_count is udev's business (it probes new nodes), not ours.
        state.append((dataclasses.replace(info, open_count=None), st.counters, st.les))
    return state


class TwoLVs:
    """Two LVs on two disks: ``t`` (tracked, 4 LEs) and ``n`` (untracked, 1 LE).

    Both are ready (udev done with them) before any case runs, so no probe
    changes their counters between a case's two snapshots.
    """

    def __init__(self, ctl: Control, disks: list[str]) -> None:
        self.ctl = ctl
        self.disks = disks
        self.d0 = Extent.from_path(disks[0])
        self.d1 = Extent.from_path(disks[1])
        self.t, _ = lvs.create(
            ctl,
            "t",
            EXTENT_SECTORS,
            [self.at(0, 0), self.at(1, 0), self.at(0, 1), self.at(1, 1)],
        )
        self.n, _ = lvs.create(ctl, "n", EXTENT_SECTORS, [self.at(0, 2)], notrack=True)

    def at(self, disk: int, extent: int) -> Extent:
        base = self.d0 if disk == 0 else self.d1
        return Extent(base.major, base.minor, extent * EXTENT_SECTORS)

    def free(self, extent: int = 10) -> Extent:
        return self.at(1, extent)


@pytest.fixture(scope="class")
def two_lvs(request: pytest.FixtureRequest) -> Iterator[TwoLVs]:
    """One pair of LVs for the whole errno table.

    Every case leaves them as it found them (the table's own assertion), so
    each case need not make them anew: that took 4 to 12 s per case on a
    debug kernel under TCG (two LVs, their nodes, udev), for 56 cases.  The
    cleanup after each case spares them (``KEPT``); they go with the class.
    """
    kept = request.config.stash.setdefault(KEPT, set())
    nodes = guest.guest_disks()
    if len(nodes) < 2:
        pytest.skip(f"needs 2 disks, the VM has {len(nodes)}")
    wipe(nodes)
    with Control() as ctl:
        kept.update({"t", "n"})
        try:
            yield TwoLVs(ctl, nodes)
        finally:
            kept.difference_update({"t", "n"})
            for name in ("t", "n"):
                with contextlib.suppress(errors.LVNotFound):
                    lvs.remove_when_released(ctl, name)


def _dest_fields(e: Extent) -> dict[str, Any]:
    return {"dest": {"major": e.major, "minor": e.minor, "sector": e.sector}}


# Each case: (id, expected errno, function(env) -> errno)
Case = tuple[str, int, Callable[[TwoLVs], int]]


def _create(
    env: TwoLVs, name: bytes = b"new", exts: list[Extent] | None = None, **kw: Any
) -> int:
    req, _arr = create_req(name, exts if exts is not None else [env.free()], **kw)
    return call(env.ctl, "LV_CREATE", req)


def _move(env: TwoLVs, lv: bytes, le: int, dest: Extent, **kw: Any) -> int:
    return call(
        env.ctl, "PE_MOVE", raw("PE_MOVE", name=lv, le=le, **_dest_fields(dest), **kw)
    )


def _lockop(
    env: TwoLVs, op: str, lv: bytes, le: int, dest: Extent | None = None
) -> int:
    fields = _dest_fields(dest) if dest else {}
    return call(env.ctl, op, raw(op, name=lv, le=le, **fields))


def _past_end(env: TwoLVs) -> Extent:
    end = placement.device_sectors(env.d1.major, env.d1.minor)
    return Extent(env.d1.major, env.d1.minor, end - EXTENT_SECTORS // 2)


CASES: list[Case] = [
    # header
    (
        "version-major",
        errno.EINVAL,
        lambda e: call(e.ctl, "VERSION", _with_version(raw("VERSION"), 99)),
    ),
    (
        "version-minor-newer",
        errno.EINVAL,
        lambda e: call(
            e.ctl,
            "VERSION",
            _with_version(raw("VERSION"), C["PEMOVE_VERSION_MAJOR"], 99),
        ),
    ),
    (
        "hdr-flags",
        errno.EINVAL,
        lambda e: call(e.ctl, "VERSION", _with_flags(raw("VERSION"))),
    ),
    (
        "version-reserved",
        errno.EINVAL,
        lambda e: call(e.ctl, "VERSION", _with_reserved(raw("VERSION"))),
    ),
    # command numbers
    (
        "unknown-nr",
        errno.ENOTTY,
        lambda e: call(e.ctl, "VERSION", raw("VERSION"), cmd=_ioc(0x3F, "VERSION")),
    ),
    (
        "wrong-size",
        errno.ENOTTY,
        lambda e: call(
            e.ctl, "VERSION", raw("VERSION"), cmd=uapi.IOC["VERSION"] + (1 << 16)
        ),
    ),
    (
        "wrong-type",
        errno.ENOTTY,
        lambda e: call(
            e.ctl, "VERSION", raw("VERSION"), cmd=uapi.IOC["VERSION"] ^ (1 << 8)
        ),
    ),
    (
        "wrong-direction",
        errno.ENOTTY,
        lambda e: call(
            e.ctl, "VERSION", raw("VERSION"), cmd=uapi.IOC["VERSION"] & ~(1 << 30)
        ),
    ),
    # LV_CREATE
    ("create-empty-name", errno.EINVAL, lambda e: _create(e, name=b"")),
    (
        "create-name-unterminated",
        errno.EINVAL,
        lambda e: _create(e, name=b"x" * C["PEMOVE_NAME_LEN"]),
    ),
    ("create-unknown-flags", errno.EINVAL, lambda e: _create(e, lv_flags=0x80)),
    ("create-extent-zero", errno.EINVAL, lambda e: _create(e, extent_sectors=0)),
    (
        "create-extent-unaligned",
        errno.EINVAL,
        lambda e: _create(e, extent_sectors=EXTENT_SECTORS + 4),
    ),
    (
        "create-extent-huge",
        errno.EINVAL,
        lambda e: _create(e, extent_sectors=(1 << 31) + 8),
    ),
    ("create-count-zero", errno.EINVAL, lambda e: _create(e, extent_count=0)),
    (
        "create-count-huge",
        errno.EINVAL,
        lambda e: _create(e, extent_count=C["PEMOVE_MAX_EXTENTS"] + 1),
    ),
    ("create-reserved", errno.EINVAL, lambda e: _create(e, reserved=[1, 0, 0])),
    (
        "create-pv-reserve-unaligned",
        errno.EINVAL,
        lambda e: _create(e, pv_reserved_sectors=4),
    ),
    (
        "create-extent-in-pv-reserve",
        errno.EINVAL,
        lambda e: _create(e, pv_reserved_sectors=20 * EXTENT_SECTORS),
    ),
    ("create-outside-pv", errno.EINVAL, lambda e: _create(e, exts=[_past_end(e)])),
    (
        "create-overlap-self",
        errno.EINVAL,
        lambda e: _create(
            e,
            exts=[e.free(10), Extent(e.d1.major, e.d1.minor, 10 * EXTENT_SECTORS + 8)],
        ),
    ),
    (
        "create-overlap-other-lv",
        errno.EINVAL,
        lambda e: _create(
            e, exts=[e.free(10), Extent(e.d0.major, e.d0.minor, EXTENT_SECTORS + 8)]
        ),
    ),
    (
        "create-no-such-pv",
        errno.ENODEV,
        lambda e: _create(e, exts=[Extent(4000, 1, 0)]),
    ),
    (
        "create-impossible-devt",
        errno.ENODEV,
        lambda e: _create(e, exts=[Extent(1 << 20, 0, 0)]),
    ),
    ("create-duplicate-name", errno.EEXIST, lambda e: _create(e, name=b"t")),
    ("create-bad-pointer", errno.EFAULT, lambda e: _create_bad_pointer(e)),
    # LV_REMOVE / LV_STATUS
    (
        "remove-unknown",
        errno.ENOENT,
        lambda e: call(e.ctl, "LV_REMOVE", raw("LV_REMOVE", name=b"nope")),
    ),
    ("remove-open", errno.EBUSY, lambda e: _remove_open(e)),
    (
        "status-unknown",
        errno.ENOENT,
        lambda e: call(e.ctl, "LV_STATUS", raw("LV_STATUS", name=b"nope")),
    ),
    (
        "status-le-out-of-range",
        errno.EINVAL,
        lambda e: call(e.ctl, "LV_STATUS", raw("LV_STATUS", name=b"t", le_first=5)),
    ),
    # PE_MOVE
    ("move-unknown-lv", errno.ENOENT, lambda e: _move(e, b"nope", 0, e.free())),
    ("move-le-out-of-range", errno.EINVAL, lambda e: _move(e, b"t", 4, e.free())),
    ("move-dest-outside", errno.EINVAL, lambda e: _move(e, b"t", 0, _past_end(e))),
    (
        "move-dest-misaligned",
        errno.EINVAL,
        lambda e: _move(
            e, b"t", 0, Extent(e.d1.major, e.d1.minor, 10 * EXTENT_SECTORS + 4)
        ),
    ),
    (
        "move-dest-overlaps-source",
        errno.EINVAL,
        lambda e: _move(
            e, b"t", 0, Extent(e.d0.major, e.d0.minor, EXTENT_SECTORS // 2)
        ),
    ),
    (
        "move-dest-overlaps-other-le",
        errno.EINVAL,
        lambda e: _move(e, b"t", 0, e.at(1, 1)),
    ),
    (
        "move-dest-overlaps-other-lv",
        errno.EINVAL,
        lambda e: _move(
            e, b"t", 0, Extent(e.d0.major, e.d0.minor, 2 * EXTENT_SECTORS + 8)
        ),
    ),
    (
        "move-dest-no-device",
        errno.ENODEV,
        lambda e: _move(e, b"t", 0, Extent(4000, 1, 0)),
    ),
    ("move-notrack", errno.EOPNOTSUPP, lambda e: _move(e, b"n", 0, e.free())),
    (
        "move-unknown-flags",
        errno.EINVAL,
        lambda e: _move(e, b"t", 0, e.free(), move_flags=0x80),
    ),
    (
        "move-chunk-not-power-of-two",
        errno.EINVAL,
        lambda e: _move(
            e, b"t", 0, e.free(), move_flags=C["PEMOVE_MOVE_LIVE"], chunk_sectors=768
        ),
    ),
    (
        "move-chunk-too-large",
        errno.EINVAL,
        lambda e: _move(
            e,
            b"t",
            0,
            e.free(),
            move_flags=C["PEMOVE_MOVE_LIVE"],
            chunk_sectors=2 * C["PEMOVE_CHUNK_MAX_SECTORS"],
        ),
    ),
    # PE_MOVE_END / MOVE_STATUS (1.1)
    (
        "end-no-synced-move",
        errno.EINVAL,
        lambda e: call(
            e.ctl,
            "PE_MOVE_END",
            raw("PE_MOVE_END", name=b"t", le=0, op=C["PEMOVE_END_COMMIT"]),
        ),
    ),
    (
        "end-unknown-op",
        errno.EINVAL,
        lambda e: call(e.ctl, "PE_MOVE_END", raw("PE_MOVE_END", name=b"t", le=0, op=9)),
    ),
    (
        "end-notrack",
        errno.EOPNOTSUPP,
        lambda e: call(
            e.ctl,
            "PE_MOVE_END",
            raw("PE_MOVE_END", name=b"n", le=0, op=C["PEMOVE_END_ABORT"]),
        ),
    ),
    (
        "move-status-unknown-lv",
        errno.ENOENT,
        lambda e: call(e.ctl, "MOVE_STATUS", raw("MOVE_STATUS", name=b"nope", le=0)),
    ),
    (
        "move-status-le-out-of-range",
        errno.EINVAL,
        lambda e: call(e.ctl, "MOVE_STATUS", raw("MOVE_STATUS", name=b"t", le=4)),
    ),
    ("move-le-locked", errno.EBUSY, lambda e: _move_locked(e)),
    # legacy lock
    ("lock-notrack", errno.EOPNOTSUPP, lambda e: _lockop(e, "PE_LOCK", b"n", 0)),
    ("lock-le-out-of-range", errno.EINVAL, lambda e: _lockop(e, "PE_LOCK", b"t", 9)),
    ("lock-twice", errno.EBUSY, lambda e: _lock_twice(e)),
    (
        "remap-not-locked",
        errno.EINVAL,
        lambda e: _lockop(e, "PE_REMAP", b"t", 0, e.free()),
    ),
    (
        "remap-notrack",
        errno.EOPNOTSUPP,
        lambda e: _lockop(e, "PE_REMAP", b"n", 0, e.free()),
    ),
    ("unlock-not-locked", errno.EINVAL, lambda e: _lockop(e, "PE_UNLOCK", b"t", 0)),
    ("remap-dest-overlap", errno.EINVAL, lambda e: _remap_overlap(e)),
    ("remove-locked", errno.EBUSY, lambda e: _remove_locked(e)),
]


def _with_version(req: Any, major: int, minor: int = 0) -> Any:
    req.hdr.version[0] = major
    req.hdr.version[1] = minor
    return req


def _with_flags(req: Any) -> Any:
    req.hdr.flags = 1
    return req


def _with_reserved(req: Any) -> Any:
    req.reserved[3] = 1
    return req


def _ioc(nr: int, like: str) -> int:
    return (uapi.IOC[like] & ~0xFF) | nr


def _create_bad_pointer(env: TwoLVs) -> int:
    req, _arr = create_req(b"new", [env.free()])
    req.extents = 8  # unmapped
    return call(env.ctl, "LV_CREATE", req)


def _remove_open(env: TwoLVs) -> int:
    fd = os.open(env.t.node, os.O_RDONLY)
    try:
        return call(env.ctl, "LV_REMOVE", raw("LV_REMOVE", name=b"t"))
    finally:
        os.close(fd)


def _move_locked(env: TwoLVs) -> int:
    with Control() as other:
        other.pe_lock("t", 0)
        return _move(env, b"t", 0, env.free())


def _lock_twice(env: TwoLVs) -> int:
    with Control() as other:
        other.pe_lock("t", 1)
        return _lockop(env, "PE_LOCK", b"t", 1)


def _remap_overlap(env: TwoLVs) -> int:
    env.ctl.pe_lock("t", 2)
    try:
        return _lockop(env, "PE_REMAP", b"t", 2, env.at(0, 0))
    finally:
        env.ctl.pe_unlock("t", 2)


def _remove_locked(env: TwoLVs) -> int:
    with Control() as other:
        other.pe_lock("t", 3)
        return call(env.ctl, "LV_REMOVE", raw("LV_REMOVE", name=b"t"))


@pytest.mark.disks(2)
class TestErrnoTable:
    """The errno table, case by case, on one pair of LVs (``two_lvs``)."""

    @pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
    def test_errno(self, two_lvs: TwoLVs, case: Case) -> None:
        _, expected, fn = case
        before = snapshot(two_lvs.ctl)
        got = fn(two_lvs)
        assert got == expected, (
            f"expected {errors.errno_name(expected)}, got {errors.errno_name(got)}"
        )
        assert snapshot(two_lvs.ctl) == before, "a rejected call changed the LVs"


def test_version_written_back_on_failure(ctl: Control) -> None:
    req = _with_version(raw("VERSION"), 99, 7)
    assert call(ctl, "VERSION", req) == errno.EINVAL
    assert tuple(req.hdr.version) == uapi.VERSION


@pytest.mark.disks(1)
def test_pe_move_enotty_without_locked_copy(module: Any, disks: list[str]) -> None:
    module.reload(locked_copy=0)
    with Control() as ctl:
        assert not ctl.version().pe_move
        d0 = Extent.from_path(disks[0])
        ctl.lv_create("t", EXTENT_SECTORS, [d0])
        before = snapshot(ctl)
        got = call(
            ctl,
            "PE_MOVE",
            raw(
                "PE_MOVE",
                name=b"t",
                le=0,
                **_dest_fields(Extent(d0.major, d0.minor, 4 * EXTENT_SECTORS)),
            ),
        )
        assert got == errno.ENOTTY
        assert snapshot(ctl) == before


_NOCAP = """
import fcntl, os, sys
fd = int(sys.argv[1]); cmd = int(sys.argv[2])
os.setgid(65534); os.setuid(65534)
buf = bytearray(int(sys.argv[3]))
try:
    fcntl.ioctl(fd, cmd, buf, True)
except OSError as e:
    print(e.errno)
else:
    print(0)
"""


@pytest.mark.parametrize("op", ["VERSION", "LV_LIST", "LV_REMOVE", "PE_MOVE"])
def test_eperm_without_cap_sys_admin(ctl: Control, op: str) -> None:
    """The fd is opened as root; the ioctl comes from a process without caps."""
    fd = ctl.fileno()
    size = ffi.sizeof(uapi.IOC_STRUCT[op])
    out = subprocess.run(
        [sys.executable, "-c", _NOCAP, str(fd), str(uapi.IOC[op]), str(size)],
        pass_fds=(fd,),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert int(out) == errno.EPERM


@pytest.mark.disks(1)
def test_output_padding_is_zeroed(ctl: Control, disks: list[str]) -> None:
    d0 = Extent.from_path(disks[0])
    ctl.lv_create("t", EXTENT_SECTORS, [d0, Extent(d0.major, d0.minor, EXTENT_SECTORS)])
    arr = ffi.new("struct pemove_le_status[]", 2)
    ffi.memmove(arr, b"\xff" * ffi.sizeof(arr), ffi.sizeof(arr))
    req = raw(
        "LV_STATUS", name=b"t", les=int(ffi.cast("uintptr_t", arr)), le_capacity=2
    )
    assert call(ctl, "LV_STATUS", req) == 0
    assert req.le_count == 2
    assert [arr[i].padding for i in range(2)] == [0, 0]
    assert list(req.reserved) == [0] * 4 and req.padding == 0
    assert list(req.counters.reserved) == [0] * 5
    v = raw("VERSION")
    assert call(ctl, "VERSION", v) == 0
    assert list(v.reserved) == [0] * 4 and v.padding == 0


@pytest.fixture
def disk4k(ctl: Control) -> Iterator[str]:
    """A scsi_debug disk with 4096-byte logical blocks."""
    with scsi_debug_disk(ctl, "sector_size=4096", "dev_size_mb=64") as disk:
        lbs = Path(f"/sys/block/{os.path.basename(disk.node)}/queue/logical_block_size")
        assert lbs.read_text().strip() == "4096"
        yield disk.node


def test_create_extent_misaligned_to_pv_block_size(ctl: Control, disk4k: str) -> None:
    before = snapshot(ctl)
    req, _arr = create_req(b"x", [Extent.from_path(disk4k, 4)])  # 2 KiB in
    assert call(ctl, "LV_CREATE", req) == errno.EINVAL
    assert snapshot(ctl) == before


@pytest.mark.disks(1)
def test_move_dest_with_larger_block_size_than_lv(
    ctl: Control, disks: list[str], disk4k: str
) -> None:
    ctl.lv_create("t", EXTENT_SECTORS, [Extent.from_path(disks[0])])
    before = snapshot(ctl)
    dest = Extent.from_path(disk4k, 0)
    req = raw("PE_MOVE", name=b"t", le=0, **_dest_fields(dest))
    assert call(ctl, "PE_MOVE", req) == errno.EINVAL
    assert snapshot(ctl) == before
    assert ctl.lv_list()[0].pv_count == 1, "the rejected destination is still held"
