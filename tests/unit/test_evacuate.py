"""Planning an evacuation: which LEs leave the source, and where each goes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from pemove import errors, evacuate, placement
from pemove.control import Extent, LEStatus, LVCounters, LVInfo, LVStatus
from pemove.metadata import RESERVED_SECTORS
from pemove.metadata.store import Store
from pemove.placement import Area, ToSpec

DEVS = {"/dev/vdb": (254, 16), "/dev/vdc": (254, 32), "/dev/vdd": (254, 48)}
ES = 8192


@pytest.fixture(autouse=True)
def three_disks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three fake disks of 4 extents each (32768 sectors)."""
    monkeypatch.setattr(placement, "data_area", lambda major, minor: Area(0, 4 * ES))
    monkeypatch.setattr(placement, "recorded_in_use", lambda major, minor: [])
    monkeypatch.setattr(Store, "find", classmethod(lambda cls, name: None))
    monkeypatch.setattr(
        Extent, "from_path", classmethod(lambda cls, p, s=0: cls(*DEVS[str(p)], s))
    )


@dataclass
class FakeControl:
    """LV_LIST and LV_STATUS from a table of LV -> PEs."""

    lvs: dict[str, list[Extent]]

    def lv_list(self) -> list[LVInfo]:
        return [
            LVInfo(n, f"pemove{i}", 252, i, ES, len(pes), 0)
            for i, (n, pes) in enumerate(self.lvs.items())
        ]

    def lv_status(self, name: str) -> LVStatus:
        pes = self.lvs[name]
        info = LVInfo(name, "pemove", 252, 0, ES, len(pes), 0)
        return LVStatus(
            info,
            LVCounters(0, 0, 0, 0, 0, 0, 0, 0),
            [LEStatus(i, pe, 0, 0, 0) for i, pe in enumerate(pes)],
        )


def vd(name: str, i: int) -> Extent:
    return Extent(*DEVS[f"/dev/{name}"], i * ES)


def test_nothing_on_the_source_plans_nothing() -> None:
    ctl = FakeControl({"a": [vd("vdc", 0)]})
    assert evacuate.plan(ctl, "/dev/vdb") == []  # type: ignore[arg-type]


def test_without_to_les_go_to_their_own_lvs_other_pvs_first() -> None:
    ctl = FakeControl(
        {
            "a": [vd("vdb", 0), vd("vdc", 0)],  # a has room on vdc
            "b": [vd("vdb", 1), vd("vdd", 0)],  # b's other PV is vdd
        }
    )
    steps = evacuate.plan(ctl, "/dev/vdb")  # type: ignore[arg-type]
    assert [(s.lv, s.le, s.dest) for s in steps] == [
        ("a", 0, vd("vdc", 1)),
        ("b", 0, vd("vdd", 1)),
    ]
    assert all(s.source.minor == 16 for s in steps)


def test_a_full_own_pv_spills_to_the_other_evacuated_lvs_pvs() -> None:
    ctl = FakeControl(
        {
            "a": [vd("vdb", 0), vd("vdb", 1)] + [vd("vdc", i) for i in range(3)],
            "c": [vd("vdb", 2), vd("vdd", 0)],
            "z": [vd("vdd", 3)],  # not on vdb: its PVs are not candidates
        }
    )
    steps = evacuate.plan(ctl, "/dev/vdb")  # type: ignore[arg-type]
    assert [(s.lv, s.le, s.dest) for s in steps] == [
        ("a", 0, vd("vdc", 3)),  # a's own PV, its last free place
        ("a", 1, vd("vdd", 1)),  # then c's PV
        ("c", 0, vd("vdd", 2)),
    ]


def test_pvs_of_lvs_not_on_the_source_are_not_used() -> None:
    ctl = FakeControl({"a": [vd("vdb", 0)], "b": [vd("vdc", 0)]})
    with pytest.raises(errors.InvalidArgument, match="--to DEV"):
        evacuate.plan(ctl, "/dev/vdb")  # type: ignore[arg-type]


def test_to_a_device_uses_its_free_places_or_a_given_sector() -> None:
    ctl = FakeControl({"a": [vd("vdb", 0), vd("vdb", 1), vd("vdd", 0)]})
    free = evacuate.plan(ctl, "/dev/vdb", ToSpec("/dev/vdd"))  # type: ignore[arg-type]
    assert [s.dest for s in free] == [vd("vdd", 1), vd("vdd", 2)]
    at = evacuate.plan(ctl, "/dev/vdb", ToSpec("/dev/vdc", 2 * ES))  # type: ignore[arg-type]
    assert [s.dest for s in at] == [vd("vdc", 2), vd("vdc", 3)]


def test_no_room_says_to_name_a_destination() -> None:
    ctl = FakeControl({"a": [vd("vdb", i) for i in range(4)] + [vd("vdc", 0)]})
    with pytest.raises(errors.InvalidArgument, match="--to DEV"):
        evacuate.plan(ctl, "/dev/vdb")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgument, match="being emptied"):
        evacuate.plan(ctl, "/dev/vdb", ToSpec("/dev/vdb"))  # type: ignore[arg-type]


def test_released_is_an_exclusive_open(tmp_path: Path) -> None:
    assert not evacuate.released(str(tmp_path / "missing"))


def test_pes_only_the_metadata_names_are_not_destinations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An inactive LV holds vdc's first two extents: the kernel does not know.
    monkeypatch.setattr(
        placement,
        "recorded_in_use",
        lambda major, minor: (
            [(0, 2 * ES)] if (major, minor) == DEVS["/dev/vdc"] else []
        ),
    )
    ctl = FakeControl({"a": [vd("vdb", 0), vd("vdc", 3)]})
    steps = evacuate.plan(ctl, "/dev/vdb")  # type: ignore[arg-type]
    assert [s.dest for s in steps] == [vd("vdc", 2)]


def test_an_lv_with_metadata_keeps_the_label_area_free_on_a_blank_destination(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Store, "find", classmethod(lambda cls, name: object()))
    ctl = FakeControl({"a": [vd("vdb", 0)]})
    steps = evacuate.plan(ctl, "/dev/vdb", ToSpec("/dev/vdd", None))  # type: ignore[arg-type]
    assert steps[0].dest.sector >= RESERVED_SECTORS
    with pytest.raises(errors.InvalidArgument, match="metadata"):
        evacuate.plan(ctl, "/dev/vdb", ToSpec("/dev/vdd", 0))  # type: ignore[arg-type]
