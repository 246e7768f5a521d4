"""Turn the guest's raw samples into medians, spreads and ratios, phase by phase.

Everything here is pure computation on the JSON document that
:mod:`pemove.bench.guest` writes, so it is tested on the host without a VM
(tests/unit/test_bench_report.py).  The verdicts on the targets are
:mod:`pemove.bench.targets`'s; the Markdown is :mod:`pemove.bench.markdown`'s.

Ratios between IO-path candidates are paired by repeat: each repeat ran
every candidate back to back, so ``candidate / baseline`` is taken within a
repeat and the median over repeats is reported with its spread.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pemove.bench.common import (
    CANDIDATES,
    CLONE_TOOLS,
    COPY_TOOLS,
    PHASES,
    QD32,
    STALL_RUNS,
)
from pemove.bench.stats import fit_line, paired_ratio, summarize
from pemove.bench.targets import AGREE, verdicts

__all__ = ["aggregate", "iocost_ratios"]

#: io cost ratios reported: (name, candidate, baseline).  A ratio is the
#: candidate's ns per IO over the baseline's, paired by repeat: above 1 costs more.
IOCOST_RATIOS = (
    ("notrack_vs_raw", "pemove-notrack", "raw"),
    ("dm_linear_vs_raw", "dm-linear", "raw"),
    ("track_vs_notrack", "pemove-track", "pemove-notrack"),
    ("track_vs_dm_linear", "pemove-track", "dm-linear"),
    ("notrack_vs_dm_linear", "pemove-notrack", "dm-linear"),
    ("live_vs_track_le0", "pemove-live", "pemove-track-le0"),
)


def _per_io(run: dict[str, Any]) -> dict[str, float | None]:
    """A run's ns per IO: fio's mean latency, and elapsed job time over IOs."""
    ios = run.get("ios") or 0
    ms = run.get("runtime_ms")
    return {
        "lat_ns": run.get("lat_mean_ns"),
        "elapsed_ns": ms * 1e6 / ios if ms is not None and ios else None,
    }


def iocost_ratios(
    by: dict[tuple[str, str], dict[int, float | None]], wl: str
) -> dict[str, Any]:
    """Every :data:`IOCOST_RATIOS` ratio of one workload, from ``by[(wl, cand)]``
    (repeat -> ns per IO)."""
    out: dict[str, Any] = {}
    for name, cand, base in IOCOST_RATIOS:
        num, den = by.get((wl, cand), {}), by.get((wl, base), {})
        if num and den:
            out[name] = paired_ratio(num, den)
    return out


def _workloads_and_candidates(
    doc: dict[str, Any], runs: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """The workloads in the document's order, the candidates in the order they ran.

    Without a workload list, the workloads the runs name, sorted.
    """
    workloads = [w["name"] for w in doc.get("workloads", [])] or sorted(
        {r["workload"] for r in runs}
    )
    return workloads, list(dict.fromkeys(r["candidate"] for r in runs))


def _iocost(doc: dict[str, Any]) -> dict[str, Any]:
    warm = set(doc.get("warmup_reps", [0]))
    runs = [r for r in doc.get("runs", []) if r["rep"] not in warm]
    workloads, cands = _workloads_and_candidates(doc, runs)
    lat: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
    elapsed: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
    warmups: dict[tuple[str, str], float | None] = {}
    for r in doc.get("runs", []):
        key = (r["workload"], r["candidate"])
        per = _per_io(r)
        if r["rep"] in warm:
            warmups[key] = per["lat_ns"]
        else:
            lat[key][r["rep"]] = per["lat_ns"]
            elapsed[key][r["rep"]] = per["elapsed_ns"]
    rows = []
    for wl in workloads:
        for cand in cands:
            if (wl, cand) not in lat:
                continue
            s = summarize(lat[(wl, cand)].values())
            rows.append(
                {
                    "workload": wl,
                    "candidate": cand,
                    "ns_per_io": s,
                    "elapsed_ns_per_io": summarize(elapsed[(wl, cand)].values()),
                    "warmup_ns_per_io": warmups.get((wl, cand)),
                    "agrees": s["spread"] is not None and s["spread"] <= AGREE,
                }
            )
    ratios = {wl: iocost_ratios(lat, wl) for wl in workloads}
    moves = doc.get("live_moves", [])
    return {
        "ios": doc.get("ios"),
        "repeats": doc.get("repeats"),
        "engine": doc.get("engine"),
        "workloads": workloads,
        "candidates": cands,
        "rows": rows,
        "ratios": ratios,
        "live_moves": len(moves),
        "live_max_wait_ms": summarize(m["max_wait_ns"] / 1e6 for m in moves),
    }


def _iopath(doc: dict[str, Any]) -> dict[str, Any]:
    runs = doc.get("runs", [])
    workloads, cands = _workloads_and_candidates(doc, runs)
    by: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in runs:
        by[(r["workload"], r["candidate"])][r["rep"]] = r
    rows = []
    for wl in workloads:
        for cand in cands:
            reps = by.get((wl, cand), {})
            if not reps:
                continue
            row: dict[str, Any] = {"workload": wl, "candidate": cand}
            for key in ("iops", "bw_bytes", "p50_ns", "p99_ns"):
                row[key] = summarize(r.get(key) for r in reps.values())
            iops = {k: r["iops"] for k, r in reps.items()}
            for base in CANDIDATES[:-1]:  # every candidate but pemove-track
                ref = {k: r["iops"] for k, r in by.get((wl, base), {}).items()}
                row[f"vs_{base}"] = paired_ratio(iops, ref) if ref else summarize([])
            rows.append(row)
    return {"workloads": workloads, "candidates": cands, "rows": rows}


def _tool(sample: dict[str, Any]) -> str:
    """A sample's copy tool; result files before the live move said ``pemove``."""
    m = sample["method"]
    return "pemove-whole" if m == "pemove" else m


