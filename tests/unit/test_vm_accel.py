"""KVM/TCG choice: explicit choices, the cache, and the one-line notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pemove.vm import accel


@pytest.fixture
def kvm_present(monkeypatch):
    real = accel.os.path.exists
    monkeypatch.setattr(accel.os.path, "exists", lambda p: p == "/dev/kvm" or real(p))
    monkeypatch.setattr(accel, "cache_key", lambda: "host-6.18|qemu-7.2")


def no_probe(*_a, **_k):
    raise AssertionError("must not probe")


@pytest.mark.parametrize("choice", ["kvm", "tcg"])
def test_explicit_choice_skips_probe(monkeypatch, tmp_path, choice):
    monkeypatch.setattr(accel, "probe_kvm", no_probe)
    assert accel.choose(choice, Path("/x"), tmp_path / "c.json") == choice
    assert not (tmp_path / "c.json").exists()


def test_probe_once_then_cached(monkeypatch, tmp_path, kvm_present, capsys):
    cache = tmp_path / "sub" / "accel.json"
    calls = []
    monkeypatch.setattr(
        accel,
        "probe_kvm",
        lambda image: calls.append(image) or (False, "failed to set MSR"),
    )
    assert accel.choose("auto", Path("/vmlinuz"), cache) == "tcg"
    assert accel.choose("auto", Path("/vmlinuz"), cache) == "tcg"
    assert calls == [Path("/vmlinuz")]
    assert json.loads(cache.read_text()) == {
        "host-6.18|qemu-7.2": {"accel": "tcg", "reason": "failed to set MSR"}
    }
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2  # one line per run
    assert all("failed to set MSR" in line and "TCG" in line for line in err)
    assert "probed" in err[0] and "cached" in err[1]


def test_working_kvm_is_silent(monkeypatch, tmp_path, kvm_present, capsys):
    monkeypatch.setattr(accel, "probe_kvm", lambda image: (True, ""))
    assert accel.choose("auto", Path("/v"), tmp_path / "a.json") == "kvm"
    assert capsys.readouterr().err == ""


def test_cache_keeps_other_keys_and_survives_garbage(tmp_path):
    cache = tmp_path / "accel.json"
    cache.write_text("not json")
    assert accel.cached("k1", cache) is None
    accel.store("k1", "kvm", "", cache)
    accel.store("k2", "tcg", "hang", cache)
    assert accel.cached("k1", cache) == ("kvm", "")
    assert accel.cached("k2", cache) == ("tcg", "hang")


def test_key_changes_with_host_kernel_and_qemu():
    a = accel.cache_key("6.1.0", "QEMU 7.2")
    assert a != accel.cache_key("6.12.0", "QEMU 7.2")
    assert a != accel.cache_key("6.1.0", "QEMU 8.0")


def test_probe_argv_is_bounded_kvm_boot():
    argv = accel.probe_argv(Path("/boot/vmlinuz-x"))
    assert argv[argv.index("-accel") + 1] == "kvm"
    assert "-no-reboot" in argv and "panic=-1" in argv[argv.index("-append") + 1]
