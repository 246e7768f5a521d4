"""The benchmark targets: what each one asks, its threshold, and its verdict.

:data:`TARGETS` is the one table: a target's text (what the report prints)
sits next to the threshold the verdict uses.  A verdict is *met*, *missed*
(False) or *inconclusive* (None): :func:`judge` refuses to claim either
when the spread over repeats straddles the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pemove.bench.common import QD32

__all__ = ["TARGETS", "Target", "judge", "verdicts"]


@dataclass(frozen=True)
class Target:
    """One target of the benchmarks.

    :ivar text: what is asked, as the report's summary table says it
    :ivar threshold: the figure the measurement is held against (a ratio,
        or bytes); None where the verdict is a yes/no fact
    """

    text: str
    threshold: float | None


TARGETS: dict[str, Target] = {
    "tracking_overhead": Target(
        "tracking overhead <= 3% IOPS vs untracked at QD32", 0.97
    ),
    "track_vs_dm_linear": Target("tracked LV >= 1.0x dm-linear IOPS at QD32", 1.0),
    "move_vs_dd": Target("move >= 0.9x raw O_DIRECT copy (dd)", 0.9),
    "move_vs_pvmove": Target("move >= 3x LVM2 pvmove", 3.0),
    "memory_constant": Target(
        "memory reserved per LV is constant (apart from the LE map)", None
    ),
    "no_per_io_alloc": Target(
        "no slab growth across a fio run on a tracked LV", float(1 << 20)
    ),
}


def judge(
    ranges: Sequence[tuple[float | None, float | None]], need: float
) -> bool | None:
    """Met if every range lies at or above ``need``, missed if any lies below it.

    A range that straddles ``need`` means the noise is larger than the
    margin: neither can be claimed, so the verdict is None (inconclusive)
    unless another range already misses.
    """
    verdict: bool | None = True
    for lo, hi in ranges:
        if lo is None or hi is None:
            return None
        if hi < need:
            return False
        if lo < need:
            verdict = None
    return verdict


def _verdict(met: bool | None, value: str, note: str = "") -> dict[str, Any]:
    return {"met": met, "value": value, "note": note}


def _need(key: str) -> float:
    threshold = TARGETS[key].threshold
    assert threshold is not None, f"target {key} has no threshold"
    return threshold


def _range(s: dict[str, Any]) -> str:
    if s.get("n", 0) > 1:
        return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"
    return f"{s['median']:.2f}x"


def _iopath(agg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {
        (r["workload"], r["candidate"]): r
        for r in agg.get("iopath", {}).get("rows", [])
    }
    out: dict[str, dict[str, Any]] = {}
    for key, base, what in (
        ("tracking_overhead", "pemove-notrack", "tracked / untracked IOPS"),
        ("track_vs_dm_linear", "dm-linear", "tracked / dm-linear IOPS"),
    ):
        pairs = [
            (wl, r[f"vs_{base}"])
            for wl in QD32
            if (r := rows.get((wl, "pemove-track")))
            and r[f"vs_{base}"]["median"] is not None
        ]
        if pairs:
            need = _need(key)
            out[key] = _verdict(
                judge([(s["min"], s["max"]) for _, s in pairs], need),
                ", ".join(f"{wl} {_range(s)}" for wl, s in pairs),
                f"{what}, median (min-max over repeats); >= {need:g}x needed",
            )
    return out


def _move(agg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = agg.get("move", {}).get("rows", [])
    for key, base in (("move_vs_dd", "dd"), ("move_vs_pvmove", "pvmove")):
        vals = [(r["pe_mib"], r[f"vs_{base}"], r[f"vs_{base}_range"]) for r in rows]
        vals = [v for v in vals if v[1]]
        if vals:
            need = _need(key)
            out[key] = _verdict(
                judge([rng for _, _, rng in vals], need),
                ", ".join(f"{m} MiB {v:.2f}x" for m, v, _ in vals),
                f"pemove MB/s / {base} MB/s (medians); >= {need:g}x needed at every size",
            )
    return out


def _memory(agg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fit = agg.get("scaling", {}).get("reserve_fit")
    if not fit:
        return {}
    const = fit["fixed_min"] == fit["fixed_max"]
    return {
        "memory_constant": _verdict(
            const,
            f"{fit['fixed_min'] / 1024:.0f} KiB fixed + {fit['per_le_bytes']:.0f} B per LE",
            "reserve_bytes = fixed + per-LE map; the fixed part "
            + (
                "is identical at every LE count"
                if const
                else "varies with the LE count"
            ),
        )
    }


def _slab(iopath_raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    slab = iopath_raw.get("slab_delta_during_fio_bytes") or {}
    if not slab:
        return {}
    worst = max(slab.values())
    limit = _need("no_per_io_alloc")
    return {
        "no_per_io_alloc": _verdict(
            worst < limit,
            f"slab growth over a whole fio run: {worst / 1024:+.0f} KiB at most",
            f"guest-wide Slab in /proc/meminfo; < {limit / (1 << 20):g} MiB counts as "
            "no growth (allocations freed within the run are not visible this way)",
        )
    }


def verdicts(
    agg: dict[str, Any], iopath_raw: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each target measured in ``agg`` (and the raw IO-path phase), judged.

    :returns: target key -> ``{"met": True | False | None, "value", "note"}``;
        targets nothing measured are absent
    """
    return {**_iopath(agg), **_move(agg), **_memory(agg), **_slab(iopath_raw)}
