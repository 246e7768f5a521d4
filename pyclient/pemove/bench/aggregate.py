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

from pemove.bench.common import CANDIDATES, COPY_TOOLS, QD32
from pemove.bench.stats import fit_line, paired_ratio, summarize
from pemove.bench.targets import verdicts

__all__ = ["aggregate"]


def _iopath(doc: dict[str, Any]) -> dict[str, Any]:
    runs = doc.get("runs", [])
    workloads = [w["name"] for w in doc.get("workloads", [])] or sorted(
        {r["workload"] for r in runs}
    )
    cands: list[str] = []
    for r in runs:
        if r["candidate"] not in cands:
            cands.append(r["candidate"])
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


def _moves(doc: dict[str, Any]) -> dict[str, Any]:
    by: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for s in doc.get("samples", []):
        by[(s["pe_mib"], s["method"])].append(s)
    rows = []
    for mib in doc.get("sizes_mib", sorted({k[0] for k in by})):
        row: dict[str, Any] = {"pe_mib": mib}
        for tool in COPY_TOOLS:
            ss = by.get((mib, tool), [])
            row[tool] = summarize(
                s["bytes"] / s["seconds"] / 1e6 for s in ss if s["seconds"] > 0
            )
            row[f"{tool}_seconds"] = summarize(s["seconds"] for s in ss)
        pm = by.get((mib, "pemove"), [])
        row["hold_ms"] = summarize(s["hold_ns"] / 1e6 for s in pm)
        row["copy_ms"] = summarize(s["copy_ns"] / 1e6 for s in pm)
        for base in ("dd", "pvmove"):
            p, b = row["pemove"], row[base]
            ok = p["median"] and b["median"]
            row[f"vs_{base}"] = p["median"] / b["median"] if ok else None
            # The ratio's extremes: slowest pemove against fastest baseline, and back.
            row[f"vs_{base}_range"] = (
                (p["min"] / b["max"], p["max"] / b["min"]) if ok else (None, None)
            )
        rows.append(row)
    return {"device": doc.get("device"), "rows": rows, "errors": doc.get("errors", [])}


def _stall(doc: dict[str, Any]) -> dict[str, Any]:
    jobs = {(j["phase"], j["name"]): j for j in doc.get("jobs", [])}
    names: list[str] = []
    for j in doc.get("jobs", []):
        if j["name"] not in names:
            names.append(j["name"])
    rows = []
    for name in names:
        for phase in ("idle", "moving"):
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
    return {
        "extent_mib": doc.get("extent_mib"),
        "rows": rows,
        "moves": len(moves),
        "hold_ms": summarize(m["hold_ns"] / 1e6 for m in moves),
        "copy_ms": summarize(m["copy_ns"] / 1e6 for m in moves),
        "bios_held": summarize(m["bios_held"] for m in moves),
        "bios_drained": summarize(m["bios_drained"] for m in moves),
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
    }
    if "iopath" in doc:
        agg["iopath"] = _iopath(doc["iopath"])
    if "move" in doc:
        agg["move"] = _moves(doc["move"])
        agg["errors"] += agg["move"]["errors"]
    if "stall" in doc:
        agg["stall"] = _stall(doc["stall"])
    if "scaling" in doc:
        agg["scaling"] = _scaling(doc["scaling"])
    agg["targets"] = verdicts(agg, doc.get("iopath", {}))
    return agg
