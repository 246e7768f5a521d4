"""The benchmark targets: what each one asks, its threshold, and its verdict.

:data:`TARGETS` is the one table: a target's text (what the report prints)
sits next to the threshold the verdict uses.  A verdict is *met*, *missed*
(False) or *inconclusive* (None): :func:`judge` (and :func:`judge_at_most`
for an upper bound) refuses to claim either when the spread over repeats
straddles the threshold.  The deterministic io cost targets are also
inconclusive unless every repeat of the candidates involved agrees within
:data:`AGREE` (1%): only then is a ratio a finding.

The anchors: instructions per IO (virtual ns in a deterministic boot) for
the IO path; the device limit and dm-kcopyd for the copy; LVM2's pvmove,
measured in the same boot, for the stall.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pemove.bench.common import QD32

__all__ = ["AGREE", "TARGETS", "Target", "judge", "judge_at_most", "verdicts"]

#: Repeats agree when (max - min) / median is at most this.
AGREE = 0.01


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
    "tracking_cost": Target(
        "tracking <= 3% more ns/IO than untracked (deterministic, psync 4k)", 1.03
    ),
    "track_vs_dm_linear_cost": Target(
        "pemove LV <= dm-linear ns/IO (deterministic, psync 4k)", 1.0
    ),
    "move_vs_limit": Target("live move >= 0.9x the device limit (fio read+write)", 0.9),
    "move_vs_kcopyd": Target("live move >= 1.0x dm-kcopyd (dm-mirror resync)", 1.0),
    "live_stall_vs_pvmove": Target(
        "live-move stall <= LVM2 pvmove's (p99.9 and max, probes on the moving LE)",
        None,
    ),
    "live_max_wait": Target("live move's longest write wait <= 5 ms", 5.0),
    "reads_held": Target("reads held during live moves: 0", 0.0),
    "live_vs_whole": Target("live >= 0.9x whole throughput (no foreground IO)", 0.9),
    "tracking_overhead": Target(
        "wall-clock: tracking overhead <= 3% IOPS vs untracked at QD32", 0.97
    ),
    "track_vs_dm_linear": Target(
        "wall-clock: tracked LV >= 1.0x dm-linear IOPS at QD32", 1.0
    ),
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


def judge_at_most(
    ranges: Sequence[tuple[float | None, float | None]], limit: float
) -> bool | None:
    """Met if every range lies at or below ``limit``, missed if any lies above it;
    inconclusive (None) when a range straddles ``limit`` and none misses."""
    verdict: bool | None = True
    for lo, hi in ranges:
        if lo is None or hi is None:
            return None
        if lo > limit:
            return False
        if hi > limit:
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
        return f"{s['median']:.3f}x ({s['min']:.3f}-{s['max']:.3f})"
    return f"{s['median']:.3f}x"


Verdicts = dict[str, dict[str, Any]]


def _measured(
    section: dict[str, Any] | None, judge: Callable[[dict[str, Any]], Verdicts]
) -> Verdicts:
    """``judge`` of a phase's section; no verdicts where the phase measured nothing."""
    return judge(section) if section else {}


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


