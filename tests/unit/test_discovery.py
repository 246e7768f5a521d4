"""DiskWatch's readiness rule: udev's record of a device counts only if it is new."""

from __future__ import annotations

from dataclasses import dataclass, field

from pemove import discovery


@dataclass
class FakeDevice:
    is_initialized: bool
    properties: dict[str, str] = field(default_factory=dict)


def test_a_record_from_before_the_watch_does_not_count() -> None:
    watch = discovery.DiskWatch("pemove0")
    watch._started_us = 293_301_385  # what start() records
    # The udev record a removed pemove0 left behind (seen in a guest, 6.12).
    stale = FakeDevice(True, {"USEC_INITIALIZED": "293063613"})
    fresh = FakeDevice(True, {"USEC_INITIALIZED": "293400000"})
    assert not watch._initialized_since_start(stale)
    assert watch._initialized_since_start(fresh)
    assert not watch._initialized_since_start(FakeDevice(False))
    # A udev that records no time: initialised is all there is to go by.
    assert watch._initialized_since_start(FakeDevice(True))
