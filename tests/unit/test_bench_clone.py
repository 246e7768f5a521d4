"""The dm-clone move peer: its table, status and target-list parsing, the
timing loop it shares with kcopyd, and a kernel without dm-clone (recorded as
absent, reported as n/a, never an error)."""

from __future__ import annotations

import contextlib
import struct
import subprocess

import pytest
from pemove.bench import aggregate, clone, dmctl, markdown, move
from pemove.bench.common import CLONE_TOOLS, COPY_TOOLS

# -- table and status -------------------------------------------------------------


def test_clone_table_default_and_tuned():
    t = clone.clone_table("/dev/dm-3", "/dev/ram1", "/dev/ram0", 65536, 4096)
    assert t == "0 65536 clone /dev/dm-3 /dev/ram1 /dev/ram0 4096"
    core = clone.tuned_args(65536, 4096)
    assert core == {"hydration_threshold": 16, "hydration_batch_size": 16}
    t = clone.clone_table("/dev/dm-3", "/dev/ram1", "/dev/ram0", 65536, 4096, core)
    assert t == (
        "0 65536 clone /dev/dm-3 /dev/ram1 /dev/ram0 4096 "
        "0 4 hydration_threshold 16 hydration_batch_size 16"
    )


def test_tuned_args_count_a_partial_last_region():
    assert clone.tuned_args(4096 * 3 + 8, 4096)["hydration_batch_size"] == 4


def test_parse_clone_status():
    line = "8 72/1024 4096 3/16 1 0 4 hydration_threshold 1 hydration_batch_size 1 rw"
    assert clone.parse_clone_status(line) == (3, 16)
    done = "8 80/1024 4096 16/16 0 1 no_discard_passdown 4 hydration_threshold 16 hydration_batch_size 16 rw"  # noqa: E501
    assert clone.parse_clone_status(done) == (16, 16)


@pytest.mark.parametrize(
    "line",
    [
        "Fail",
        "",
        "8 72/1024 4096 3/16 0 0 4 hydration_threshold 1 hydration_batch_size 1 ro",
    ],
)
def test_parse_clone_status_refuses_failed_or_read_only_metadata(line):
    with pytest.raises(OSError, match="not writable"):
        clone.parse_clone_status(line)


def _versions(*targets: tuple[str, tuple[int, int, int]]) -> bytes:
    """A DM_LIST_VERSIONS reply's data: dm_target_versions records, 8-byte aligned."""
    recs = []
    for name, ver in targets:
        rec = struct.pack("=I3I", 0, *ver) + name.encode() + b"\0"
        recs.append(rec + b"\0" * (-len(rec) % 8))
    out = b""
    for i, rec in enumerate(recs):
        nxt = len(rec) if i < len(recs) - 1 else 0
        out += struct.pack("=I", nxt) + rec[4:]
    return out


def test_parse_target_versions():
    data = _versions(
        ("striped", (1, 7, 0)), ("clone", (2, 0, 0)), ("linear", (1, 5, 0))
    )
    assert dmctl.parse_target_versions(data) == {
        "striped": (1, 7, 0),
        "clone": (2, 0, 0),
        "linear": (1, 5, 0),
    }
    assert dmctl.parse_target_versions(b"") == {}


# -- the timing loop ----------------------------------------------------------------


class _FakeCtl:
    """resume, then status, then one wait per line of ``waits``."""

    def __init__(self, first: str, waits: list[str]) -> None:
        self.first, self.waits = first, list(waits)
        self.calls: list[tuple[str, bool]] = []

    def resume(self, name: str) -> int:
        self.calls.append(("resume", False))
        return 4

    def status(self, name: str, *, noflush: bool = False) -> tuple[int, str]:
        self.calls.append(("status", noflush))
        return 4, self.first

    def wait(self, name: str, ev: int, *, noflush: bool = False) -> tuple[int, str]:
        self.calls.append(("wait", noflush))
        return ev + 1, self.waits.pop(0)

    def targets(self) -> dict[str, tuple[int, int, int]]:
        return {}


def _line(done: int, total: int = 16) -> str:
    return f"8 72/1024 4096 {done}/{total} 0 0 4 hydration_threshold 1 hydration_batch_size 1 rw"  # noqa: E501


