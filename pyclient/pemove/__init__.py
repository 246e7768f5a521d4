"""pemove: extent-mapped LVs with a locked physical-extent move.

The client library.  The public API is re-exported here and loaded on first
use, so that ``import pemove`` (and the ``pemove vm`` command, which runs on
hosts without the module) does not read the uapi header until it is needed::

    from pemove import Control, Extent, move_extent

    with Control() as ctl:
        print(ctl.version())
        move_extent(ctl, "lv0", 3, Extent(253, 16, 8192))
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def _release_version() -> str:
    """The release version: ``VERSION`` in a checkout, else the installed metadata."""
    root = Path(__file__).resolve().parents[2]
    if (root / "setup.py").is_file() and (root / "VERSION").is_file():
        return (root / "VERSION").read_text(encoding="ascii").strip()
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pemove")
    except PackageNotFoundError:
        return "unknown"


#: The project's release version (one place: the checkout's ``VERSION`` file).
#: Not the ioctl interface version, which is :data:`pemove.uapi.VERSION`.
__version__ = _release_version()

# Public name -> the module that defines it.
_EXPORTS = {
    "Control": "pemove.control",
    "Extent": "pemove.control",
    "LEStatus": "pemove.control",
    "LVCounters": "pemove.control",
    "LVInfo": "pemove.control",
    "LVStatus": "pemove.control",
    "MoveStats": "pemove.control",
    "VersionInfo": "pemove.control",
    "PemoveError": "pemove.errors",
    "LegacyFallbackWarning": "pemove.move",
    "MoveResult": "pemove.move",
    "move_extent": "pemove.move",
    "legacy_move": "pemove.legacy",
    "pv_candidates": "pemove.discovery",
    "watch_for_disk": "pemove.discovery",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pemove' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
