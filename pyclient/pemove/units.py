"""Sizes: parsing what people type and printing what they read.

One parser serves every command that takes a size (``pemove create
--extent-size``, ``pemove vm --disk-size``); it raises
:class:`BadSize`, which argparse shows as the option's error message.
"""

from __future__ import annotations

import argparse
import re

__all__ = ["BadSize", "human", "parse_size"]

# Binary units: K, M, G, T with an optional "iB" or "B" (so 4M, 4MiB, 4MB
# are all 4 MiB), s for 512-byte sectors, b or nothing for bytes.
_UNITS = {"": 1, "b": 1, "s": 512}
for _i, _p in enumerate("kmgt"):
    for _suffix in ("", "b", "ib"):
        _UNITS[_p + _suffix] = 1 << (10 * (_i + 1))
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


class BadSize(argparse.ArgumentTypeError, ValueError):
    """The text is not a size; the message says what is."""


def parse_size(text: str) -> int:
    """Parse a size such as ``4M``, ``4MiB``, ``1G``, ``8192s`` or ``4096`` (bytes) into bytes.

    :raises BadSize: anything else
    """
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise BadSize(
            f"{text!r} is not a size: use a number with unit s (sectors), K, M, G, T, or none for bytes"
        )
    return int(match.group(1)) * _UNITS[unit]


def human(n_bytes: float) -> str:
    """``512 B``, ``4.0 MiB``, ``1.5 GiB``: bytes for a person."""
    for unit in ("B", "KiB", "MiB"):
        if abs(n_bytes) < 1024:
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} GiB"
