"""Where extents go: data areas, allocation, first-fit free places, the PEs in use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pemove import errors, placement
from pemove.control import Extent, LEStatus, LVInfo
from pemove.placement import Area, PVSpec, ToSpec

DEVS = {"/dev/vdb": (254, 16), "/dev/vdc": (254, 32)}


@pytest.fixture
def two_disks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Two fake block devices of 65536 sectors, in a fake /sys/dev/block."""
    for major, minor in DEVS.values():
        (tmp_path / f"{major}:{minor}").mkdir()
        (tmp_path / f"{major}:{minor}" / "size").write_text("65536\n")
    monkeypatch.setattr(placement, "SYS_DEV_BLOCK", tmp_path)
    monkeypatch.setattr(
        placement,
        "data_area",
        lambda major, minor, sys_dev=tmp_path: Area(
            0, placement.device_sectors(major, minor, sys_dev)
        ),
    )
    monkeypatch.setattr(
        Extent, "from_path", classmethod(lambda cls, p, s=0: cls(*DEVS[str(p)], s))
    )
    return tmp_path


def test_device_sectors_and_data_area(tmp_path: Path) -> None:
    (tmp_path / "8:0").mkdir()
    (tmp_path / "8:0" / "size").write_text("2048\n")
    assert placement.device_sectors(8, 0, tmp_path) == 2048
    assert placement.data_area(8, 0, tmp_path) == Area(0, 2048)
    with pytest.raises(errors.DeviceNotFound, match="8:1"):
        placement.device_sectors(8, 1, tmp_path)


def test_free_slots_first_fit() -> None:
    used = [(0, 8192), (16384, 8192)]
    assert placement.free_slots(used, Area(0, 65536), 8192, 3) == [8192, 24576, 32768]
    # An unaligned end rounds the next start up to 4 KiB.
    assert placement.free_slots([(0, 13)], Area(0, 1000), 8, 2) == [16, 24]
    with pytest.raises(errors.InvalidArgument):
        placement.free_slots(used, Area(0, 32768), 8192, 3)


def test_free_slots_stay_inside_the_data_area() -> None:
    # A reserved range at the start of the device is never handed out.
    assert placement.free_slots([], Area(2048, 65536), 8192, 2) == [2048, 10240]
    with pytest.raises(errors.InvalidArgument, match="only 1 of the 2"):
        placement.free_slots([], Area(2048, 12288), 8192, 2)


def test_allocate_counts_and_fills(two_disks: Path) -> None:
    exts = placement.allocate(
        [PVSpec("/dev/vdb", 0, 2), PVSpec("/dev/vdc", 8192, None)], 8192
    )
    assert exts == [
        Extent(254, 16, 0),
        Extent(254, 16, 8192),
        *(Extent(254, 32, 8192 * i) for i in range(1, 8)),
    ]


def test_allocate_refuses_no_room_and_the_reserved_range(
    two_disks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(errors.InvalidArgument, match="no room"):
        placement.allocate([PVSpec("/dev/vdb", 65536 - 8, None)], 8192)
    monkeypatch.setattr(placement, "data_area", lambda major, minor: Area(2048, 65536))
    with pytest.raises(errors.InvalidArgument, match="below 2048 are reserved"):
        placement.allocate([PVSpec("/dev/vdb", 0, 1)], 8192)
    assert placement.allocate([PVSpec("/dev/vdb", 2048, None)], 8192)[-1] == Extent(
        254, 16, 2048 + 6 * 8192
    )


@dataclass
class FakeControl:
    """LV_LIST and LV_STATUS from a table of LV -> PEs; ``gone`` LVs vanish in between."""

    lvs: dict[str, list[Extent]]
    gone: set[str] = field(default_factory=set)

    def lv_list(self) -> list[LVInfo]:
        return [
            LVInfo(n, f"pemove{i}", 252, i, 8192, len(pes), 0)
            for i, (n, pes) in enumerate(self.lvs.items())
        ]

    def lv_status(self, name: str) -> Any:
        if name in self.gone:
            raise errors.from_errno(2, "LV_STATUS", lv=name)
        les = [LEStatus(i, pe, 0, 0, 0) for i, pe in enumerate(self.lvs[name])]
        return type("Status", (), {"les": les})()


def test_extents_in_use_filters_devices_and_skips_removed_lvs() -> None:
    ctl = FakeControl(
        {
            "a": [Extent(254, 16, 0), Extent(254, 32, 0)],
            "b": [Extent(254, 32, 8192)],
            "c": [Extent(254, 32, 16384)],
        },
        gone={"c"},
    )
    assert placement.extents_in_use(ctl, [(254, 32)]) == [  # type: ignore[arg-type]
        (Extent(254, 32, 0), 8192),
        (Extent(254, 32, 8192), 8192),
    ]
    assert len(placement.extents_in_use(ctl)) == 3  # type: ignore[arg-type]


def test_destinations_from_a_sector_or_in_free_places(two_disks: Path) -> None:
    ctl = FakeControl({"a": [Extent(254, 32, 0), Extent(254, 32, 16384)]})
    at = placement.destinations(ctl, ToSpec("/dev/vdc", 100 * 8), 2, 8192)  # type: ignore[arg-type]
    assert at == [Extent(254, 32, 800), Extent(254, 32, 800 + 8192)]
    free = placement.destinations(ctl, ToSpec("/dev/vdc"), 2, 8192)  # type: ignore[arg-type]
    assert free == [Extent(254, 32, 8192), Extent(254, 32, 24576)]
