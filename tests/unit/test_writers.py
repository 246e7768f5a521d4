"""The block and file writers and the verifier, end to end on a host file.

A regular file stands in for the LV: O_DIRECT, pwrite, fsync and the
read-back behave the same for the parts tested here.  Losing or corrupting
a block by hand must show up in the verifier's report.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from pemove.wait import wait_until
from pemove.workload import blockfmt
from pemove.workload.blockfmt import BLOCK_SIZE
from pemove.workload.ledger import Ledger
from pemove.workload.verify import Verdict, verify
from pemove.workload.writers import (
    BufferedWriter,
    DirectWriter,
    FileReport,
    FileWriter,
    _issue_next,
    join_all,
    partition_lbas,
)

BLOCKS = 64
SEED = 1234


@pytest.fixture
def image(tmp_path: Path) -> str:
    path = tmp_path / "lv.img"
    with open(path, "wb") as f:
        f.truncate(BLOCKS * BLOCK_SIZE)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_DIRECT))
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            pytest.skip(f"{tmp_path} does not support O_DIRECT")
        raise
    return str(path)


def _fill(image: str) -> Ledger:
    """Run the writers until every block was written at least twice (at most 30 s)."""
    print(f"seed {SEED}")
    led = Ledger("lv", 16)
    stop = threading.Event()
    parts = partition_lbas(list(range(BLOCKS)), 4)
    threads = [
        DirectWriter(image, led, i, parts[i], stop, seed=SEED + i, sequential=True)
        for i in range(3)
    ] + [BufferedWriter(image, led, 3, parts[3], stop, seed=SEED + 3, batch=4)]
    for t in threads:
        t.start()
    with contextlib.suppress(TimeoutError):  # the tests judge what was written
        wait_until(
            lambda: min(len(h) for h in led.history.values()) >= 2,
            30,
            "two writes of every block",
            interval=0.01,
        )
    stop.set()
    join_all(threads)
    return led


def test_partition_is_disjoint_and_complete() -> None:
    parts = partition_lbas(list(range(10)), 3)
    assert sorted(x for p in parts for x in p) == list(range(10))
    assert len({x for p in parts for x in p}) == 10


def test_issue_next_packs_and_records_the_next_generation() -> None:
    led = Ledger("lv", 16)
    led.claim([5], 2)
    buf = bytearray(BLOCK_SIZE)
    before = time.monotonic_ns()
    first = _issue_next(buf, led, 5, 2)
    second = _issue_next(buf, led, 5, 2)
    assert led.history[5] == [first, second]
    assert (first.gen, second.gen) == (1, 2)
    assert second.writer == 2 and second.ack_ns is None
    assert before <= first.submit_ns <= second.submit_ns
    verdict, block = blockfmt.check(buf)
    assert verdict is blockfmt.Check.VALID
    assert (block.lba, block.writer, block.generation) == (5, 2, 2)


def test_writers_then_verify_clean(image: str) -> None:
    led = _fill(image)
    assert led.acked > BLOCKS
    rep = verify(image, led)
    assert rep.checked == BLOCKS
    assert rep.clean, rep.summary()
    for lba, recs in led.history.items():
        assert [r.gen for r in recs] == list(range(1, len(recs) + 1)), lba


def test_verify_sees_a_lost_and_a_corrupt_block(image: str) -> None:
    led = _fill(image)
    victim = next(lba for lba, recs in led.history.items() if len(recs) >= 2)
    older = led.history[victim][-2].gen
    fd = os.open(image, os.O_RDWR)
    try:
        # put back an older generation: a lost write (no move recorded)
        os.pwrite(
            fd, blockfmt.pack(victim, led.owner[victim], older), victim * BLOCK_SIZE
        )
        # flip a byte in another block: corruption
        other = (victim + 1) % BLOCKS
        data = bytearray(os.pread(fd, BLOCK_SIZE, other * BLOCK_SIZE))
        data[100] ^= 1
        os.pwrite(fd, data, other * BLOCK_SIZE)
        os.fsync(fd)
    finally:
        os.close(fd)
    rep = verify(image, led)
    assert (rep.lost, rep.corrupt, rep.stale) == (1, 1, 0), rep.summary()
    assert rep.first[Verdict.LOST][0][0] == victim
    assert rep.first[Verdict.CORRUPT][0][0] == other


def test_deadline_stops_writers(image: str) -> None:
    led = Ledger("lv", 16)
    stop = threading.Event()
    # Long enough for the thread to start and write on a loaded host (50 ms
    # was not); the writer must then stop by itself.
    w = DirectWriter(
        image, led, 0, [0, 1], stop, deadline_ns=time.monotonic_ns() + 1_000_000_000
    )
    w.start()
    w.join(10)
    assert not w.is_alive()
    assert w.writes > 0
    join_all([w])


def test_block_writers_share_one_set_of_settings(image: str) -> None:
    """Each kind adds only its own settings to the ones every block writer has."""
    led = Ledger("lv", 16)
    stop = threading.Event()
    d = DirectWriter(image, led, 1, (2, 3), stop, seed=7, tolerate=frozenset({5}))
    b = BufferedWriter(image, led, 2, [4], stop, deadline_ns=9, batch=3)
    assert (d.name, d.lbas, d.seed, d.deadline_ns) == ("direct-1", [2, 3], 7, None)
    assert (d.sequential, d.tolerate, d.failed) == (False, frozenset({5}), 0)
    assert (b.name, b.lbas, b.seed, b.deadline_ns, b.batch) == (
        "buffered-2",
        [4],
        0,
        9,
        3,
    )
    assert (led.owner[2], led.owner[3], led.owner[4]) == (1, 1, 2)
    assert len({d, b, d}) == 2  # threads stay hashable, by identity
    with pytest.raises(ValueError, match="at least one LBA"):
        DirectWriter(image, led, 3, [], stop)


def test_writer_error_is_raised(tmp_path: Path) -> None:
    led = Ledger("lv", 16)
    stop = threading.Event()
    w = DirectWriter(str(tmp_path / "missing"), led, 0, [0], stop)
    w.start()
    with pytest.raises(RuntimeError, match="direct-0"):
        join_all([w])


def test_file_writer_acks_and_check(tmp_path: Path) -> None:
    stop = threading.Event()
    fw = FileWriter(tmp_path, stop, files=4, max_bytes=4096, seed=SEED)
    fw.start()
    wait_until(lambda: len(fw.acked) >= 4, 30, "all four files written", interval=0.01)
    stop.set()
    join_all([fw])
    rep = FileReport()
    fw.check(rep)
    assert rep.files == 4
    assert rep.ok == 4 and not rep.lost and not rep.corrupt
    victim = min(fw.acked)
    (tmp_path / victim).write_bytes(b"never acknowledged")
    rep = FileReport()
    fw.check(rep)
    assert rep.corrupt == [f"{victim}: content was never written"]
    (tmp_path / victim).unlink()
    rep = FileReport()
    fw.check(rep)
    assert rep.lost == [f"{victim}: missing"]


def test_file_check_older_content_is_lost(tmp_path: Path) -> None:
    fw = FileWriter(tmp_path, threading.Event(), files=1)
    sha = {c: hashlib.sha256(c).hexdigest() for c in (b"old", b"new")}
    fw.acked["f000"] = [sha[b"old"], sha[b"new"]]
    (tmp_path / "f000").write_bytes(b"old")
    rep = FileReport()
    fw.check(rep)
    assert rep.lost == ["f000: holds an older acknowledged content"]
    (tmp_path / "f000").write_bytes(b"new")
    rep = FileReport()
    fw.check(rep)
    assert (rep.ok, rep.lost, rep.corrupt) == (1, [], [])