def test_time_to_done_sleeps_on_events_with_noflush():
    ctl = _FakeCtl(_line(0), [_line(16)])
    got = dmctl.time_to_done(
        ctl,  # type: ignore[arg-type]
        "pemove-t-clone",
        clone.parse_clone_status,
        timeout=60,
        noflush=True,
    )
    assert got["events"] == 1 and got["regions"] == 16
    assert got["status"] == _line(16)
    # No status query without DM_NOFLUSH_FLAG: it would make dm-clone commit.
    assert ctl.calls == [("resume", False), ("status", True), ("wait", True)]


# -- a kernel without dm-clone ----------------------------------------------------


def test_missing_names_the_kernel_when_modprobe_fails(monkeypatch, fake_tool):
    fake_tool(
        "modprobe",
        "echo 'modprobe: FATAL: Module dm-clone not found in directory "
        "/lib/modules/6.12.118+deb12-amd64' >&2; exit 1",
    )
    monkeypatch.setattr(
        clone, "DmControl", lambda: contextlib.nullcontext(_FakeCtl("", []))
    )
    why = clone.missing()
    assert why is not None and why.startswith("no dm-clone in this kernel: ")
    assert "Module dm-clone not found" in why


def test_missing_is_none_when_the_target_is_registered(monkeypatch, fake_tool):
    fake_tool("modprobe", "exit 0")

    class Ctl(_FakeCtl):
        def targets(self):
            return {"clone": (2, 0, 0), "linear": (1, 5, 0)}

    monkeypatch.setattr(clone, "DmControl", lambda: contextlib.nullcontext(Ctl("", [])))
    assert clone.missing() is None


def _stub_moves(monkeypatch, why: str | None) -> list[str]:
    """run_moves with every copy tool stubbed; returns the tools it ran."""
    ran: list[str] = []

    @contextlib.contextmanager
    def brd(count, size_mib, **kw):
        yield [f"/dev/ram{i}" for i in range(count)]

    def tool(name):
        def run(*args, **kw):
            ran.append(name)
            return [{"seconds": 1.0, "bytes": 4 << 20}]

        return run

    monkeypatch.setattr(move.devices, "brd", brd)
    monkeypatch.setattr(move, "device_limit", lambda *a, **kw: {})
    monkeypatch.setattr(move, "_pemove", tool("pemove"))
    monkeypatch.setattr(move, "_kcopyd", tool("kcopyd"))
    monkeypatch.setattr(
        move, "_clone", lambda d, m, r, s, tuned: tool(f"clone-{tuned}")()
    )
    monkeypatch.setattr(move, "_dd", tool("dd"))
    monkeypatch.setattr(move, "_pvmove", tool("pvmove"))
    monkeypatch.setattr(move.clone, "missing", lambda: why)
    return ran


def test_run_moves_records_dm_clone_absent_not_as_an_error(monkeypatch):
    why = "no dm-clone in this kernel: modprobe dm-clone: FATAL: not found"
    ran = _stub_moves(monkeypatch, why)
    doc = move.run_moves(None, [4], 1)  # type: ignore[arg-type]
    assert doc["absent"] == {"dm-clone": why, "dm-clone-tuned": why}
    assert doc["errors"] == []
    assert not any(r.startswith("clone") for r in ran)
    assert not [s for s in doc["samples"] if s["method"] in CLONE_TOOLS]


def test_run_moves_times_both_clone_settings_where_present(monkeypatch):
    ran = _stub_moves(monkeypatch, None)
    doc = move.run_moves(None, [4], 1)  # type: ignore[arg-type]
    assert doc["absent"] == {}
    assert "clone-False" in ran and "clone-True" in ran
    assert {s["method"] for s in doc["samples"]} >= set(CLONE_TOOLS)


def test_run_moves_puts_clone_metadata_in_the_slack(monkeypatch):
    sectors: list[int] = []
    _stub_moves(monkeypatch, None)
    monkeypatch.setattr(
        move, "_clone", lambda d, m, r, s, tuned: sectors.append(s) or []
    )
    move.run_moves(None, [4, 32], 1)  # type: ignore[arg-type]
    disk_sectors = (2 * 32 + move._LVM_SLACK_MIB) * 2048
    # Beyond both extents of the largest size, inside disk 0.
    assert set(sectors) == {disk_sectors - clone.METADATA_SECTORS}
    assert disk_sectors - clone.METADATA_SECTORS >= 2 * 32 * 2048


