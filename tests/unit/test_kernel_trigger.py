"""The host-side build of the test-only trigger module."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pemove.kernel import trigger

FAKE_MAKE = """#!PYTHON
import os, sys
out = next(a[2:] for a in sys.argv if a.startswith("M="))
if os.environ.get("FAKE_FAIL"):
    print("pemove_trigger.c:1: error: nope")
    sys.exit(2)
open(os.path.join(out, "pemove_trigger.ko"), "w").write("ko")
open(os.path.join(out, "..", "calls"), "a").write("make\\n")
"""


@pytest.fixture
def checkout(tmp_path: Path, fake_tool: Callable[[str, str], Path]) -> Path:
    src = tmp_path / "tests" / "guest" / "trigger"
    src.mkdir(parents=True)
    (src / "pemove_trigger.c").write_text("/* c */\n")
    (src / "Kbuild").write_text("obj-m := pemove_trigger.o\n")
    fake_tool("make", FAKE_MAKE)
    return tmp_path


def test_built_once_per_release_and_rebuilt_when_the_source_changes(
    checkout: Path,
) -> None:
    ko = trigger.build("6.12.117-pemove-debug-x", checkout / "kdir", root=checkout)
    assert ko == checkout / "build/trigger/6.12.117-pemove-debug-x/pemove_trigger.ko"
    assert (ko.parent / "Kbuild").exists()
    calls = ko.parent.parent / "calls"
    trigger.build("6.12.117-pemove-debug-x", checkout / "kdir", root=checkout)
    assert calls.read_text().count("make") == 1  # fresh: not rebuilt
    src = trigger.source_dir(checkout) / "pemove_trigger.c"
    later = time.time() + 5
    os.utime(src, (later, later))
    assert not trigger.is_fresh(ko, trigger.source_dir(checkout))
    trigger.build("6.12.117-pemove-debug-x", checkout / "kdir", root=checkout)
    assert calls.read_text().count("make") == 2


def test_failure_carries_makes_output(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(trigger.TriggerError, match="error: nope"):
        trigger.build("r", checkout / "kdir", root=checkout)
