"""Helpers shared by the host-only tests."""

from __future__ import annotations

import fcntl
from typing import Any

import pytest


class IoctlSpy:
    """Records the request numbers of the real ioctls made through fcntl."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        self._real = fcntl.ioctl
        monkeypatch.setattr(fcntl, "ioctl", self)

    def __call__(self, fd: int, request: int, *args: Any) -> Any:
        self.calls.append(request)
        return self._real(fd, request, *args)


@pytest.fixture
def ioctl_spy(monkeypatch: pytest.MonkeyPatch) -> IoctlSpy:
    """Every ioctl still reaches the kernel; ``ioctl_spy.calls`` lists their numbers."""
    return IoctlSpy(monkeypatch)
