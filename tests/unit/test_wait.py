"""The one bounded polling loop."""

from __future__ import annotations

import pytest
from pemove.wait import wait_until


def test_returns_the_first_true_value() -> None:
    values = iter([0, None, "", "ready", "later"])
    assert wait_until(lambda: next(values), 5, "a value", interval=0) == "ready"


def test_times_out_naming_what_it_waited_for() -> None:
    calls = []
    with pytest.raises(TimeoutError, match="after 0.05 s waiting for the moon"):
        wait_until(lambda: calls.append(1), 0.05, "the moon", interval=0.01)
    assert len(calls) >= 2  # at once, and once more after the deadline


def test_one_more_look_after_the_deadline() -> None:
    # A condition that comes true late is not reported as a timeout.
    calls = []

    def late() -> bool:
        calls.append(1)
        return len(calls) >= 2

    assert wait_until(late, 0, "a late condition", interval=0) is True
