"""No byte of padding, reserved space or a name's tail comes back with kernel data.

DESCRIPTION: before each command every output byte -- output fields of the
request struct and the whole of the user arrays the kernel fills (LV_LIST's
lv_info[], LV_STATUS's le_status[]) -- is set to 0xA5, the input fields are
set as the contract demands (reserved and padding inputs zero).  After the
call every ``reserved``/``padding`` field, and every byte after the NUL of
a name the kernel wrote, must be zero: the kernel zeroes output structs
before filling them.  The structs have no implicit compiler padding (checked
here too), so the named fields are all the slack there is.
"""

from __future__ import annotations

from typing import Any

import pytest
from pemove import discovery, uapi
from pemove.control import Control, Extent

ffi = uapi.ffi
PATTERN = 0xA5
EXTENT_SECTORS = 2048
SLACK_NAMES = ("reserved", "padding")


def _slack(data: bytes, ctype: Any, where: str, names: tuple[str, ...]) -> list[str]:
    """Non-zero bytes in reserved/padding fields and after the NUL of ``names``."""
    bad = []
    for fname, f in ctype.fields:
        raw = data[f.offset : f.offset + ffi.sizeof(f.type)]
        path = f"{where}.{fname}"
        if f.type.kind == "struct":
            bad += _slack(raw, f.type, path, names)
        elif fname.startswith(SLACK_NAMES) and any(raw):
            bad.append(f"{path} = {raw.hex()}")
        elif fname in names:
            nul = raw.find(b"\0")
            if nul < 0:
                bad.append(f"{path} has no NUL: {raw!r}")
            elif any(raw[nul:]):
                bad.append(f"{path} tail after NUL = {raw[nul:].hex()}")
    return bad


def _request(op: str, /, **fields: Any) -> tuple[bytearray, Any]:
    """The pattern everywhere, then the header, zeroed slack inputs and ``fields``."""
    ctype = uapi.IOC_STRUCT[op]
    buf = bytearray([PATTERN]) * ffi.sizeof(ctype)
    req = ffi.from_buffer(ctype + " *", buf)
    for i, part in enumerate(uapi.VERSION):
        req.hdr.version[i] = part
    req.hdr.flags = 0
    for fname, f in ffi.typeof(ctype).fields:
        # slack inputs must be zero; a name we pass is zero-padded, so that
        # whatever comes back in its tail is the kernel's
        if fname.startswith(SLACK_NAMES) or fname == "name":
            ffi.memmove(
                ffi.addressof(req[0], fname),
                bytes(ffi.sizeof(f.type)),
                ffi.sizeof(f.type),
            )
    for key, value in fields.items():
        setattr(req, key, value)
    return buf, req


def _patterned(ctype: str, count: int) -> Any:
    arr = ffi.new(f"{ctype}[]", count)
    ffi.memmove(arr, bytes([PATTERN]) * ffi.sizeof(arr), ffi.sizeof(arr))
    return arr


def _call(ctl: Control, op: str, buf: bytearray) -> None:
    ctl.raw_ioctl(uapi.IOC[op], buf)


@pytest.mark.disks(2)
def test_output_slack_is_zero(ctl: Control, disks: list[str]) -> None:
    problems: list[str] = []

    def check(op: str, buf: bytearray, names: tuple[str, ...] = ()) -> None:
        problems.extend(_slack(bytes(buf), ffi.typeof(uapi.IOC_STRUCT[op]), op, names))

    buf, _ = _request("VERSION")
    _call(ctl, "VERSION", buf)
    check("VERSION", buf)

    exts = ffi.new("struct pemove_extent[]", 2)
    for i in range(2):
        e = Extent.from_path(disks[0], i * EXTENT_SECTORS)
        exts[i].major, exts[i].minor, exts[i].sector = e.major, e.minor, e.sector
    buf, _ = _request(
        "LV_CREATE",
        name=b"nl",
        extent_sectors=EXTENT_SECTORS,
        extents=int(ffi.cast("uintptr_t", exts)),
        extent_count=2,
        lv_flags=0,
        pv_reserved_sectors=0,
    )
    with discovery.watch_for_disk() as watch:
        _call(ctl, "LV_CREATE", buf)
        created = ffi.from_buffer("struct pemove_lv_create *", buf)
        watch.wait(ffi.string(created.disk_name).decode(), timeout=60)
    check("LV_CREATE", buf, ("disk_name",))

    infos = _patterned("struct pemove_lv_info", 4)
    buf, req = _request("LV_LIST", lvs=int(ffi.cast("uintptr_t", infos)), capacity=4)
    _call(ctl, "LV_LIST", buf)
    check("LV_LIST", buf)
    assert req.count == 1
    raw = bytes(ffi.buffer(infos))
    size = ffi.sizeof("struct pemove_lv_info")
    problems += _slack(
        raw[:size],
        ffi.typeof("struct pemove_lv_info"),
        "lv_info[0]",
        ("name", "disk_name"),
    )
    assert raw[size:] == bytes([PATTERN]) * (3 * size), "LV_LIST wrote past count"

    les = _patterned("struct pemove_le_status", 4)
    buf, req = _request(
        "LV_STATUS",
        name=b"nl",
        les=int(ffi.cast("uintptr_t", les)),
        le_first=0,
        le_capacity=4,
    )
    _call(ctl, "LV_STATUS", buf)
    check("LV_STATUS", buf, ("name", "disk_name"))
    assert req.le_count == 2
    raw = bytes(ffi.buffer(les))
    size = ffi.sizeof("struct pemove_le_status")
    for i in range(2):
        problems += _slack(
            raw[i * size : (i + 1) * size],
            ffi.typeof("struct pemove_le_status"),
            f"le_status[{i}]",
            (),
        )
    assert raw[2 * size :] == bytes([PATTERN]) * (2 * size), (
        "LV_STATUS wrote past le_count"
    )

    def roundtrip(
        op: str, le: int, dest: Extent | None = None, /, **fields: Any
    ) -> None:
        if dest is not None or op in ("PE_LOCK", "PE_UNLOCK"):
            where = dest or Extent(0, 0, 0)  # PE_LOCK and PE_UNLOCK want it zero
            fields["dest"] = {
                "major": where.major,
                "minor": where.minor,
                "sector": where.sector,
            }
        buf, _ = _request(op, name=b"nl", le=le, **fields)
        _call(ctl, op, buf)
        check(op, buf)

    # The inputs PE_MOVE took from reserved space in 1.1 are zero here (the
    # 1.0 move); its outputs stay patterned, for the kernel to overwrite.
    roundtrip(
        "PE_MOVE", 0, Extent.from_path(disks[1], 0), move_flags=0, chunk_sectors=0
    )
    roundtrip("MOVE_STATUS", 0)
    sync = uapi.const["PEMOVE_MOVE_LIVE"] | uapi.const["PEMOVE_MOVE_SYNC_ONLY"]
    roundtrip(
        "PE_MOVE", 0, Extent.from_path(disks[0], 0), move_flags=sync, chunk_sectors=0
    )
    roundtrip("MOVE_STATUS", 0)
    roundtrip("PE_MOVE_END", 0, op=uapi.const["PEMOVE_END_COMMIT"])
    roundtrip("PE_LOCK", 1)
    roundtrip("PE_REMAP", 1, Extent.from_path(disks[1], EXTENT_SECTORS))
    roundtrip("PE_UNLOCK", 1)

    assert problems == []
