"""The dm-log-writes parser and replayer against a log built by hand in the kernel's format."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from pemove.workload import logwrites
from pemove.workload.logwrites import DISCARD, FLUSH, FUA, MARK

SS = 512


def _log(path: Path, entries: list[tuple[int, int, bytes, str | None]]) -> None:
    out = bytearray(
        struct.pack("<QQQI", logwrites.WRITE_LOG_MAGIC, 1, len(entries), SS)
    )
    out += bytes(SS - len(out))
    for sector, flags, data, mark in entries:
        text = (mark or "").encode()
        nr = len(data) // SS  # a mark's data is empty
        head = struct.pack("<QQQQ", sector, nr, flags, len(text)) + text
        out += head + bytes(SS - len(head))
        if not flags & (DISCARD | MARK):
            out += data
    path.write_bytes(bytes(out))


def test_parse_and_replay_to_points(tmp_path: Path) -> None:
    log = tmp_path / "log"
    a, b = b"a" * SS, b"b" * 2 * SS
    _log(
        log,
        [
            (4, 0, a, None),
            (0, FLUSH, b"", None),
            (0, MARK, b"", "m1"),
            (6, FUA, b, None),
            (4, DISCARD, bytes(SS), None),
            (0, FLUSH, b"", None),
        ],
    )
    parsed = logwrites.read_log(str(log))
    assert parsed.points() == [1, 3, 5] and parsed.marks() == {"m1": 2}
    target = tmp_path / "dev"
    target.write_bytes(bytes(16 * SS))
    with logwrites.Replayer(parsed, str(target)) as rep:
        rep.replay_to(1)
        img = target.read_bytes()
        assert img[4 * SS : 5 * SS] == a and img[6 * SS : 8 * SS] == bytes(2 * SS)
        rep.replay_to(3)
        assert target.read_bytes()[6 * SS : 8 * SS] == b
        rep.replay_to(5)
        assert target.read_bytes()[4 * SS : 5 * SS] == bytes(SS)
        with pytest.raises(ValueError):
            rep.replay_to(2)


def test_bad_logs(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(bytes(4096))
    with pytest.raises(logwrites.LogError, match="not a dm-log-writes"):
        logwrites.read_log(str(bad))
    short = tmp_path / "short"
    _log(short, [(0, 0, b"x" * SS, None)])
    short.write_bytes(short.read_bytes()[:-100])
    with pytest.raises(logwrites.LogError, match="past the end"):
        logwrites.read_log(str(short))
