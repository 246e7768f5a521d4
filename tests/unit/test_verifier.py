"""The block format and the verifier's classifier, on hand-made blocks and histories.

Each class (OK, LOST, STALE, CORRUPT) has a case that must produce it, so a
classifier that said OK to everything fails here.  The guest tier proves the
same classes against real moves (tests/guest/test_lost_writes.py).
"""

from __future__ import annotations

import struct

import pytest
from pemove.workload import blockfmt
from pemove.workload.blockfmt import BLOCK_SIZE, Check
from pemove.workload.ledger import Ledger, MoveEvent
from pemove.workload.verify import Report, Verdict, classify

BLOCKS_PER_EXTENT = 256  # blocks per extent
LBA = 300  # in LE 1
WRITER = 7


def _ledger(
    *writes: tuple[int, int, int | None], moves: tuple[tuple[int, int], ...] = ()
) -> Ledger:
    """A ledger for LBA with writes (gen, submit_ns, ack_ns) and LE-1 moves (start, end)."""
    led = Ledger("lv", BLOCKS_PER_EXTENT)
    led.claim([LBA], WRITER)
    for gen, submit, ack in writes:
        led.issue(LBA, WRITER, gen, submit).ack_ns = ack
    for start, end in moves:
        led.add_move(MoveEvent("lv", led.le_of(LBA), start, end, "legacy"))
    return led


def test_roundtrip_and_checksum_covers_every_byte() -> None:
    blk = blockfmt.pack(LBA, WRITER, 5)
    assert len(blk) == BLOCK_SIZE
    state, hdr = blockfmt.check(blk)
    assert state is Check.VALID
    assert (hdr.lba, hdr.writer, hdr.generation) == (LBA, WRITER, 5)
    for offset in (0, 9, 17, 25, 33, 40, 2048, BLOCK_SIZE - 1):
        bad = bytearray(blk)
        bad[offset] ^= 0x01
        assert blockfmt.check(bad)[0] is not Check.VALID, offset


def test_payload_depends_on_lba_and_generation() -> None:
    assert blockfmt.payload(1, 1) != blockfmt.payload(1, 2)
    assert blockfmt.payload(1, 1) != blockfmt.payload(2, 1)
    assert blockfmt.payload(3, 4) == blockfmt.payload(3, 4)


def test_rewritten_header_with_valid_crc_is_bad_payload() -> None:
    """A header forged to another generation, even with a correct crc, is caught by the filler."""
    blk = bytearray(blockfmt.pack(LBA, WRITER, 2))
    struct.pack_into("<Q", blk, 24, 3)
    struct.pack_into("<I", blk, 32, 0)
    struct.pack_into("<I", blk, 32, blockfmt._crc(blk))
    assert blockfmt.check(blk)[0] is Check.BAD_PAYLOAD


def test_zero_and_garbage() -> None:
    assert blockfmt.check(bytes(BLOCK_SIZE))[0] is Check.ZERO
    assert blockfmt.check(b"\xff" * BLOCK_SIZE)[0] is Check.BAD_MAGIC
    with pytest.raises(ValueError):
        blockfmt.check(b"short")


def test_ok_latest_and_newer_unacked() -> None:
    led = _ledger((1, 10, 20), (2, 30, 40), (3, 50, None))
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 2), led)[0] is Verdict.OK
    # generation 3 was issued but not acknowledged: having it is fine
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 3), led)[0] is Verdict.OK


def test_ok_never_written() -> None:
    led = _ledger()
    assert classify(LBA, bytes(BLOCK_SIZE), led)[0] is Verdict.OK


def test_lost_zero_where_acked() -> None:
    led = _ledger((1, 10, 20))
    verdict, why = classify(LBA, bytes(BLOCK_SIZE), led)
    assert verdict is Verdict.LOST
    assert "acknowledged" in why


def test_zero_copied_after_first_write_was_durable_is_stale() -> None:
    """A copy carrying the block as it was before generation 1 (zero) is stale, not lost."""
    led = _ledger((1, 10, 20), moves=((100, 200),))
    verdict, why = classify(LBA, bytes(BLOCK_SIZE), led)
    assert verdict is Verdict.STALE
    assert why.startswith("zero")


def test_zero_with_first_write_in_flight_is_lost() -> None:
    led = _ledger((1, 10, 1000), moves=((100, 200),))
    assert classify(LBA, bytes(BLOCK_SIZE), led)[0] is Verdict.LOST


def test_lost_in_flight_during_move() -> None:
    """Gen 2 submitted before the move and acknowledged after it began: the 2002 race."""
    led = _ledger((1, 10, 20), (2, 30, 1000), moves=((100, 200),))
    verdict, why = classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)
    assert verdict is Verdict.LOST
    assert "in flight" in why


