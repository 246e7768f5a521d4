"""The seed of pemove: the 2002 move loses writes, the locked move loses none.

Both directions are asserted.  If the locked path (PE_MOVE) ever loses,
staleness or corrupts a block, these tests fail; if the legacy path stops
losing writes in the in-flight race, or stops copying stale blocks from the
page cache, they fail too, because then the detector has gone blind and the
locked results prove nothing.

Scenarios and their timing are documented in pemove.workload.scenarios.
The seed is random unless PEMOVE_SEED is set; it is printed either way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pemove.control import Control
from pemove.move import LegacyFallbackWarning, pe_move_available
from pemove.workload import scenarios

pytestmark = pytest.mark.disks(2)


Scenario = Callable[..., dict[str, Any]]
Run = Callable[[Scenario, str], dict[str, Any]]


@pytest.fixture
def run(ctl: Control, disks: Sequence[str], seed: int) -> Run:
    """``run(scenario, method)``: the scenario on the first two disks, its result printed."""

    def run(scenario: Scenario, method: str) -> dict[str, Any]:
        r = scenario(scenarios.Setting(ctl, disks[:2], method, seed))
        print(r)
        return r

    return run


def _clean(r: dict[str, Any]) -> None:
    assert (r["lost"], r["stale"], r["corrupt"]) == (0, 0, 0), r["verify"]


def test_inflight_race_legacy_loses_writes(run: Run) -> None:
    r = run(scenarios.inflight_race, "legacy")
    assert r["moves"] == 1
    # The scenario moves once every writer has a write in flight (delayed 1 s
    # on the source by dm-delay); PE_LOCK waits for none of them.  A write
    # that lands on the old PE after the copy read its block is lost.  How
    # many do depends on how long the copy takes against what is left of
    # each delay, i.e. on the host's speed: on a quiet host every writer
    # loses its write (seen on 6.1: 3 lost and 1 stale of 4), beside a
    # debug VM only 2 of 4 did.  So the bound comes from the kernel's own
    # count: at least one write is lost, and only a bio that PE_LOCK did not
    # wait for can be (a held write goes to the new PE).
    assert r["lost"] >= 1, r["verify"]
    assert r["bios_not_waited"] >= r["lost"], (r["bios_not_waited"], r["verify"])
    # No corruption.  Stale blocks are allowed: if udev's blkid read the new
    # dm-delay device before the writers started, the buffered copy also
    # carries those cached pages, which is legacy's other bug.
    assert r["corrupt"] == 0, r["verify"]


def test_inflight_race_locked_loses_nothing(run: Run) -> None:
    r = run(scenarios.inflight_race, "locked")
    assert r["moves"] == 1
    assert r["acked"] > r["writers"]
    _clean(r)


def test_stale_cache_legacy_copies_stale_blocks(run: Run) -> None:
    r = run(scenarios.stale_cache, "legacy")
    # every block of the LE came out of the PV's page cache at generation 1
    assert r["stale"] == r["verify"]["checked"] > 0, r["verify"]
    assert (r["lost"], r["corrupt"]) == (0, 0), r["verify"]


def test_stale_cache_locked_loses_nothing(run: Run) -> None:
    r = run(scenarios.stale_cache, "locked")
    assert r["acked"] > 0
    _clean(r)


def test_move_pe_falls_back_warns_once_and_loses(
    module: Any, disks: Sequence[str], seed: int
) -> None:
    """locked_copy=0: PE_MOVE answers ENOTTY, move_extent() warns once and moves the legacy way."""
    module.reload(locked_copy=0)
    with Control() as ctl:
        assert not ctl.version().pe_move
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            setting = scenarios.Setting(ctl, disks[:2], "auto", seed)
            race = scenarios.inflight_race(setting)
            stale = scenarios.stale_cache(setting)
        assert pe_move_available(ctl) is False
    fallbacks = [w for w in caught if issubclass(w.category, LegacyFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in fallbacks]
    assert "locked_copy=0" in str(fallbacks[0].message)
    assert (race["method"], stale["method"]) == ("legacy", "legacy")
    assert race["lost"] > 0, race["verify"]
    assert stale["stale"] > 0, stale["verify"]
