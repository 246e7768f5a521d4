"""Turn the guest's raw samples into medians, ratios, target verdicts and Markdown.

Everything here is pure computation on the JSON document that
:mod:`pemove.bench.guest` writes, so it is tested on the host without a VM
(tests/unit/test_bench_report.py).

Ratios between IO-path candidates are paired by repeat: each repeat ran
every candidate back to back, so ``candidate / baseline`` is taken within a
repeat and the median over repeats is reported with its spread.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pemove.bench.stats import fit_line, paired_ratio, summarize

__all__ = [
    "TARGET_TEXT",
    "aggregate",
    "markdown",
    "summary_table",
]

TARGET_TEXT = {
    "tracking_overhead": "tracking overhead <= 3% IOPS vs untracked at QD32",
    "track_vs_dm_linear": "tracked LV >= 1.0x dm-linear IOPS at QD32",
    "move_vs_dd": "move >= 0.9x raw O_DIRECT copy (dd)",
    "move_vs_pvmove": "move >= 3x LVM2 pvmove",
    "memory_constant": "memory reserved per LV is constant (apart from the LE map)",
    "no_per_io_alloc": "no slab growth across a fio run on a tracked LV",
}

QD32 = ("randread-4k-qd32", "randwrite-4k-qd32")


# -- aggregation --------------------------------------------------------------


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
            for base in ("raw", "dm-linear", "pemove-notrack"):
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
        for method in ("pemove", "dd", "pvmove"):
            ss = by.get((mib, method), [])
            row[method] = summarize(
                s["bytes"] / s["seconds"] / 1e6 for s in ss if s["seconds"] > 0
            )
            row[f"{method}_seconds"] = summarize(s["seconds"] for s in ss)
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


def _verdict(met: bool | None, value: str, note: str = "") -> dict[str, Any]:
    return {"met": met, "value": value, "note": note}


def _judge(
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


def _range(s: dict[str, Any]) -> str:
    if s.get("n", 0) > 1:
        return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"
    return f"{s['median']:.2f}x"


def _targets(
    agg: dict[str, Any], iopath_raw: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rows = {
        (r["workload"], r["candidate"]): r
        for r in agg.get("iopath", {}).get("rows", [])
    }
    over: list[tuple[str, dict[str, Any]]] = []
    vs_dm: list[tuple[str, dict[str, Any]]] = []
    for wl in QD32:
        r = rows.get((wl, "pemove-track"))
        if not r:
            continue
        if r["vs_pemove-notrack"]["median"] is not None:
            over.append((wl, r["vs_pemove-notrack"]))
        if r["vs_dm-linear"]["median"] is not None:
            vs_dm.append((wl, r["vs_dm-linear"]))
    for key, pairs, need, what in (
        ("tracking_overhead", over, 0.97, "tracked / untracked IOPS"),
        ("track_vs_dm_linear", vs_dm, 1.0, "tracked / dm-linear IOPS"),
    ):
        if pairs:
            out[key] = _verdict(
                _judge([(s["min"], s["max"]) for _, s in pairs], need),
                ", ".join(f"{wl} {_range(s)}" for wl, s in pairs),
                f"{what}, median (min-max over repeats); >= {need:g}x needed",
            )
    mrows = agg.get("move", {}).get("rows", [])
    for key, base, need in (
        ("move_vs_dd", "dd", 0.9),
        ("move_vs_pvmove", "pvmove", 3.0),
    ):
        vals = [(r["pe_mib"], r[f"vs_{base}"], r[f"vs_{base}_range"]) for r in mrows]
        vals = [v for v in vals if v[1]]
        if vals:
            out[key] = _verdict(
                _judge([rng for _, _, rng in vals], need),
                ", ".join(f"{m} MiB {v:.2f}x" for m, v, _ in vals),
                f"pemove MB/s / {base} MB/s (medians); >= {need:g}x needed at every size",
            )
    fit = agg.get("scaling", {}).get("reserve_fit")
    if fit:
        const = fit["fixed_min"] == fit["fixed_max"]
        out["memory_constant"] = _verdict(
            const,
            f"{fit['fixed_min'] / 1024:.0f} KiB fixed + {fit['per_le_bytes']:.0f} B per LE",
            "reserve_bytes = fixed + per-LE map; the fixed part "
            + (
                "is identical at every LE count"
                if const
                else "varies with the LE count"
            ),
        )
    slab = iopath_raw.get("slab_delta_during_fio_bytes") or {}
    if slab:
        worst = max(slab.values())
        out["no_per_io_alloc"] = _verdict(
            worst < 1 << 20,
            f"slab growth over a whole fio run: {worst / 1024:+.0f} KiB at most",
            "guest-wide Slab in /proc/meminfo; < 1 MiB counts as no growth "
            "(allocations freed within the run are not visible this way)",
        )
    return out


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
    agg["targets"] = _targets(agg, doc.get("iopath", {}))
    return agg


# -- Markdown -----------------------------------------------------------------


def _f(v: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def _ms(s: dict[str, Any]) -> str:
    """Median with its spread, e.g. ``1234 ±5%``."""
    if s.get("median") is None:
        return "-"
    spread = s.get("spread")
    tail = f" ±{spread * 50:.0f}%" if spread is not None and s.get("n", 0) > 1 else ""
    med = s["median"]
    return (f"{med:.0f}" if abs(med) >= 10 else f"{med:.2g}") + tail


def _ratio(s: dict[str, Any] | float | None) -> str:
    if isinstance(s, dict):
        s = s.get("median")
    return "-" if s is None else f"{s:.2f}x"


def _us(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1000:.0f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _sources(agg: dict[str, Any]) -> list[str]:
    boots = sorted({b for b in agg.get("sources", {}).values() if b})
    if len(boots) < 2:
        return []
    parts = ", ".join(f"{ph} from the boot of {b}" for ph, b in agg["sources"].items())
    return [
        f"Phases come from {len(boots)} boots of the same kernel ({parts}); "
        "every comparison is still within one boot.",
        "",
    ]


def summary_table(agg: dict[str, Any]) -> str:
    """The targets, one line each: what the issue asks, what was measured, met or not."""
    rows = []
    for key, text in TARGET_TEXT.items():
        t = agg.get("targets", {}).get(key)
        if t is None:
            rows.append((text, "not measured", "-"))
        else:
            rows.append(
                (
                    text,
                    t["value"],
                    {True: "met", False: "MISSED", None: "inconclusive"}[t["met"]],
                )
            )
    return "\n".join(_table(("target", "measured", "verdict"), rows))


def markdown(agg: dict[str, Any]) -> str:
    """The whole report for one kernel as Markdown."""
    out = [
        f"## pemove bench: {agg.get('kernel')} ({agg.get('profile')} profile, {agg.get('started')})",
        "",
        "Run under QEMU TCG (software emulation) on brd RAM disks: absolute figures say "
        "little; the ratios between candidates measured in the same boot are what counts.",
        "",
        *_sources(agg),
        "### Targets",
        "",
        summary_table(agg),
        "",
    ]
    io = agg.get("iopath")
    if io:
        out += [
            "### 1. IO-path overhead (fio, O_DIRECT, libaio)",
            "",
            "IOPS median ± half the min-max spread over repeats; latencies are fio clat "
            "medians in µs; ratios are per-repeat IOPS ratios (median).",
            "",
        ]
        rows = [
            (
                r["workload"],
                r["candidate"],
                _ms(r["iops"]),
                _f((r["bw_bytes"]["median"] or 0) / 1e6, "{:.1f}"),
                _us(r["p50_ns"]["median"]),
                _us(r["p99_ns"]["median"]),
                _ratio(r["vs_raw"]),
                _ratio(r["vs_dm-linear"]),
                _ratio(r["vs_pemove-notrack"])
                if r["candidate"] == "pemove-track"
                else "",
            )
            for r in io["rows"]
        ]
        out += _table(
            (
                "workload",
                "candidate",
                "IOPS",
                "MB/s",
                "p50 µs",
                "p99 µs",
                "/raw",
                "/dm-linear",
                "/notrack",
            ),
            rows,
        )
        out.append("")
    mv = agg.get("move")
    if mv:
        out += [
            f"### 2. Move throughput (one extent between two {mv.get('device')} disks)",
            "",
            "MB/s medians; pvmove is the whole `pvmove -i 1` command.",
            "",
        ]
        rows = [
            (
                str(r["pe_mib"]),
                _ms(r["pemove"]),
                _ms(r["dd"]),
                _ms(r["pvmove"]),
                _ratio(r["vs_dd"]),
                _ratio(r["vs_pvmove"]),
                _f(r["hold_ms"]["median"], "{:.1f}"),
                _f(r["copy_ms"]["median"], "{:.1f}"),
            )
            for r in mv["rows"]
        ]
        out += _table(
            (
                "PE MiB",
                "pemove MB/s",
                "dd MB/s",
                "pvmove MB/s",
                "/dd",
                "/pvmove",
                "hold ms",
                "copy ms",
            ),
            rows,
        )
        out.append("")
    st = agg.get("stall")
    if st:
        out += [
            f"### 3. IO stall during moves ({st['extent_mib']} MiB LE moved back and forth)",
            "",
            f"{st['moves']} moves; PE_MOVE hold time median {_f(st['hold_ms']['median'], '{:.1f}')} ms, "
            f"max {_f(st['hold_ms']['max'], '{:.1f}')} ms; bios held per move median "
            f"{_f(st['bios_held']['median'])}, drained {_f(st['bios_drained']['median'])}.",
            "Latencies are fio clat in µs, 4k O_DIRECT QD1 per job.",
            "",
        ]
        rows = [
            (
                r["job"],
                r["phase"],
                _f(r["iops"]),
                _us(r["p50_ns"]),
                _us(r["p99_ns"]),
                _us(r["p999_ns"]),
                _us(r["max_ns"]),
            )
            for r in st["rows"]
        ]
        out += _table(("job", "phase", "IOPS", "p50", "p99", "p99.9", "max"), rows)
        out.append("")
    sc = agg.get("scaling")
    if sc:
        out += [
            "### 4. Scaling",
            "",
            "IOPS of a tracked LV of the same size split into N LEs:",
            "",
        ]
        rows = [
            (
                str(r["les"]),
                _f((r["extent_bytes"] or 0) / 1024),
                _ms(r["randread-4k-qd32"]),
                _ratio(r["randread-4k-qd32_vs_first"]),
                _ms(r["randwrite-4k-qd32"]),
                _ratio(r["randwrite-4k-qd32_vs_first"]),
            )
            for r in sc["iops"]
        ]
        out += _table(
            (
                "LEs",
                "extent KiB",
                "randread QD32",
                "vs 1 LE",
                "randwrite QD32",
                "vs 1 LE",
            ),
            rows,
        )
        out += [
            "",
            "Memory per LV: the module's reserve_bytes; slab, vmalloc and used (MemFree) deltas around LV_CREATE, guest-wide:",
            "",
        ]
        rows = [
            (
                str(m["les"]) + (" (notrack)" if m.get("notrack") else ""),
                _f(m["reserve_bytes"] / 1024, "{:.1f}"),
                _f(m["slab_delta_bytes"] / 1024, "{:+.0f}"),
                _f(m["meminfo_delta_bytes"].get("VmallocUsed", 0) / 1024, "{:+.0f}"),
                _f(-m["meminfo_delta_bytes"].get("MemFree", 0) / 1024, "{:+.0f}"),
                ", ".join(
                    f"{c['cache']} {c['bytes'] / 1024:+.0f}"
                    for c in m["top_slab_deltas"][:3]
                ),
            )
            for m in sc["memory"]
        ]
        out += _table(
            (
                "LEs",
                "reserve KiB",
                "slab Δ KiB",
                "vmalloc Δ KiB",
                "used Δ KiB",
                "largest slab Δ (KiB)",
            ),
            rows,
        )
        fit = sc.get("reserve_fit")
        if fit:
            out += [
                "",
                f"reserve_bytes = {fit['fixed_bytes']:.0f} B + {fit['per_le_bytes']:.1f} B × LEs "
                f"(least squares; the fixed part ranges {fit['fixed_min']}–{fit['fixed_max']} B).",
            ]
        out.append("")
    if agg.get("errors"):
        out += ["### Errors", ""] + [f"- {e}" for e in agg["errors"]] + [""]
    return "\n".join(out)