# -- report -----------------------------------------------------------------------


def _doc(clone_s: float | None, absent: dict[str, str] | None = None) -> dict:
    """A move document of 64 MiB samples: pemove 0.5 s, kcopyd 2 s, dm-clone
    ``clone_s`` (tuned: half of it), or no dm-clone and ``absent``."""
    secs = {"pemove-whole": 0.5, "pemove-live": 0.5, "kcopyd": 2.0, "dd": 1.0}
    secs["pvmove"] = 4.0
    if clone_s is not None:
        secs["dm-clone"] = clone_s
        secs["dm-clone-tuned"] = clone_s / 2
    samples = []
    for method, s in secs.items():
        for rep in range(3):
            sample = {"method": method, "pe_mib": 64, "rep": rep, "seconds": s}
            sample["bytes"] = 64 << 20
            if method.startswith("pemove"):
                sample.update(hold_ns=0, copy_ns=int(s * 1e9), max_wait_ns=0)
            samples.append(sample)
    doc = {"device": "brd", "sizes_mib": [64], "samples": samples, "errors": []}
    if absent is not None:
        doc["absent"] = absent
    return doc


def test_clone_ratios_in_the_same_boot():
    agg = aggregate.aggregate({"kernel": "6.12-debug", "move": _doc(4.0)})
    row = agg["move"]["rows"][0]
    assert row["dm-clone"]["median"] == pytest.approx((64 << 20) / 4.0 / 1e6)
    assert row["live_vs_dm-clone"] == pytest.approx(8.0)
    assert row["whole_vs_dm-clone"] == pytest.approx(8.0)
    assert row["kcopyd_vs_dm-clone"] == pytest.approx(2.0)
    assert row["kcopyd_vs_dm-clone-tuned"] == pytest.approx(1.0)
    text = markdown.markdown(agg)
    assert "**dm-clone hydration**" in text
    assert (
        "| 64 | 17 ±0% | 34 ±0% | 8.00x | 8.00x | 2.00x | 4.00x | 4.00x | 1.00x |"
        in text
    )
    assert "n/a" not in text


def test_clone_absent_reports_na_and_no_error():
    why = (
        "no dm-clone in this kernel: modprobe dm-clone: modprobe: FATAL: Module "
        "dm-clone not found in directory /lib/modules/6.12.118+deb12-amd64; "
        "no clone target registered"
    )
    doc = {
        "kernel": "6.12.118+deb12-amd64",
        "move": _doc(None, {t: why for t in CLONE_TOOLS}),
    }
    agg = aggregate.aggregate(doc)
    assert agg["errors"] == []
    assert agg["move"]["absent"]["dm-clone"] == why
    assert agg["move"]["rows"][0]["live_vs_dm-clone"] is None
    text = markdown.markdown(agg)
    na = "n/a (no dm-clone in this kernel)"
    assert f"| 64 | {na} | {na} | n/a | n/a | n/a | n/a | n/a | n/a |" in text
    assert f"Not measured: {why}." in text


def test_result_files_from_before_the_clone_peer_render_as_before():
    doc = _doc(None)
    doc.pop("absent", None)
    text = markdown.markdown(aggregate.aggregate({"kernel": "6.1", "move": doc}))
    assert "dm-clone" not in text


def test_clone_tools_sit_beside_kcopyd():
    i = COPY_TOOLS.index("kcopyd")
    assert COPY_TOOLS[i + 1 : i + 3] == CLONE_TOOLS


def test_missing_handles_a_modprobe_that_is_not_installed(monkeypatch):
    def no_modprobe(*a, **kw):
        raise FileNotFoundError(2, "No such file or directory", "modprobe")

    monkeypatch.setattr(subprocess, "run", no_modprobe)
    monkeypatch.setattr(
        clone, "DmControl", lambda: contextlib.nullcontext(_FakeCtl("", []))
    )
    why = clone.missing()
    assert why is not None and "No such file or directory" in why
