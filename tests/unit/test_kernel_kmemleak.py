"""kmemleak: parsing /sys/kernel/debug/kmemleak, scanning, the guest check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pemove.vm import kmemleak

# Captured on debug-6.12 (6.12.117-pemove-debug-045fba4f) by
# tests/guest/test_debug_judge.py: two of the trigger's eight objects (one
# backtrace, written once here); then a made-up per-cpu record (hex dump
# "on cpu N") from the same format.
TRIGGER_BACKTRACE = """\
    __kmalloc_cache_noprof+0x1fe/0x350
    trigger_leak+0x7e/0x130 [pemove_trigger]
    trigger_write+0x1b0/0x237 [pemove_trigger]
    full_proxy_write+0xf1/0x170
    vfs_write+0x22a/0x1220
    ksys_write+0xf2/0x1c0
    do_syscall_64+0x6d/0x140
    entry_SYSCALL_64_after_hwframe+0x4b/0x53
"""


def trigger_record(address: str, jiffies: int, tail: str, crc: str) -> str:
    """One of the trigger's 1 KiB objects; ``tail``: the last 4 of its hex dump's 32 bytes."""
    return (
        f"unreferenced object {address} (size 1024):\n"
        f'  comm "python", pid 68, jiffies {jiffies}\n'
        "  hex dump (first 32 bytes):\n"
        "    70 65 6d 6f 76 65 2d 74 72 69 67 67 65 72 2d 6c  pemove-trigger-l\n"
        f"    65 61 6b 00 00 00 00 00 00 00 00 00 {tail}  eak.............\n"
        f"  backtrace (crc {crc}):\n" + TRIGGER_BACKTRACE
    )


REPORT_6_12 = (
    trigger_record("0xffff88800aa43800", 4295236396, "00 00 00 00", "f9778d1b")
    + trigger_record("0xffff88800aa44000", 4295236397, "a4 81 00 00", "931cebf2")
    + """\
unreferenced object 0xffff8880036a2f00 (size 64):
  comm "swapper/0", pid 1, jiffies 4294892453
  hex dump (first 32 bytes on cpu 1):
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................
  backtrace (crc 0):
    pcpu_alloc_noprof+0x4d2/0x9e0
    some_init+0x20/0x60
"""
)


# The 6.1 format (mm/kmemleak.c of 6.1: addresses in the backtrace, no crc).
REPORT_6_1 = """\
unreferenced object 0xffff88800a0e4800 (size 1024):
  comm "python3", pid 268, jiffies 4294906502 (age 13.184s)
  hex dump (first 32 bytes):
    70 65 6d 6f 76 65 2d 74 72 69 67 67 65 72 2d 6c  pemove-trigger-l
    65 61 6b 00 00 00 00 00 00 00 00 00 00 00 00 00  eak.............
  backtrace:
    [<ffffffff8156a6d4>] kmalloc_trace+0x24/0x90
    [<ffffffffc0201199>] trigger_leak+0x79/0x120 [pemove_trigger]
    [<ffffffffc0200f4c>] trigger_write+0x12c/0x1b0 [pemove_trigger]
"""


def test_parse_6_12_records() -> None:
    leaks = kmemleak.parse(REPORT_6_12)
    assert [leak.address for leak in leaks] == [
        "0xffff88800aa43800",
        "0xffff88800aa44000",
        "0xffff8880036a2f00",
    ]
    first = leaks[0]
    # kmemleak reports the slab object's size (kmalloc-1k), not the 600 asked
    assert (first.size, first.comm, first.pid, first.jiffies) == (
        1024,
        "python",
        68,
        4295236396,
    )
    assert first.backtrace[1] == "trigger_leak+0x7e/0x130 [pemove_trigger]"
    assert len(first.backtrace) == 8
    assert first.caller == "trigger_leak+0x7e/0x130 [pemove_trigger]"
    assert "pemove-trigger-l" in first.hexdump[0]
    assert first.involves("pemove_trigger") and not leaks[2].involves("pemove_trigger")
    assert first.text.startswith("unreferenced object 0xffff88800aa43800")
    assert first.text.endswith("entry_SYSCALL_64_after_hwframe+0x4b/0x53")
    assert leaks[2].caller == "some_init+0x20/0x60"


def test_parse_6_1_records() -> None:
    (leak,) = kmemleak.parse(REPORT_6_1)
    assert leak.comm == "python3" and leak.pid == 268
    assert leak.backtrace == (
        "kmalloc_trace+0x24/0x90",
        "trigger_leak+0x79/0x120 [pemove_trigger]",
        "trigger_write+0x12c/0x1b0 [pemove_trigger]",
    )
    assert leak.caller.startswith("trigger_leak")


def test_parse_empty() -> None:
    assert kmemleak.parse("") == []


def test_scan_waits_scans_twice_and_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kmemleak"
    path.write_text("")
    writes: list[str] = []
    slept: list[float] = []

    def fake_write(p: Path, command: str) -> None:
        writes.append(command)
        p.write_text(REPORT_6_12)

    monkeypatch.setattr(kmemleak, "_write", fake_write)
    leaks = kmemleak.scan(path, sleep=slept.append)
    assert slept == [kmemleak.MIN_AGE + 1.0]
    assert writes == ["scan", "scan"]
    assert len(leaks) == 3


def test_scan_without_kmemleak(tmp_path: Path) -> None:
    with pytest.raises(kmemleak.KmemleakError, match="no kmemleak"):
        kmemleak.scan(tmp_path / "absent", sleep=lambda s: None)


def test_check_writes_the_backtraces_and_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kmemleak"
    path.write_text(REPORT_6_12)
    monkeypatch.setattr(kmemleak, "_write", lambda p, c: None)
    msg = kmemleak.check(tmp_path, "after-rmmod", path=path, min_age=0)
    assert msg is not None
    assert "3 suspected memory leak(s) after-rmmod" in msg
    assert "trigger_leak+0x7e/0x130 [pemove_trigger]" in msg
    saved = tmp_path / "kmemleak-after-rmmod.txt"
    assert str(saved) in msg
    assert saved.read_text().count("unreferenced object") == 3


def test_check_is_quiet_without_leaks_or_kmemleak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kmemleak"
    path.write_text("")
    monkeypatch.setattr(kmemleak, "_write", lambda p, c: None)
    assert kmemleak.check(tmp_path, "after-command", path=path, min_age=0) is None
    assert kmemleak.check(tmp_path, "x", path=tmp_path / "absent") is None
    assert not list(tmp_path.glob("kmemleak-*.txt"))


def test_kmemleak_off_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "kmemleak"
    path.mkdir()  # writing fails like a kmemleak that switched itself off
    msg = kmemleak.check(tmp_path, "after-command", path=path, min_age=0)
    assert msg is not None and "kmemleak is off" in msg
