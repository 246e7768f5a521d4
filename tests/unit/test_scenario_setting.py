"""The scenarios' plumbing on the host: the Setting each one gets, the one-LE frame.

The scenarios themselves need the module and run in the guest
(tests/guest/test_lost_writes.py and others); these check what they share
without a device: that :func:`scenarios.run` hands each run a
:class:`~pemove.workload.scenarios.common.Setting` with its method, mode and
seed, and that :meth:`Run.one_le` and :meth:`Run.verified` name the LV, size
the ledger and time the phases as the scenarios report them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from pemove.control import Extent
from pemove.workload import scenarios
from pemove.workload.ledger import Ledger
from pemove.workload.scenarios import common
from pemove.workload.verify import Report


class _NoControl:
    """Stands in for the control node: the fake scenarios never use it."""

    def __enter__(self) -> _NoControl:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_run_hands_each_scenario_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str, str, int, dict[str, Any]]] = []

    def fake(name: str) -> Any:
        def scenario(setting: common.Setting, **kwargs: Any) -> dict[str, Any]:
            seen.append((name, setting.method, setting.mode, setting.seed, kwargs))
            assert setting.disks == ["/dev/vdb", "/dev/vdc"]
            return {"name": name}

        return scenario

    monkeypatch.setattr(scenarios, "Control", _NoControl)
    for name in ("inflight", "storm"):
        monkeypatch.setitem(scenarios.SCENARIOS, name, fake(name))
    scenarios.run(
        ["inflight", "storm"],
        ["legacy", "locked"],
        ["/dev/vdb", "/dev/vdc"],
        seed=7,
        modes=["live", "whole"],
        storm_moves=10,
        log=lambda _msg: None,
    )
    storm = {"moves": 10, "timeout": 900.0}
    # legacy runs once and never in the storm; locked once per mode
    assert seen == [
        ("inflight", "legacy", "live", 7, {}),
        ("inflight", "locked", "live", 7, {}),
        ("inflight", "locked", "whole", 7, {}),
        ("storm", "locked", "live", 7, storm),
        ("storm", "locked", "whole", 7, storm),
    ]


def test_one_le_frames_the_race_and_verified_reports_its_phases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[tuple[str, int, list[Extent]]] = []

    @contextlib.contextmanager
    def temporary(
        ctl: Any, name: str, extent_sectors: int, extents: list[Extent]
    ) -> Iterator[tuple[Any, str]]:
        made.append((name, extent_sectors, extents))
        yield type("Info", (), {"name": name})(), "/dev/pemove0"

    monkeypatch.setattr(common.lvs, "temporary", temporary)
    monkeypatch.setattr(common, "verify", lambda node, ledger: Report(acked=3))
    logged: list[str] = []
    setting = common.Setting(
        _NoControl(), ["/a", "/b"], "locked", 5, "live", logged.append
    )
    run = common.Run("stale", setting)
    raced: list[tuple[str, str, int]] = []

    def race(lv: str, node: str, ledger: Ledger) -> None:
        raced.append((lv, node, ledger.blocks_per_extent))

    pe = Extent(8, 16, 0)
    report = run.one_le("stale", pe, 512, race)
    result = run.verified(report, extra=1)
    assert made == [("pmt-stale-locked-live", 512, [pe])]
    assert raced == [("pmt-stale-locked-live", "/dev/pemove0", 64)]
    assert list(result["phases"]) == ["setup", "write+move", "verify", "teardown"]
    assert (result["name"], result["seed"], result["acked"]) == ("stale", 5, 3)
    assert result["extra"] == 1
    assert logged == [f"stale/locked/live: {report.summary()}"]
