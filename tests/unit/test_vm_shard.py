"""Sharding the guest tier: every file once, balanced, never split."""

from __future__ import annotations

from pathlib import Path

import pytest
from pemove.vm import shard


def test_every_file_lands_in_exactly_one_shard():
    files = [f"tests/guest/test_{i}.py" for i in range(7)]
    costs = {f: float(i + 1) for i, f in enumerate(files)}
    shards = shard.plan(files, 3, costs)
    assert sorted(f for s in shards for f in s) == sorted(files)
    loads = [sum(costs[f] for f in s) for s in shards]
    assert max(loads) - min(loads) <= max(costs.values())


def test_one_long_file_gets_a_shard_to_itself():
    costs = {"a.py": 100.0, "b.py": 10.0, "c.py": 10.0, "d.py": 10.0}
    shards = shard.plan(list(costs), 2, costs)
    assert ["a.py"] in shards


def test_more_jobs_than_files_and_bad_jobs():
    assert shard.plan(["a.py"], 4, {"a.py": 1.0}) == [["a.py"]]
    with pytest.raises(ValueError):
        shard.plan(["a.py"], 0)


def test_costs_from_junit(tmp_path: Path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.guest.test_faults" name="t1" time="2.5"/>'
        '<testcase classname="tests.guest.test_faults" name="t2" time="1.5"/>'
        '<testcase classname="tests.guest.test_cli.TestX" name="t3" time="1"/>'
        "</testsuite></testsuites>"
    )
    assert shard.costs_from_junit([junit, tmp_path / "missing.xml"]) == {
        "tests/guest/test_faults.py": 4.0,
        "tests/guest/test_cli.py": 1.0,
    }


def _junit(path: Path, cases: dict[str, float]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '<testsuites><testsuite name="pytest">'
        + "".join(
            f'<testcase classname="tests.guest.{m}" name="t" time="{t}"/>'
            for m, t in cases.items()
        )
        + "</testsuite></testsuites>"
    )
    return path


def test_costs_take_the_newest_run_of_a_file_not_a_sum(tmp_path: Path):
    old = _junit(tmp_path / "a.xml", {"test_x": 10, "test_y": 3})
    new = _junit(tmp_path / "b.xml", {"test_x": 12})
    assert shard.costs_from_junit([old, new]) == {
        "tests/guest/test_x.py": 12.0,
        "tests/guest/test_y.py": 3.0,
    }


def test_recorded_costs_prefer_the_same_kernel(tmp_path: Path):
    _junit(tmp_path / "20261207-100000-6.12/junit-6.12.xml", {"test_x": 1})
    _junit(tmp_path / "20261207-090000-debug/junit-debug.xml", {"test_x": 9})
    assert shard.recorded_costs(tmp_path, "debug") == {"tests/guest/test_x.py": 9.0}
    # No run of this kernel yet: any kernel's times beat file sizes.
    assert shard.recorded_costs(tmp_path, "6.1") == {"tests/guest/test_x.py": 1.0}
