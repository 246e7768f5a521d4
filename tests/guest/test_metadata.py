"""On-disk metadata against the real module: create, scan, move, deactivate, activate, remove; bad input.

DESCRIPTION: issue 14.  ``pemove create`` writes a label and the LV's map
on every PV; ``pemove activate`` rebuilds the LV from it after the kernel
forgot it; a move updates it; ``pemove remove`` destroys it.  Damaged
labels and checksums, truncated areas, missing PVs, a PV on two devices and
two LVs claiming one name each get a clear error, nothing is activated half
way, and a scan leaves every byte of the metadata areas as it was.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from kit.meta import first_mib_hashes, fresh_pvs, pemove, pemove_json, poke
from pemove import errors, exitcodes
from pemove.control import Control, Extent
from pemove.metadata import RESERVED_SECTORS, layout
from pemove.workload import dm
from pemove.workload.ledger import Ledger
from pemove.workload.verify import verify
from pemove.workload.writers import write_pass

ES = 2048  # 1 MiB extents
BLOCKS = ES * 512 // 4096
PV_SECTORS = 64 * ES

pytestmark = pytest.mark.disks(3)


def _pvs(make_dm: Any, disks: list[str], n: int = 3) -> list[str]:
    """``n`` fresh PVs: 64 MiB dm-linear slices, each at 1 MiB into its disk (so no disk's sector 0 is a PV's)."""
    return fresh_pvs(
        [
            make_dm(f"mpv{i}", dm.linear_table(disks[i], PV_SECTORS, 2048)).node
            for i in range(n)
        ]
    )


def _write_all(node: str, name: str, les: int) -> Ledger:
    ledger = Ledger(name, BLOCKS)
    lbas = list(range(les * BLOCKS))
    ledger.claim(lbas, 1)
    write_pass(node, ledger, 1, lbas)
    return ledger


def test_create_move_deactivate_activate_remove(
    ctl: Control, disks: list[str], make_dm: Any
) -> None:
    pv = _pvs(make_dm, disks)
    made = pemove_json(
        "create",
        "m0",
        "--extent-size",
        "1M",
        "--pv",
        f"{pv[0]}:2048:3",
        "--pv",
        f"{pv[1]}:{2048}:2",
    )
    assert made["metadata"] is True
    les = ctl.lv_status("m0").les
    assert les[0].pe == Extent.from_path(pv[0], RESERVED_SECTORS)
    ledger = _write_all(made["node"], "m0", 5)

    scan = pemove_json("scan", "--device", pv[0], "--device", pv[1], "--device", pv[2])
    (lv,) = scan["lvs"]
    assert lv["name"] == "m0" and lv["ok"] and lv["active"] and lv["generation"] == 1
    assert scan["problems"] == []

    # The module refuses a destination inside the metadata area (pv_reserved_sectors).
    with pytest.raises(errors.InvalidArgument):
        ctl.pe_move("m0", 1, Extent.from_path(pv[2], 0), mode="live")
    # The CLI refuses one given by hand, before anything is written.
    res = pemove("move", "m0", "1", "--to", f"{pv[2]}:0")
    assert res.returncode == exitcodes.FAILED and "reserved" in res.stderr

    moved = pemove_json("move", "m0", "1,3,4", "--to", pv[2])
    assert [m["le"] for m in moved["moves"]] == [1, 3, 4]
    after = [e.pe for e in ctl.lv_status("m0").les]
    assert after[1] == Extent.from_path(pv[2], RESERVED_SECTORS)

    scan = pemove_json("scan", "--device", pv[0], "--device", pv[1], "--device", pv[2])
    (lv,) = scan["lvs"]
    # intent, switch, free: three generations per LE moved
    assert lv["generation"] == 1 + 3 * 3 and lv["pending_moves"] == []
    # pv[1] lost its last LE: it is no PV of m0 any more and holds no LV.
    assert {p["node"] for p in lv["pvs"]} == {pv[0], pv[2]}
    assert next(p for p in scan["pvs"] if p["node"] == pv[1])["lvs"] == []

    pemove_json("deactivate", "m0")
    assert ctl.lv_list() == []
    act = pemove_json("activate", "m0")
    (info,) = act["activated"]
    assert [e.pe for e in ctl.lv_status("m0").les] == after
    report = verify(info["node"], ledger)
    assert report.clean and report.checked == 5 * BLOCKS, report.summary()

    pemove_json("remove", "m0")
    assert ctl.lv_list() == []
    scan = pemove_json("scan", "--device", pv[0], "--device", pv[2])
    assert scan["lvs"] == [] and scan["pvs"] == []


def test_create_refuses_the_metadata_area_and_no_metadata_keeps_sector_0(
    ctl: Control, disks: list[str], make_dm: Any
) -> None:
    pv = _pvs(make_dm, disks, 1)
    res = pemove("create", "m1", "--extent-size", "1M", "--pv", f"{pv[0]}:0:2")
    assert res.returncode == exitcodes.FAILED and "reserved" in res.stderr
    assert ctl.lv_list() == []
    raw = pemove_json(
        "create", "m1", "--no-metadata", "--extent-size", "1M", "--pv", f"{pv[0]}:0:2"
    )
    assert raw["metadata"] is False
    assert ctl.lv_status("m1").les[0].pe.sector == 0
    assert pemove_json("scan", "--device", pv[0])["pvs"] == []


def _two_lvs(make_dm: Any, disks: list[str]) -> list[str]:
    pv = _pvs(make_dm, disks)
    pemove_json("create", "good", "--extent-size", "1M", "--pv", f"{pv[0]}:2048:2")
    pemove_json(
        "create",
        "bad",
        "--extent-size",
        "1M",
        "--pv",
        f"{pv[1]}:2048:2",
        "--pv",
        f"{pv[2]}:2048:1",
    )
    pemove_json("deactivate", "good", "bad")
    return pv


def _refused(
    ctl: Control, pv: list[str], extra: list[str], needle: str, *, good_ok: bool = True
) -> None:
    """scan reports ``needle``, writes nothing; activate of all refuses and creates nothing.

    :param good_ok: the damage spares LV "good", which then activates alone;
        otherwise (its own PV is the damaged one) it is refused alone too
    """
    devs = [a for p in pv + extra for a in ("--device", p)]
    before = first_mib_hashes(pv)
    scan = pemove_json("scan", *devs, code=exitcodes.FAILED)
    text = " ".join(
        scan["problems"] + [p for lv in scan["lvs"] for p in lv["problems"]]
    )
    assert needle in text, text
    assert first_mib_hashes(pv) == before
    res = pemove("activate", *devs)
    assert res.returncode == exitcodes.FAILED, res.stdout
    assert (
        "nothing was activated" in res.stderr and needle.split()[0] in res.stderr + text
    )
    assert ctl.lv_list() == []
    assert first_mib_hashes(pv) == before
    if not good_ok:
        res = pemove("activate", "good", *devs)
        assert res.returncode == exitcodes.FAILED, res.stdout
        assert "nothing was activated" in res.stderr, res.stderr
        assert ctl.lv_list() == []
        return
    # The good LV alone still comes back.
    pemove_json("activate", "good", *devs)
    pemove_json("deactivate", "good")


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        ("label", "damaged pemove label"),
        ("slots", "no valid metadata slot"),
        ("missing", "is missing"),
    ],
)
def test_bad_metadata_refuses_whole(
    ctl: Control, disks: list[str], make_dm: Any, damage: str, needle: str
) -> None:
    pv = _two_lvs(make_dm, disks)
    if damage == "label":
        poke(pv[2], 40, b"\xee")
    elif damage == "slots":
        for i in range(layout.SLOT_COUNT):
            poke(
                pv[2], layout.slot_offset(i) + layout.SLOT_HEADER_SIZE + 5, b"\x00\x01"
            )
    else:
        dm.remove("pemove-t-mpv2")
        pv = pv[:2]
    _refused(ctl, pv, [], needle)
    if damage == "missing":
        # remove refuses half a record, and --force clears what is here.
        res = pemove("remove", "bad")
        assert res.returncode == exitcodes.FAILED and "--force" in res.stderr, (
            res.stderr
        )
        out = pemove_json("remove", "--force", "bad")
        assert [os.path.realpath(n) for n in out["pvs_cleared"]] == [
            os.path.realpath(pv[1])
        ]
        scan = pemove_json("scan", "--device", pv[0], "--device", pv[1])
        assert [lv["name"] for lv in scan["lvs"]] == ["good"]
        assert [p["node"] for p in scan["pvs"]] == [pv[0]]


def test_torn_newest_slot_falls_back(
    ctl: Control, disks: list[str], make_dm: Any
) -> None:
    pv = _pvs(make_dm, disks, 2)
    pemove_json("create", "t0", "--extent-size", "1M", "--pv", f"{pv[0]}:2048:2")
    pemove_json("move", "t0", "1", "--to", pv[1])
    moved = ctl.lv_status("t0").les[1].pe
    pemove_json("deactivate", "t0")
    scan = pemove_json("scan", "--device", pv[0], "--device", pv[1])
    gen = scan["lvs"][0]["generation"]
    # Tear the newest slot on both PVs: the previous generation (the move's
    # switch record, the map already on the destination) is read instead.
    from pemove.metadata import device

    for node in pv:
        best = device.read_pv(node).best
        assert best is not None
        poke(
            node, layout.slot_offset(best.index) + layout.SLOT_HEADER_SIZE + 7, b"\xff"
        )
    scan = pemove_json("scan", "--device", pv[0], "--device", pv[1])
    (lv,) = scan["lvs"]
    assert lv["generation"] == gen - 1 and lv["pending_moves"] == [
        {"le": 1, "state": "switched"}
    ]
    pemove_json("activate", "t0", "--device", pv[0], "--device", pv[1])
    assert ctl.lv_status("t0").les[1].pe == moved
    done = pemove_json("move", "t0", "--resume")
    assert len(done["resumed"]) == 1
    assert (
        pemove_json("scan", "--device", pv[0], "--device", pv[1])["lvs"][0][
            "pending_moves"
        ]
        == []
    )


def test_duplicate_pv_truncated_area_and_two_lvs_one_name(
    ctl: Control, disks: list[str], make_dm: Any
) -> None:
    pv = _two_lvs(make_dm, disks)
    # A copy of pv[0]'s metadata area on another device: one PV UUID, two devices.
    copy = make_dm("mcopy", dm.linear_table(disks[0], PV_SECTORS, 2048 + PV_SECTORS))
    import mmap
    import os

    buf = mmap.mmap(-1, RESERVED_SECTORS * 512)
    fd = os.open(pv[0], os.O_RDONLY | os.O_DIRECT)
    os.preadv(fd, [buf], 0)
    os.close(fd)
    poke(copy.node, 0, bytes(buf))
    # "good" lives on pv[0], the duplicated PV: it is refused alone too.
    _refused(ctl, pv[1:], [pv[0], copy.node], "on 2 devices", good_ok=False)
    poke(copy.node, 0, bytes(RESERVED_SECTORS * 512))

    # A device shorter than its metadata area (a truncated PV).
    short = make_dm("mshort", dm.linear_table(disks[1], 1500, 2048))
    scan = pemove_json("scan", "--device", short.node, code=exitcodes.FAILED)
    assert "shorter than its metadata area" in " ".join(scan["problems"])

    # Another LV named "bad" on pv[0]: two LVs, different UUIDs, one name.
    pemove_json(
        "create", "bad", "--extent-size", "1M", "--pv", f"{pv[0]}:{2048 + 2 * ES}:1"
    )
    pemove_json("deactivate", "bad")
    scan = pemove_json(
        "scan", *[a for p in pv for a in ("--device", p)], code=exitcodes.FAILED
    )
    bad = next(lv for lv in scan["lvs"] if lv["name"] == "bad")
    assert "two different LVs are named bad" in bad["problems"][0]
    res = pemove("activate", *[a for p in pv for a in ("--device", p)])
    assert res.returncode == exitcodes.FAILED and ctl.lv_list() == []
