"""Build the test-only trigger module (``tests/guest/trigger/``) on the host.

``tests/guest/test_debug_judge.py`` loads it in the guest.  Building it
there works (``/lib/modules/$(uname -r)/build`` is the tree) but gcc under
TCG takes minutes, so it is built here, for the kernel a SPEC names, into
``build/trigger/<release>/pemove_trigger.ko``; the test uses that file when
it is newer than the sources.  ``pemove kernel build`` does this for every
debug kernel it builds or finds cached (a cached one in a second), so this
module has no command of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pemove.vm.build import make_modules

__all__ = ["TriggerError", "build", "ko_path", "source_dir"]

MODULE = "pemove_trigger"


class TriggerError(Exception):
    """The trigger module did not build; the message has make's output."""


def _root() -> Path:
    env = os.environ.get("PEMOVE_SRC")
    return Path(env) if env else Path(__file__).resolve().parents[3]


def source_dir(root: Path | None = None) -> Path:
    """``tests/guest/trigger`` of the checkout."""
    return (root or _root()) / "tests" / "guest" / "trigger"


def ko_path(release: str, root: Path | None = None) -> Path:
    """Where the module for kernel *release* is built."""
    return (root or _root()) / "build" / "trigger" / release / f"{MODULE}.ko"


def _sources(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if p.is_file())


def is_fresh(ko: Path, src: Path) -> bool:
    """True if *ko* exists and is newer than every file of *src*."""
    if not ko.exists():
        return False
    newest = max((p.stat().st_mtime for p in _sources(src)), default=0.0)
    return ko.stat().st_mtime >= newest


def build(release: str, kdir: Path, root: Path | None = None) -> Path:
    """Build the trigger for *release* against *kdir* unless it is fresh.

    :returns: the path of ``pemove_trigger.ko``
    :raises TriggerError: make failed
    """
    src = source_dir(root)
    ko = ko_path(release, root)
    if is_fresh(ko, src):
        return ko
    out = ko.parent
    out.mkdir(parents=True, exist_ok=True)
    for path in _sources(src):
        shutil.copy2(path, out / path.name)
    res = make_modules(kdir, out)
    if res.returncode != 0 or not ko.exists():
        raise TriggerError(
            f"building the trigger module failed (exit {res.returncode}): "
            f"{' '.join(res.args)}\n{res.stdout}".strip()
        )
    return ko
