"""DiskWatch's readiness rules: udev's record of a device counts only if it is
new, and only once udev's worker has let go of the device."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

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


def test_a_device_udev_still_holds_is_not_ready(tmp_path: Path) -> None:
    # flock works alike on a file: udevd's worker holds a shared lock on the
    # device while it runs an event, and has written the record before it
    # lets go (an LV_REMOVE right then was EBUSY, 6.12 guest, 2026-12-08).
    node = tmp_path / "pemove1"
    node.write_bytes(b"")
    worker = os.open(node, os.O_RDONLY)
    try:
        fcntl.flock(worker, fcntl.LOCK_SH)
        assert discovery.udev_holds(str(node))
        fcntl.flock(worker, fcntl.LOCK_UN)
        assert not discovery.udev_holds(str(node))
        # The probe itself left no lock behind.
        fcntl.flock(worker, fcntl.LOCK_SH | fcntl.LOCK_NB)
    finally:
        os.close(worker)
    assert discovery.udev_holds(str(tmp_path / "gone"))