def _rate_ratio(
    row: dict[str, Any], key: str, num: dict[str, Any], den: dict[str, Any]
) -> None:
    """``row[key]``: median MB/s over median MB/s; ``row[key + "_range"]``: the
    extremes, slowest ``num`` against fastest ``den`` and back (None without both)."""
    ok = num["median"] and den["median"]
    row[key] = num["median"] / den["median"] if ok else None
    row[f"{key}_range"] = (
        (num["min"] / den["max"], num["max"] / den["min"]) if ok else (None, None)
    )


def _moves(doc: dict[str, Any]) -> dict[str, Any]:
    by: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    # Moves that emptied their source PV: the copy plus the PV's release.
    emptying: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for s in doc.get("samples", []):
        (emptying if s.get("empties_source") else by)[(s["pe_mib"], _tool(s))].append(s)
    limit = doc.get("device_limit") or {}
    limit_mbs = limit["limit_bps"] / 1e6 if limit.get("limit_bps") else None
    rows = []
    for mib in doc.get("sizes_mib", sorted({k[0] for k in by})):
        row: dict[str, Any] = {"pe_mib": mib}
        for tool in COPY_TOOLS:
            ss = by.get((mib, tool), [])
            row[tool] = summarize(
                s["bytes"] / s["seconds"] / 1e6 for s in ss if s["seconds"] > 0
            )
            row[f"{tool}_seconds"] = summarize(s["seconds"] for s in ss)
        for mode in ("whole", "live"):
            pm = by.get((mib, f"pemove-{mode}"), [])
            row[f"{mode}_hold_ms"] = summarize(s["hold_ns"] / 1e6 for s in pm)
            row[f"{mode}_copy_ms"] = summarize(s["copy_ns"] / 1e6 for s in pm)
            row[f"{mode}_max_wait_ms"] = summarize(
                s.get("max_wait_ns", 0) / 1e6 for s in pm
            )
            # What emptying the source PV adds: medians, emptying minus held.
            em = summarize(
                s["seconds"] * 1e3 for s in emptying.get((mib, f"pemove-{mode}"), [])
            )
            held = row[f"pemove-{mode}_seconds"]["median"]
            row[f"{mode}_empties_ms"] = em
            row[f"{mode}_release_ms"] = (
                em["median"] - held * 1e3 if em["median"] is not None and held else None
            )
        for mode in ("whole", "live"):
            p = row[f"pemove-{mode}"]
            for base in ("kcopyd", "dd", "pvmove", *CLONE_TOOLS):
                _rate_ratio(row, f"{mode}_vs_{base}", p, row[base])
            ok = p["median"] and limit_mbs
            row[f"{mode}_vs_limit"] = p["median"] / limit_mbs if ok else None
            row[f"{mode}_vs_limit_range"] = (
                (p["min"] / limit_mbs, p["max"] / limit_mbs) if ok else (None, None)
            )
        # The kernel's two kcopyd users against each other, same boot.
        for base in CLONE_TOOLS:
            _rate_ratio(row, f"kcopyd_vs_{base}", row["kcopyd"], row[base])
        w, lv = row["pemove-whole"], row["pemove-live"]
        ok = w["median"] and lv["median"]
        row["live_vs_whole"] = lv["median"] / w["median"] if ok else None
        row["live_vs_whole_range"] = (
            (lv["min"] / w["max"], lv["max"] / w["min"]) if ok else (None, None)
        )
        # Kept under their old names for the plots and older readers.
        row["pemove"] = row["pemove-whole"]
        rows.append(row)
    return {
        "device": doc.get("device"),
        "rows": rows,
        "device_limit": {
            "limit_mbs": limit_mbs,
            "best_qd": limit.get("best_qd"),
            "runs": limit.get("runs", []),
        },
        # Copy tools the kernel lacks (dm-clone): tool -> why; not errors.
        "absent": dict(doc.get("absent") or {}),
        "errors": doc.get("errors", []),
    }