def _iocost(ic: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = {(r["workload"], r["candidate"]): r for r in ic["rows"]}
    out: dict[str, dict[str, Any]] = {}
    for key, ratio, cands in (
        ("tracking_cost", "track_vs_notrack", ("pemove-track", "pemove-notrack")),
        (
            "track_vs_dm_linear_cost",
            "track_vs_dm_linear",
            ("pemove-track", "dm-linear"),
        ),
    ):
        limit = _need(key)
        pairs, spreads = [], []
        for wl in ic["workloads"]:
            s = ic["ratios"].get(wl, {}).get(ratio)
            if not s or s["median"] is None:
                continue
            pairs.append((wl, s))
            spreads += [
                rows[(wl, c)]["ns_per_io"]["spread"] or 0.0
                for c in cands
                if (wl, c) in rows
            ]
        if not pairs:
            continue
        met = judge_at_most([(s["min"], s["max"]) for _, s in pairs], limit)
        worst = max(spreads) if spreads else None
        note = f"ns per IO ratio, median (min-max over repeats); <= {limit:g}x needed"
        if worst is None or worst > AGREE:
            met = None
            note += (
                f"; repeats spread up to {worst * 100:.2f}% > {AGREE * 100:g}%, "
                "so not a finding"
                if worst is not None
                else "; no repeats"
            )
        else:
            note += f"; repeats agree within {worst * 100:.2f}%"
        out[key] = _verdict(
            met, ", ".join(f"{wl} {_range(s)}" for wl, s in pairs), note
        )
    return out


def _move(agg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = agg.get("move", {}).get("rows", [])
    for key, base, what in (
        ("move_vs_limit", "limit", "the device limit"),
        ("move_vs_kcopyd", "kcopyd", "dm-kcopyd"),
        ("live_vs_whole", "whole", "whole-mode PE_MOVE"),
    ):
        col = "live_vs_whole" if base == "whole" else f"live_vs_{base}"
        vals = [(r["pe_mib"], r[col], r[f"{col}_range"]) for r in rows if r.get(col)]
        if not vals:
            continue
        need = _need(key)
        whole = ""
        if base != "whole":
            w = [(r["pe_mib"], r.get(f"whole_vs_{base}")) for r in rows]
            whole = "; whole mode: " + ", ".join(f"{m} MiB {v:.2f}x" for m, v in w if v)
        out[key] = _verdict(
            judge([rng for _, _, rng in vals], need),
            ", ".join(f"{m} MiB {v:.2f}x" for m, v, _ in vals) + whole,
            f"live MB/s / {what} MB/s (medians); >= {need:g}x needed at every size",
        )
    return out


def _live_wait(agg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The longest write wait of the live moves that had writers to wait.

    The move phase's moves run with no foreground IO, so their 0 would make
    the target met by a run that never measured it.
    """
    st = agg.get("stall", {})
    out: dict[str, dict[str, Any]] = {}
    waits = [
        m
        for m in (
            st.get("modes", {}).get("live", {}).get("max_wait_ms", {}).get("max"),
            agg.get("iocost", {}).get("live_max_wait_ms", {}).get("max"),
        )
        if m is not None
    ]
    if waits:
        need = _need("live_max_wait")
        out["live_max_wait"] = _verdict(
            max(waits) <= need,
            f"{max(waits):.2f} ms",
            f"max_wait_ns over every live move under IO (stall and io cost "
            f"phases); <= {need:g} ms needed",
        )
    return out


def _stall(st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = {(r["job"], r["phase"]): r for r in st["rows"]}
    moving = sorted({j for j, _ in rows if "moving-le" in j})
    cmp = []
    for job in moving:
        live, pv = rows.get((job, "live")), rows.get((job, "pvmove"))
        if not live or not pv:
            continue
        for k in ("p999_ns", "max_ns"):
            if live.get(k) is not None and pv.get(k) is not None:
                cmp.append((job, k, live[k], pv[k]))
    if cmp:
        out["live_stall_vs_pvmove"] = _verdict(
            all(lv <= pv for _, _, lv, pv in cmp),
            ", ".join(
                f"{job} {k[:-3]} {lv / 1e3:.0f} vs {pv / 1e3:.0f} µs"
                for job, k, lv, pv in cmp
            ),
            "live vs pvmove clat in the same boot; every figure must be <= pvmove's",
        )
    counters = st.get("lv_counters", {}).get("live")
    if counters is not None:
        out["reads_held"] = _verdict(
            counters["reads_held"] == 0,
            f"{counters['reads_held']} reads held "
            f"({counters['held']} bios held in all) over "
            f"{st['modes'].get('live', {}).get('moves', 0)} live moves",
            "the LV's reads_held counter across the stall phase's live run",
        )
    return out


def _memory(fit: dict[str, Any]) -> dict[str, dict[str, Any]]:
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


def _slab(slab: dict[str, Any]) -> dict[str, dict[str, Any]]:
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
    return {
        **_measured(agg.get("iocost"), _iocost),
        **_move(agg),
        **_measured(agg.get("stall"), _stall),
        **_live_wait(agg),
        **_iopath(agg),
        **_measured(agg.get("scaling", {}).get("reserve_fit"), _memory),
        **_measured(iopath_raw.get("slab_delta_during_fio_bytes"), _slab),
    }
