"""The metadata format: label and slots round-trip, damage is detected, two slots survive a torn write."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from pemove.metadata import assemble, device, layout, parser
from pemove.metadata.model import PE, LVRecord, PendingMove

MiB = 1 << 20
PV_A = uuid.UUID(int=0xA)
PV_B = uuid.UUID(int=0xB)


def record(name: str = "lv0", generation: int = 1, **changes: object) -> LVRecord:
    rec = LVRecord(
        name=name,
        uuid=uuid.UUID(int=0x1234),
        generation=generation,
        extent_sectors=2048,
        pvs=(PV_A, PV_B),
        map=(PE(0, 2048), PE(1, 2048), PE(0, 4096)),
    )
    return replace(rec, **changes)  # type: ignore[arg-type]


def image(tmp_path: Path, name: str, pv_uuid: uuid.UUID, size: int = 8 * MiB) -> str:
    path = tmp_path / name
    path.write_bytes(b"")
    with open(path, "r+b") as f:
        f.truncate(size)
    device.write_label(str(path), pv_uuid)
    return str(path)


def test_label_round_trip() -> None:
    label = layout.Label(PV_A)
    block = layout.pack_label(label)
    assert len(block) == layout.BLOCK
    assert layout.unpack_label(block) == label


@pytest.mark.parametrize("offset", [0, 9, 20, 40, 100, 4095])
def test_label_damage_is_detected(offset: int) -> None:
    block = bytearray(layout.pack_label(layout.Label(PV_A)))
    block[offset] ^= 0x40
    with pytest.raises(layout.FramingError):
        layout.unpack_label(bytes(block))


def test_label_truncated() -> None:
    with pytest.raises(layout.FramingError, match="truncated"):
        layout.unpack_label(layout.pack_label(layout.Label(PV_A))[:512])


def test_body_round_trip() -> None:
    rec = record(moves=(PendingMove(1, "switched", PE(0, 8192)),))
    body = parser.encode(PV_A, [rec])
    assert parser.parse(body, PV_A) == (rec,)
    header, got = layout.unpack_slot(layout.pack_slot(7, PV_A, body))
    assert header.seqno == 7 and got == body


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"map": (PE(0, 0),)}, "integer in 2048"),
        ({"map": (PE(0, 2049), PE(1, 2048))}, "4 KiB"),
        ({"map": (PE(0, 2048), PE(0, 3072), PE(1, 2048))}, "overlap"),
        ({"map": (PE(2, 2048),)}, "pv"),
        ({"extent_sectors": 12}, "multiple of 8"),
        ({"name": "x" * 32}, "LV name"),
        ({"name": ""}, "LV name"),
        ({"map": (PE(0, 2048),)}, "no extent uses"),
    ],
)
def test_body_refuses(changes: dict[str, object], match: str) -> None:
    body = parser.encode(PV_A, [record(**changes)])
    with pytest.raises(parser.BodyError, match=match):
        parser.parse(body, PV_A)


def test_body_of_another_pv() -> None:
    with pytest.raises(parser.BodyError, match="another PV"):
        parser.parse(parser.encode(PV_A, [record()]), PV_B)


def test_slot_checksum_and_bounds() -> None:
    slot = bytearray(layout.pack_slot(1, PV_A, parser.encode(PV_A, [record()])))
    slot[layout.SLOT_HEADER_SIZE + 3] ^= 1
    with pytest.raises(layout.FramingError, match="torn"):
        layout.unpack_slot(bytes(slot))
    with pytest.raises(layout.FramingError, match="past"):
        layout.unpack_slot(bytes(slot[: layout.SLOT_HEADER_SIZE + 5]))


def test_two_slots_alternate_and_a_torn_write_keeps_the_older(tmp_path: Path) -> None:
    path = image(tmp_path, "a", PV_A)
    pv = device.read_pv(path)
    assert pv.label == layout.Label(PV_A) and pv.best is None
    for gen in (1, 2, 3):
        device.write_slot(device.read_pv(path), [record(generation=gen)])
    pv = device.read_pv(path)
    assert pv.best is not None and pv.best.seqno == 3 and pv.best.index == 0
    assert pv.lvs[0].generation == 3
    # Tear the newest copy (slot 0): the reader falls back to seqno 2.
    with open(path, "r+b") as f:
        f.seek(layout.slot_offset(0) + layout.SLOT_HEADER_SIZE + 10)
        f.write(b"\xff\xff")
    pv = device.read_pv(path)
    assert pv.best is not None and pv.best.seqno == 2 and pv.lvs[0].generation == 2
    assert pv.slots[0].error is not None and "checksum" in pv.slots[0].error
    # The next write goes over the torn slot, not the good one.
    device.write_slot(pv, [record(generation=4)])
    pv = device.read_pv(path)
    assert pv.best is not None and pv.best.seqno == 3 and pv.best.index == 0


def test_read_only_scan_changes_nothing(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    b = image(tmp_path, "b", PV_B)
    for p in (a, b):
        device.write_slot(device.read_pv(p), [record()])
    before = {p: Path(p).read_bytes() for p in (a, b)}
    found = assemble.scan([a, b])
    [asm] = assemble.assemble(found)
    assert asm.ok and asm.record == record()
    assert {p: Path(p).read_bytes() for p in (a, b)} == before


def test_newest_generation_wins_and_stale_copies_are_named(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    b = image(tmp_path, "b", PV_B)
    device.write_slot(device.read_pv(a), [record(generation=5)])
    device.write_slot(device.read_pv(b), [record(generation=4)])
    [asm] = assemble.assemble(assemble.scan([a, b]))
    assert asm.ok and asm.record is not None and asm.record.generation == 5
    assert asm.stale == [b]


def test_missing_pv_refuses(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    device.write_slot(device.read_pv(a), [record()])
    [asm] = assemble.assemble(assemble.scan([a]))
    assert not asm.ok and "missing" in asm.problems[0]


def test_two_lvs_of_one_name_refuse(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    b = image(tmp_path, "b", PV_B)
    device.write_slot(device.read_pv(a), [record()])
    device.write_slot(device.read_pv(b), [record(uuid=uuid.UUID(int=99))])
    [asm] = assemble.assemble(assemble.scan([a, b]))
    assert not asm.ok and "two different LVs" in asm.problems[0]


def test_one_generation_two_contents_refuse(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    b = image(tmp_path, "b", PV_B)
    device.write_slot(device.read_pv(a), [record()])
    other = record(map=(PE(0, 2048), PE(1, 2048), PE(1, 4096)))
    device.write_slot(device.read_pv(b), [other])
    [asm] = assemble.assemble(assemble.scan([a, b]))
    assert not asm.ok and "disagree" in asm.problems[0]


def test_duplicate_pv_and_damaged_label_are_problems(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    device.write_slot(device.read_pv(a), [record()])
    copy = tmp_path / "copy"
    copy.write_bytes(Path(a).read_bytes())
    bad = image(tmp_path, "bad", PV_B)
    with open(bad, "r+b") as f:
        f.seek(30)
        f.write(b"\x01")
    found = assemble.scan([a, str(copy), bad])
    assert any("2 devices" in p for p in found.problems)
    assert any("damaged pemove label" in p for p in found.problems)
    [asm] = assemble.assemble(found)
    assert not asm.ok


def test_truncated_device(tmp_path: Path) -> None:
    a = image(tmp_path, "a", PV_A)
    device.write_slot(device.read_pv(a), [record()])
    with open(a, "r+b") as f:
        f.truncate(layout.RESERVED_SECTORS * 512 - 4096)
    found = assemble.scan([a])
    assert any("shorter than its metadata area" in p for p in found.problems)


def test_unlabelled_devices_are_ignored(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(bytes(MiB))
    found = assemble.scan([str(raw)])
    assert found.pvs == {} and found.problems == [] and found.devices_read == 1


def test_destroy_present_clears_the_records_an_lv_left_without_a_pv(
    tmp_path: Path,
) -> None:
    from pemove.metadata.errors import MetadataError
    from pemove.metadata.store import Store, destroy_present

    pv_c = uuid.UUID(int=0xC)
    a = image(tmp_path, "a", PV_A)  # PV_B, one of lv0's PVs, is gone
    c = image(tmp_path, "c", pv_c)
    lv0 = record(pvs=(PV_A, PV_B, pv_c), map=(PE(0, 2048), PE(1, 2048), PE(2, 2048)))
    device.write_slot(device.read_pv(a), [lv0, record("lv1")])
    device.write_slot(device.read_pv(c), [lv0])
    with pytest.raises(MetadataError):
        Store.load("lv0", [a, c])
    assert destroy_present("lv0", [a, c]) == [a, c]
    assert [r.name for r in device.read_pv(a).lvs] == ["lv1"]  # a keeps lv1
    assert not device.read_pv(c).labelled  # c held only lv0: no PV any more
    assert destroy_present("lv0", [a, c]) == []


def test_an_lv_no_pv_records_is_not_found_not_damaged(tmp_path: Path) -> None:
    from pemove.metadata.store import Store

    a = image(tmp_path, "a", PV_A)
    device.write_slot(
        device.read_pv(a), [record("other", pvs=(PV_A,), map=(PE(0, 2048),))]
    )
    assert Store.find("raw", [a]) is None  # e.g. created with --no-metadata
    assert Store.find("raw", []) is None
