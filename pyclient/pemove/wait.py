"""Waiting for a condition, with a bound: the one polling loop of the package and tests.

Use it where no event says that the condition came true (an LE starting to
move, a device node going away, a disk showing up in sysfs).  Where an event
exists, wait for the event instead (:class:`pemove.discovery.DiskWatch`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(
    cond: Callable[[], T], timeout: float, what: str, *, interval: float = 0.02
) -> T:
    """Call ``cond`` until it returns something true, and return that.

    It is called at once, then every ``interval`` seconds, and once more
    after the deadline, so a slow host costs a late answer, not a wrong one.

    :param timeout: seconds
    :param what: the awaited condition, for the message, e.g.
        ``"LE 0 of lv0 to start moving"``
    :raises TimeoutError: ``timed out after T s waiting for WHAT``
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            value = cond()
            if value:
                return value
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
