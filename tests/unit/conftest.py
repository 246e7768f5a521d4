"""Helpers shared by the host-only tests."""

from __future__ import annotations

import fcntl
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
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


@pytest.fixture
def fake_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], Path]:
    """``fake_tool(name, script) -> path``: ``script`` runs as ``name``, first on PATH.

    ``script`` is Python whose first line is ``#!PYTHON`` (this interpreter
    replaces the word); it lands in ``tmp_path/bin``.
    """
    bindir = tmp_path / "bin"

    def install(name: str, script: str) -> Path:
        if not bindir.exists():
            bindir.mkdir()
            monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
        tool = bindir / name
        tool.write_text(script.replace("PYTHON", sys.executable, 1))
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        return tool

    return install
