"""The guest entry's host-testable parts: disk discovery by serial, status file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pemove import exitcodes
from pemove.vm import guest


def fake_sysfs(tmp_path: Path, serials: dict[str, str]) -> Path:
    root = tmp_path / "block"
    for name, serial in serials.items():
        (root / name).mkdir(parents=True)
        if serial:
            (root / name / "serial").write_text(serial + "\n")
    return root


def test_disks_ordered_by_serial_not_name(tmp_path):
    root = fake_sysfs(
        tmp_path, {"vda": "pemove-d1", "vdb": "pemove-d0", "sr0": "", "vdc": "other"}
    )
    assert guest.find_disks(2, root, wait=0) == ["/dev/vdb", "/dev/vda"]


def test_all_disks_in_serial_order_without_a_gap(tmp_path):
    # The Vagrant VM: every disk is there at boot; pemove-d3 after a gap is not ours.
    root = fake_sysfs(
        tmp_path,
        {"vdc": "pemove-d1", "vdb": "pemove-d0", "vda": "", "vde": "pemove-d3"},
    )
    assert guest.find_disks(None, root, wait=0) == ["/dev/vdb", "/dev/vdc"]


def test_results_file_and_host_only():
    env = {"PEMOVE_GUEST": "1", "PEMOVE_RESULTS": "/r"}
    assert guest.results_file("demo.json", env) == Path("/r/demo.json")
    assert guest.results_file("/abs/x.json", env) == Path("/abs/x.json")
    assert guest.results_file("demo.json", {}) == Path("demo.json")
    assert guest.host_only("pemove demo", "python -m x", {}) is None
    refusal = guest.host_only("pemove demo", "python -m x", env)
    assert refusal is not None and "run 'python -m x' here" in refusal
    assert guest.guest_disks({"PEMOVE_DISKS": "/dev/vdb::/dev/vdc"}) == [
        "/dev/vdb",
        "/dev/vdc",
    ]


def test_no_disks_asked_for(tmp_path):
    root = fake_sysfs(tmp_path, {"vda": "pemove-d0"})
    assert guest.find_disks(0, root, wait=0) == []


def test_missing_disk_is_named(tmp_path):
    root = fake_sysfs(tmp_path, {"vda": "pemove-d0"})
    with pytest.raises(guest.SetupError, match="pemove-d1"):
        guest.find_disks(2, root, wait=0)


def test_module_name():
    assert guest.module_name(Path("/b/pemove.ko")) == "pemove"
    assert guest.module_name(Path("/b/dm-pe-move.ko")) == "dm_pe_move"


@pytest.fixture(autouse=True)
def no_kmemleak(monkeypatch):
    """The host's debugfs is not the guest's: no scans, no mounts."""
    monkeypatch.setattr(guest.kmemleak, "baseline", lambda: [])
    monkeypatch.setattr(guest.kmemleak, "check", lambda results, label: None)


def test_status_written_with_exit_code(tmp_path, monkeypatch):
    monkeypatch.setattr(guest, "arm_hung_task_detector", lambda s: None)
    monkeypatch.setattr(guest, "find_disks", lambda n: [])
    code = guest.main(
        ["--results", str(tmp_path), "--", sys.executable, "-c", "raise SystemExit(4)"]
    )
    assert code == 4
    status = json.loads((tmp_path / guest.STATUS_FILE).read_text())
    assert status["exit"] == 4 and status["error"] is None
    assert (tmp_path / "dmesg.txt").exists()


def test_setup_error_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(guest, "arm_hung_task_detector", lambda s: None)
    monkeypatch.setattr(guest, "find_disks", lambda n: [])
    ko = tmp_path / "nonexistent.ko"
    code = guest.main(["--results", str(tmp_path), "--ko", str(ko), "--", "true"])
    assert code == exitcodes.VM_FAILED
    status = json.loads((tmp_path / guest.STATUS_FILE).read_text())
    assert "loading" in status["error"] and "ENOENT" in status["error"]
    assert status["exit"] is None


def test_a_suspected_leak_fails_a_passing_command(tmp_path, monkeypatch):
    monkeypatch.setattr(guest, "arm_hung_task_detector", lambda s: None)
    monkeypatch.setattr(guest, "find_disks", lambda n: [])
    labels: list[str] = []

    def check(results: Path, label: str) -> str | None:
        labels.append(label)
        return f"kmemleak: 1 suspected memory leak(s) {label}"

    monkeypatch.setattr(guest.kmemleak, "check", check)
    code = guest.main(["--results", str(tmp_path), "--", "true"])
    assert code == exitcodes.VM_FAILED and labels == ["after-command"]
    status = json.loads((tmp_path / guest.STATUS_FILE).read_text())
    assert status["exit"] == 0 and "after-command" in status["error"]


def test_emulated_guest_relaxes_the_lockup_and_rcu_stall_detectors(
    tmp_path, monkeypatch
):
    """Under TCG the lockup and RCU stall detectors wait longer; the hung-task one is armed."""
    monkeypatch.setattr(guest, "find_disks", lambda n: [])
    armed: list[str] = []
    monkeypatch.setattr(
        guest, "arm_hung_task_detector", lambda s: armed.append(f"hung {s}")
    )
    monkeypatch.setattr(guest, "relax_lockup_watchdog", lambda: armed.append("soft"))
    monkeypatch.setattr(guest, "relax_rcu_stall_timeout", lambda: armed.append("rcu"))
    guest.main(["--results", str(tmp_path), "--emulated", "--", "true"])
    assert armed == ["hung 120", "soft", "rcu"]
    armed.clear()
    guest.main(["--results", str(tmp_path), "--", "true"])
    assert armed == ["hung 30"]
