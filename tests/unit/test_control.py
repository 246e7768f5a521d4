"""What Control returns for what the module writes back, against a fake module.

test_errors.py covers failing ioctls; here every ioctl succeeds and a fake
fills the request's out fields, so the result objects can be compared field
by field with what the struct held.  The guest tier does the same against
pemove itself.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from pemove import uapi
from pemove.control import (
    Control,
    Extent,
    LVCounters,
    MoveEnd,
    MoveProgress,
    MoveStats,
    VersionInfo,
)

ffi = uapi.ffi
C = uapi.const
Filler = Callable[[Any], None]


class FakeModule:
    """Stands in for fcntl.ioctl: runs the filler registered for the request."""

    def __init__(self) -> None:
        self.fillers: dict[int, Filler] = {}
        self.requests: list[Any] = []

    def on(self, op: str, filler: Filler) -> None:
        self.fillers[uapi.IOC[op]] = filler

    def __call__(self, fd: int, cmd: int, buf: Any, mutate: bool = False) -> int:
        op = next(name for name, num in uapi.IOC.items() if num == cmd)
        req = ffi.from_buffer(f"{uapi.IOC_STRUCT[op]} *", buf)
        self.requests.append(req)
        self.fillers[cmd](req)
        return 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeModule:
    module = FakeModule()
    monkeypatch.setattr(fcntl, "ioctl", module)
    return module


@pytest.fixture
def ctl(tmp_path: Path) -> Any:
    node = tmp_path / "pemove-control"
    node.touch()
    with Control(str(node)) as handle:
        yield handle


def test_version_reports_the_header_version_and_features(
    fake: FakeModule, ctl: Control
) -> None:
    def fill(req: Any) -> None:
        req.hdr.version[0:3] = [1, 7, 3]
        req.features = C["PEMOVE_FEAT_PE_MOVE"] | C["PEMOVE_FEAT_TWO_PHASE"]
        req.max_extents = 100
        req.copy_chunk_sectors = 2048
        req.chunk_min_sectors = 8
        req.chunk_max_sectors = 1024
        req.chunk_default_sectors = 256

    fake.on("VERSION", fill)
    v = ctl.version()
    assert v == VersionInfo(1, 7, 3, v.features, 100, 2048, 8, 1024, 256)
    assert v.version == (1, 7, 3)
    assert (v.pe_move, v.two_phase) == (True, True)
    assert not (v.legacy_lock or v.notrack or v.live_move or v.pv_reserve)


def test_pe_move_reports_every_out_field(fake: FakeModule, ctl: Control) -> None:
    def fill(req: Any) -> None:
        for i, name in enumerate(
            (
                "bytes_copied",
                "hold_ns",
                "copy_ns",
                "bios_drained",
                "bios_held",
                "max_wait_ns",
                "switch_ns",
                "writes_mirrored",
                "writes_waited",
            )
        ):
            setattr(req, name, 10 + i)
        req.chunk_sectors = 64

    fake.on("PE_MOVE", fill)
    stats = ctl.pe_move("lv0", 3, Extent(8, 16, 4096), mode="live", sync_only=True)
    assert stats == MoveStats(
        bytes_copied=10,
        hold_ns=11,
        copy_ns=12,
        bios_drained=13,
        bios_held=14,
        bios_not_waited=0,
        mode="live",
        chunk_sectors=64,
        max_wait_ns=15,
        switch_ns=16,
        writes_mirrored=17,
        writes_waited=18,
        synced=True,
    )
    req = fake.requests[-1]
    assert ffi.string(req.name) == b"lv0"
    assert req.le == 3
    assert (req.dest.major, req.dest.minor, req.dest.sector) == (8, 16, 4096)
    assert req.move_flags == C["PEMOVE_MOVE_LIVE"] | C["PEMOVE_MOVE_SYNC_ONLY"]


def test_pe_move_end_reports_the_destination(fake: FakeModule, ctl: Control) -> None:
    def fill(req: Any) -> None:
        req.dest.major, req.dest.minor, req.dest.sector = 8, 32, 2048
        req.switch_ns, req.writes_mirrored, req.max_wait_ns = 5, 6, 7

    fake.on("PE_MOVE_END", fill)
    assert ctl.pe_move_end("lv0", 1, "commit") == MoveEnd(
        "commit", Extent(8, 32, 2048), 5, 6, 7
    )
    assert fake.requests[-1].op == C["PEMOVE_END_COMMIT"]
    assert fake.requests[-1].le == 1


@pytest.mark.parametrize(
    ("state", "flags", "mode"),
    [
        (0, 0, None),
        (C["PEMOVE_LE_MOVING"], 0, "whole"),
        (C["PEMOVE_LE_MOVING"] | C["PEMOVE_LE_SYNCED"], C["PEMOVE_MOVE_LIVE"], "live"),
    ],
)
def test_move_status_reports_progress(
    fake: FakeModule, ctl: Control, state: int, flags: int, mode: str | None
) -> None:
    def fill(req: Any) -> None:
        req.state, req.move_flags = state, flags
        req.source.major, req.source.minor, req.source.sector = 8, 1, 0
        req.dest.major, req.dest.minor, req.dest.sector = 8, 2, 8
        req.total_sectors, req.copied_sectors, req.chunk_sectors = 100, 50, 8
        req.writes_mirrored, req.writes_waited = 3, 4
        req.max_wait_ns, req.elapsed_ns = 9, 10

    fake.on("MOVE_STATUS", fill)
    progress = ctl.move_status("lv0", 2)
    assert progress == MoveProgress(
        state, mode, Extent(8, 1, 0), Extent(8, 2, 8), 100, 50, 8, 3, 4, 9, 10
    )
    assert progress.active == bool(state)
    assert progress.synced == bool(state & C["PEMOVE_LE_SYNCED"])
    assert not progress.detached


def test_lv_status_reports_counters_and_les(fake: FakeModule, ctl: Control) -> None:
    def fill(req: Any) -> None:
        req.info.name = b"lv0"
        req.info.disk_name = b"pemove0"
        req.info.extent_count = 2
        req.info.lv_flags = C["PEMOVE_LV_NOTRACK"]
        for i, f in enumerate(fields(LVCounters)):
            setattr(req.counters, f.name, i + 1)
        les = ffi.cast("struct pemove_le_status *", req.les)
        for i in range(2):
            les[i].pe.major, les[i].pe.sector = 8, i * 8
            les[i].state = C["PEMOVE_LE_COPYING"] if i else C["PEMOVE_LE_DETACHED"]
            les[i].inflight, les[i].held = i, 2 * i
        req.le_count = 2

    fake.on("LV_STATUS", fill)
    status = ctl.lv_status("lv0")
    assert status.info.notrack and status.info.node == "/dev/pemove0"
    assert status.counters == LVCounters(*range(1, 12))
    assert [(le.le, le.pe, le.inflight, le.held) for le in status.les] == [
        (0, Extent(8, 0, 0), 0, 0),
        (1, Extent(8, 0, 8), 1, 2),
    ]
    first, second = status.les
    assert first.detached and not first.copying
    assert second.copying and not (second.locked or second.wrlocked)
    assert not (second.moving or second.synced or second.detached)


def test_locks_name_the_le(fake: FakeModule, ctl: Control) -> None:
    def fill(req: Any) -> None:
        req.bios_inflight = 4

    for op in ("PE_LOCK", "PE_UNLOCK", "PE_REMAP"):
        fake.on(op, fill)
    assert ctl.pe_lock("lv0", 5) == 4
    ctl.pe_remap("lv0", 5, Extent(8, 3, 16))
    ctl.pe_unlock("lv0", 5)
    lock, remap, unlock = fake.requests
    assert lock.le == remap.le == unlock.le == 5
    assert (remap.dest.minor, remap.dest.sector) == (3, 16)
