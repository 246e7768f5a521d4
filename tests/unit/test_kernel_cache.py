"""The kernel build cache: root, names, completion stamps, lookups."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
from pemove.kernel import cache


def make_entry(root: Path, name: str, **kw: object) -> cache.Entry:
    path = root / name
    path.mkdir(parents=True)
    fields: dict[str, object] = {
        "path": path,
        "flavour": "debug",
        "series": "6.12",
        "kernel_version": "6.12.117",
        "source_version": "6.12.117-1~deb12u1",
        "config_digest": "c" * 64,
        "key": "k" * 64,
        "release": "6.12.117-pemove-debug-kkkkkkkk",
        "built_at": 1000.0,
    }
    fields.update(kw)
    entry = cache.Entry(**fields)  # type: ignore[arg-type]
    cache.write_stamp(entry)
    return entry


def test_cache_root_from_environment(tmp_path: Path) -> None:
    assert cache.cache_root({"PEMOVE_KERNEL_CACHE": str(tmp_path)}) == tmp_path
    xdg = cache.cache_root({"XDG_CACHE_HOME": "/x"})
    assert xdg == Path("/x/pemove/kernels")
    assert cache.cache_root({}).parts[-3:] == (".cache", "pemove", "kernels")


def test_entry_name_is_safe_for_vng_and_shells() -> None:
    assert (
        cache.entry_name("debug", "6.12.117", "ab" * 32)
        == "debug-6.12.117-abababababab"
    )
    with pytest.raises(ValueError):
        cache.entry_name("debug", "6.12 117", "ab" * 32)


def test_stamp_roundtrip(tmp_path: Path) -> None:
    entry = make_entry(tmp_path, "debug-6.12.117-kkkkkkkkkkkk", objects=1500)
    assert cache.read_stamp(entry.path) == entry
    assert entry.spec == "debug-6.12"
    data = json.loads((entry.path / cache.STAMP).read_text())
    assert data["schema"] == cache.SCHEMA and data["objects"] == 1500


def test_directory_without_stamp_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "debug-6.12.117-partial").mkdir()
    (tmp_path / "debug-6.12.117-partial" / ".config").write_text("CONFIG_A=y\n")
    entry = make_entry(tmp_path, "debug-6.12.117-done")
    assert cache.entries(tmp_path) == [entry]
    cache.remove_stamp(entry.path)
    assert cache.entries(tmp_path) == []
    cache.remove_stamp(entry.path)  # twice is fine


@pytest.mark.parametrize("text", ["", "{not json", "[]", '{"schema": 0}'])
def test_unreadable_or_old_stamps_are_ignored(tmp_path: Path, text: str) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / cache.STAMP).write_text(text)
    assert cache.read_stamp(tmp_path / "x") is None


def test_sources_and_missing_root_are_not_entries(tmp_path: Path) -> None:
    assert cache.entries(tmp_path / "absent") == []
    (tmp_path / "src" / "linux-source-6.12_1").mkdir(parents=True)
    assert cache.entries(tmp_path) == []


def test_matching_prefers_newest_version_then_newest_build(tmp_path: Path) -> None:
    old = make_entry(tmp_path, "a", kernel_version="6.12.9", built_at=3000.0)
    new = make_entry(tmp_path, "b", kernel_version="6.12.117", built_at=1000.0)
    newer = make_entry(tmp_path, "c", kernel_version="6.12.117", built_at=2000.0)
    make_entry(tmp_path, "d", series="6.1", kernel_version="6.1.192")
    make_entry(tmp_path, "e", flavour="base")
    other = make_entry(tmp_path, "f", config_digest="0" * 64, built_at=9000.0)
    found = cache.entries(tmp_path)
    assert cache.matching(found, "debug", "6.12", "c" * 64) == [newer, new, old]
    assert cache.matching(found, "debug", "6.12")[0] == other
    assert cache.matching(found, "debug", "5.10") == []


def _hold(
    path: str, seconds: float, started: multiprocessing.synchronize.Event
) -> None:
    with cache.locked(Path(path)):
        started.set()
        time.sleep(seconds)


def test_lock_serializes_builds_of_one_entry(tmp_path: Path) -> None:
    started = multiprocessing.Event()
    proc = multiprocessing.Process(
        target=_hold, args=(str(tmp_path / "e"), 0.5, started)
    )
    proc.start()
    assert started.wait(10)
    t0 = time.monotonic()
    with cache.locked(tmp_path / "e"):
        waited = time.monotonic() - t0
    proc.join()
    assert waited > 0.2
    assert (tmp_path / "e.lock").exists()