def test_stale_acked_before_move() -> None:
    """Gen 2 was durable before the move began, yet gen 1 came out of the copy."""
    led = _ledger((1, 10, 20), (2, 30, 40), moves=((100, 200),))
    verdict, why = classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)
    assert verdict is Verdict.STALE
    assert "before a move" in why


def test_lost_wins_over_stale() -> None:
    """Superseding write overlapped one move and preceded another: LOST, not STALE."""
    led = _ledger((1, 10, 20), (2, 30, 150), moves=((100, 200), (500, 600)))
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)[0] is Verdict.LOST


def test_older_without_any_move_is_lost() -> None:
    led = _ledger((1, 10, 20), (2, 30, 40))
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)[0] is Verdict.LOST


def test_moves_of_other_extents_do_not_count() -> None:
    led = _ledger((1, 10, 20), (2, 30, 40))
    led.add_move(MoveEvent("lv", 0, 100, 200, "legacy"))
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)[0] is Verdict.LOST


def test_superseding_is_first_acked_newer_generation() -> None:
    """Gen 2 never acknowledged; gen 3 was, before the move: STALE judged on gen 3."""
    led = _ledger((1, 10, 20), (2, 30, None), (3, 50, 60), moves=((100, 200),))
    assert classify(LBA, blockfmt.pack(LBA, WRITER, 1), led)[0] is Verdict.STALE


@pytest.mark.parametrize(
    ("block", "reason"),
    [
        (blockfmt.pack(LBA + 1, WRITER, 1), "LBA"),
        (blockfmt.pack(LBA, WRITER + 1, 1), "writer"),
        (blockfmt.pack(LBA, WRITER, 9), "never issued"),
        (b"\xa5" * BLOCK_SIZE, "bad magic"),
    ],
)
def test_corrupt(block: bytes, reason: str) -> None:
    led = _ledger((1, 10, 20))
    verdict, why = classify(LBA, block, led)
    assert verdict is Verdict.CORRUPT
    assert reason in why


def test_corrupt_checksum() -> None:
    led = _ledger((1, 10, 20))
    bad = bytearray(blockfmt.pack(LBA, WRITER, 1))
    bad[1000] ^= 0xFF
    verdict, why = classify(LBA, bad, led)
    assert verdict is Verdict.CORRUPT
    assert "checksum" in why


def test_report_counts_first_lbas_and_json() -> None:
    rep = Report(acked=4)
    rep.add(1, Verdict.OK, "")
    rep.add(2, Verdict.LOST, "x")
    rep.add(3, Verdict.STALE, "y")
    rep.add(4, Verdict.CORRUPT, "z")
    doc = rep.to_json()
    assert (doc["checked"], doc["ok"], doc["lost"], doc["stale"], doc["corrupt"]) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert doc["first"]["lost"] == [{"lba": 2, "why": "x"}]
    assert not rep.clean
    assert "1 lost" in rep.summary()


def test_claim_rejects_shared_lba() -> None:
    led = Ledger("lv", BLOCKS_PER_EXTENT)
    led.claim([1, 2], 1)
    with pytest.raises(ValueError):
        led.claim([2], 2)


def _row(
    name: str, method: str, lost: int = 0, stale: int = 0, corrupt: int = 0
) -> dict[str, object]:
    return {
        "name": name,
        "method": method,
        "acked": 10,
        "lost": lost,
        "stale": stale,
        "corrupt": corrupt,
        "moves": 1,
    }


def test_judge_passes_only_when_legacy_loses_and_locked_does_not() -> None:
    from pemove.workload.scenarios import judge

    good = [
        _row("inflight", "legacy", lost=4),
        _row("inflight", "locked"),
        _row("stale", "legacy", stale=64),
        _row("stale", "locked"),
    ]
    assert judge(good) == []
    # the locked method losing anything fails
    for field in ("lost", "stale", "corrupt"):
        bad = [dict(r) for r in good]
        bad[1][field] = 1
        assert any("locked move lost data" in p for p in judge(bad)), field
    # the legacy method no longer losing anything means the detector is blind
    blind = [dict(r) for r in good]
    blind[0]["lost"] = 0
    assert any("race was not reproduced" in p for p in judge(blind))
    blind = [dict(r) for r in good]
    blind[2]["stale"] = 0
    assert any("cache was not hit" in p for p in judge(blind))
    # a scenario that could not run is a problem too
    assert judge([{**good[1], "error": "TimeoutError: x"}]) == [
        "inflight/locked: TimeoutError: x"
    ]
