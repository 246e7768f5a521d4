"""PNG plots of an aggregated benchmark run (matplotlib, Agg backend).

One file per benchmark, named ``<stem>-<what>.png``.  Plots that have no
data are skipped.  matplotlib is the ``bench`` extra of the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pemove.bench.common import CLONE_TOOLS

__all__ = ["write_plots"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _candidate_bars(plt: Any, section: dict[str, Any], metric: str) -> tuple[Any, Any]:
    """One bar per workload and candidate: the ``metric`` median, min-max whiskers.

    ``section`` is an aggregated phase with ``workloads``, ``candidates``
    and one row per workload and candidate (iocost, iopath).
    """
    wls, cands = section["workloads"], section["candidates"]
    rows = {(r["workload"], r["candidate"]): r for r in section["rows"]}
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / max(len(cands), 1)
    for i, cand in enumerate(cands):
        meds, lo, hi = [], [], []
        for wl in wls:
            s = rows.get((wl, cand), {}).get(metric, {})
            m = s.get("median") or 0.0
            meds.append(m)
            lo.append(m - (s.get("min") or m))
            hi.append((s.get("max") or m) - m)
        xs = [j + (i - (len(cands) - 1) / 2) * width for j in range(len(wls))]
        ax.bar(xs, meds, width, yerr=[lo, hi], capsize=2, label=cand)
    ax.set_xticks(range(len(wls)))
    return fig, ax


def _iocost(plt: Any, agg: dict[str, Any], path: Path) -> None:
    ic = agg["iocost"]
    virtual = agg.get("clocks", {}).get("iocost") == "virtual"
    fig, ax = _candidate_bars(plt, ic, "ns_per_io")
    ax.set_xticklabels(ic["workloads"])
    ax.set_ylabel(
        "instructions (virtual ns) per IO" if virtual else "wall-clock ns per IO"
    )
    ax.set_title(
        f"Cost per IO by candidate on {agg['kernel']} "
        f"({'deterministic, ' if virtual else ''}{ic.get('ios')} IOs/run, min-max bars)"
    )
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def _iopath(plt: Any, agg: dict[str, Any], path: Path) -> None:
    io = agg["iopath"]
    fig, ax = _candidate_bars(plt, io, "vs_raw")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticklabels(io["workloads"], rotation=20, ha="right")
    ax.set_ylabel("IOPS / raw brd (same repeat)")
    ax.set_title(f"IO-path overhead on {agg['kernel']} (TCG; ratios, min-max bars)")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def _move(plt: Any, agg: dict[str, Any], path: Path) -> None:
    rows = agg["move"]["rows"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["pe_mib"] for r in rows]
    for method in (
        "pemove-live",
        "pemove-whole",
        "kcopyd",
        *CLONE_TOOLS,
        "dd",
        "pvmove",
    ):
        ys = [r[method]["median"] for r in rows]
        pts = [(x, y) for x, y in zip(xs, ys) if y]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=method)
        secs = [(x, r[f"{method}_seconds"]["median"]) for x, r in zip(xs, rows)]
        secs = [(x, y) for x, y in secs if y]
        if secs:
            ax2.plot(*zip(*secs), marker="o", label=method)
    for a in (ax, ax2):
        a.set_xscale("log", base=2)
        a.set_xlabel("PE size (MiB)")
        a.legend(fontsize=8)
    limit = (agg["move"].get("device_limit") or {}).get("limit_mbs")
    if limit:
        ax.axhline(limit, color="grey", ls="--", lw=0.8, label="device limit")
        ax.legend(fontsize=8)
    ax.set_ylabel("MB/s (median)")
    ax.set_title("Move throughput")
    ax2.set_yscale("log")
    ax2.set_ylabel("seconds per move (median)")
    ax2.set_title("Move time vs PE size")
    fig.suptitle(f"{agg['kernel']} (TCG, brd)")
    _save(plt, fig, path)


def _stall(plt: Any, agg: dict[str, Any], path: Path) -> None:
    st = agg["stall"]
    jobs = []
    for r in st["rows"]:
        if r["job"] not in jobs:
            jobs.append(r["job"])
    rows = {(r["job"], r["phase"]): r for r in st["rows"]}
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharey=True)
    for ax, key, title in zip(
        axes, ("p50_ns", "p99_ns", "max_ns"), ("p50", "p99", "max")
    ):
        phases = st.get("phases") or ["idle", "moving"]
        w = 0.8 / len(phases)
        for i, phase in enumerate(phases):
            ys = [((rows.get((j, phase)) or {}).get(key) or 0) / 1e3 for j in jobs]
            xs = [k + (i - (len(phases) - 1) / 2) * w for k in range(len(jobs))]
            ax.bar(xs, ys, w, label=phase)
        ax.set_yscale("log")
        ax.set_title(f"clat {title}")
        ax.set_xticks(range(len(jobs)))
        ax.set_xticklabels(jobs, rotation=25, ha="right", fontsize=8)
    axes[0].set_ylabel("µs")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"IO latency idle and during whole, live and pvmove moves of a "
        f"{st['extent_mib']} MiB LE on {agg['kernel']}"
    )
    _save(plt, fig, path)


def _scaling(plt: Any, agg: dict[str, Any], path: Path) -> None:
    sc = agg["scaling"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["les"] for r in sc["iops"]]
    for wl in ("randread-4k-qd32", "randwrite-4k-qd32"):
        ys = [r[wl]["median"] for r in sc["iops"]]
        pts = [(x, y) for x, y in zip(xs, ys) if y]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=wl)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("LEs in the LV (same total size)")
    ax.set_ylabel("IOPS (median)")
    ax.set_ylim(bottom=0)
    ax.set_title("IOPS vs number of LEs")
    ax.legend(fontsize=8)
    mem = [m for m in sc["memory"] if not m.get("notrack")]
    if mem:
        mx = [m["les"] for m in mem]
        ax2.plot(
            mx,
            [m["reserve_bytes"] / 1024 for m in mem],
            marker="o",
            label="reserve_bytes",
        )
        # Guest-wide deltas can be negative (something else freed memory);
        # a log axis shows those at its 1 KiB floor.
        for label, key, marker in (
            ("slab delta", "slab", "x"),
            ("used (MemFree) delta", "used", "^"),
        ):
            ys = [
                max(
                    m["slab_delta_bytes"]
                    if key == "slab"
                    else -m["meminfo_delta_bytes"].get("MemFree", 0),
                    1024,
                )
                / 1024
                for m in mem
            ]
            ax2.plot(mx, ys, marker=marker, label=label)
        ax2.set_xscale("log", base=2)
        ax2.set_yscale("log")
        ax2.set_xlabel("LEs in the LV")
        ax2.set_ylabel("KiB")
        ax2.set_title("Memory per tracked LV")
        ax2.legend(fontsize=8)
    fig.suptitle(f"Scaling on {agg['kernel']} (TCG, brd)")
    _save(plt, fig, path)


def write_plots(agg: dict[str, Any], stem: Path) -> list[Path]:
    """Write one PNG per benchmark present in ``agg``; return their paths."""
    plt = _pyplot()
    written = []
    for key, fn in (
        ("iocost", _iocost),
        ("iopath", _iopath),
        ("move", _move),
        ("stall", _stall),
        ("scaling", _scaling),
    ):
        if agg.get(key):
            path = stem.with_name(f"{stem.name}-{key}.png")
            fn(plt, agg, path)
            written.append(path)
    return written
