"""Waiting for an LV's device node, shared by the module's guest tests."""

from __future__ import annotations

import os
import subprocess
import time


def wait_node(path: str, timeout: float = 10.0) -> None:
    """Wait until *path* exists and udev has finished probing it.

    udev opens every new LV node to probe it, and LV_REMOVE of an open LV is
    EBUSY by contract, so a test that removes its LV must not race the probe.
    """
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)
    subprocess.run(["udevadm", "settle", "--timeout=30"], check=False)
