"""Small statistics for benchmark samples: median and spread, paired ratios."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Summary", "fit_line", "paired_ratio", "summarize"]

Summary = dict[str, Any]


def summarize(values: Iterable[float | None]) -> Summary:
    """Median, minimum, maximum and relative spread ((max - min) / median).

    None values (a figure fio did not report) are ignored; with nothing left
    every field is None and ``n`` is 0.
    """
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return {"median": None, "min": None, "max": None, "spread": None, "n": 0}
    med = statistics.median(xs)
    return {
        "median": med,
        "min": xs[0],
        "max": xs[-1],
        "spread": (xs[-1] - xs[0]) / med if med else None,
        "n": len(xs),
    }


def paired_ratio(num: dict[Any, float | None], den: dict[Any, float | None]) -> Summary:
    """Summary of ``num[k] / den[k]`` over the keys both have (e.g. repeats).

    Pairing by repeat divides figures measured minutes apart in the same
    way, so host load drifting between repeats cancels out of the ratio.
    """
    ratios = [
        num[k] / den[k]  # type: ignore[operator]
        for k in num
        if k in den and num[k] is not None and den[k]
    ]
    return summarize(ratios)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b * x``; returns ``(a, b)``.

    :raises ValueError: with fewer than two distinct x values
    """
    if len(set(xs)) < 2:
        raise ValueError("a line needs at least two distinct x values")
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b
