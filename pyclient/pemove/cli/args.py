"""The syntax of ``pemove`` arguments that name places on disks and LEs.

``--pv DEV[:FIRST_SECTOR[:COUNT]]`` (create)
    COUNT consecutive extents on block device DEV, the first at
    FIRST_SECTOR (default: the start of DEV's data area, after the metadata).  Without COUNT, as many as fit before the end
    of DEV.  ``--pv`` may be repeated; LEs are numbered in the order given.
    A DEV whose path contains ``:`` is recognised when it exists as written.

``LES`` (move)
    ``all``, or a comma-separated list of LEs and inclusive ranges:
    ``3``, ``0,2,5-7``.

``--to DEV[:SECTOR]`` (move)
    Put the moved LEs on DEV, one after another from SECTOR.  Without
    SECTOR, each goes to the first free place on DEV that no LV uses.

Sizes (``--extent-size``) are :func:`pemove.units.parse_size`'s.  Each
parser raises :class:`argparse.ArgumentTypeError`, whose message argparse
prints.  What the specs mean is :mod:`pemove.placement`'s business.
"""

from __future__ import annotations

import argparse
import os
import re

from pemove.placement import PVSpec, ToSpec

__all__ = ["parse_le_spec", "parse_pv_spec", "parse_to_spec"]


def _split_dev(text: str, max_numbers: int, what: str) -> tuple[str, list[int]]:
    """Split ``DEV[:N[:N]]`` into DEV and up to ``max_numbers`` trailing integers."""
    if os.path.exists(text):
        return text, []
    parts = text.split(":")
    numbers: list[int] = []
    while (
        len(parts) > 1
        and len(numbers) < max_numbers
        and re.fullmatch(r"\d+", parts[-1])
    ):
        numbers.insert(0, int(parts.pop()))
    dev = ":".join(parts)
    if not dev:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {what}")
    if ":" in dev and not os.path.exists(dev):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected {what}, with decimal numbers after DEV (a DEV containing ':' must exist)"
        )
    return dev, numbers


def parse_pv_spec(text: str) -> PVSpec:
    """Parse ``DEV[:FIRST_SECTOR[:COUNT]]``."""
    dev, numbers = _split_dev(text, 2, "DEV[:FIRST_SECTOR[:COUNT]]")
    first = numbers[0] if numbers else None
    count = numbers[1] if len(numbers) > 1 else None
    if count == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: COUNT must be at least 1")
    return PVSpec(dev, first, count)


def parse_to_spec(text: str) -> ToSpec:
    """Parse ``DEV[:SECTOR]``."""
    dev, numbers = _split_dev(text, 1, "DEV[:SECTOR]")
    return ToSpec(dev, numbers[0] if numbers else None)


def parse_le_spec(text: str) -> list[int] | None:
    """Parse ``all`` (None) or a list such as ``0,2,5-7`` (sorted, without repeats)."""
    if text.strip().lower() == "all":
        return None
    les: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            raise argparse.ArgumentTypeError(
                f"{item!r} in {text!r} is not an LE or a range A-B; or use 'all'"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise argparse.ArgumentTypeError(f"range {item!r} runs backwards")
        les.update(range(low, high + 1))
    return sorted(les)