def _stall(doc: dict[str, Any]) -> dict[str, Any]:
    jobs = {(j["phase"], j["name"]): j for j in doc.get("jobs", [])}
    names: list[str] = []
    phases: list[str] = []
    for j in doc.get("jobs", []):
        if j["name"] not in names:
            names.append(j["name"])
        if j["phase"] not in phases:
            phases.append(j["phase"])
    order = [p for p in (*STALL_RUNS, "moving") if p in phases]
    rows = []
    for name in names:
        for phase in order:
            j = jobs.get((phase, name))
            if j:
                rows.append(
                    {
                        "job": name,
                        "phase": phase,
                        **{
                            k: j.get(k)
                            for k in ("iops", "p50_ns", "p99_ns", "p999_ns", "max_ns")
                        },
                    }
                )
    moves = doc.get("moves", [])
    modes: dict[str, Any] = {}
    for mode in ("whole", "live", "pvmove", "moving"):
        mv = [m for m in moves if m.get("mode", "moving") == mode]
        if not mv:
            continue
        modes[mode] = {
            "moves": len(mv),
            "seconds": summarize(m["seconds"] for m in mv),
            "max_wait_ms": summarize(
                m["max_wait_ns"] / 1e6 for m in mv if "max_wait_ns" in m
            ),
            "hold_ms": summarize(m["hold_ns"] / 1e6 for m in mv if "hold_ns" in m),
            "bios_held": summarize(m["bios_held"] for m in mv if "bios_held" in m),
            "writes_waited": summarize(
                m["writes_waited"] for m in mv if "writes_waited" in m
            ),
            "writes_mirrored": summarize(
                m["writes_mirrored"] for m in mv if "writes_mirrored" in m
            ),
        }
    return {
        "extent_mib": doc.get("extent_mib"),
        "rows": rows,
        "phases": order,
        "modes": modes,
        "lv_counters": doc.get("lv_counters", {}),
        "errors": doc.get("errors", []),
        # The whole-run figures of the report before the three-way table.
        "moves": len(moves),
        "hold_ms": summarize(m["hold_ns"] / 1e6 for m in moves if "hold_ns" in m),
    }


def _scaling(doc: dict[str, Any]) -> dict[str, Any]:
    iops_doc = doc.get("iops", {})
    by: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    ext: dict[int, int] = {}
    for r in iops_doc.get("runs", []):
        by[(r["workload"], r["les"])][r["rep"]] = r["iops"]
        ext[r["les"]] = r["extent_bytes"]
    counts = iops_doc.get("le_counts") or sorted({k[1] for k in by})
    iops_rows = []
    for les in counts:
        row: dict[str, Any] = {"les": les, "extent_bytes": ext.get(les)}
        for wl in QD32:
            reps = by.get((wl, les), {})
            row[wl] = summarize(reps.values())
            # Paired by repeat, like the IO-path ratios.
            first = by.get((wl, counts[0]), {})
            row[f"{wl}_vs_first"] = paired_ratio(reps, first)["median"]  # type: ignore[arg-type]
        iops_rows.append(row)
    mem = [m for m in doc.get("memory", {}).get("lvs", []) if not m.get("notrack")]
    fit: dict[str, Any] = {}
    if len({m["les"] for m in mem}) >= 2:
        xs = [m["les"] for m in mem]
        ys = [m["reserve_bytes"] for m in mem]
        a, b = fit_line(xs, ys)
        fixed = [y - round(b) * x for x, y in zip(xs, ys)]
        fit = {
            "fixed_bytes": a,
            "per_le_bytes": b,
            "fixed_min": min(fixed),
            "fixed_max": max(fixed),
        }
    return {
        "iops": iops_rows,
        "memory": doc.get("memory", {}).get("lvs", []),
        "reserve_fit": fit,
    }


def aggregate(doc: dict[str, Any]) -> dict[str, Any]:
    """Reduce the guest's document to the summary the report and plots use."""
    agg: dict[str, Any] = {
        "kernel": doc.get("kernel"),
        "profile": doc.get("profile"),
        "started": doc.get("started"),
        "errors": list(doc.get("errors", [])),
        "sources": doc.get("sources", {}),
        "clocks": doc.get("clocks")
        or {ph: doc.get("clock", "wall") for ph in PHASES if ph in doc},
    }
    if "iocost" in doc:
        agg["iocost"] = _iocost(doc["iocost"])
    if "iopath" in doc:
        agg["iopath"] = _iopath(doc["iopath"])
    if "move" in doc:
        agg["move"] = _moves(doc["move"])
        agg["errors"] += agg["move"]["errors"]
    if "stall" in doc:
        agg["stall"] = _stall(doc["stall"])
        agg["errors"] += agg["stall"]["errors"]
    if "scaling" in doc:
        agg["scaling"] = _scaling(doc["scaling"])
    agg["targets"] = verdicts(agg, doc.get("iopath", {}))
    return agg
