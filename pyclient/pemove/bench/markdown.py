"""The benchmark report for one kernel as Markdown: the tables of docs/benchmarks.md.

It renders what :func:`pemove.bench.aggregate.aggregate` computed; nothing
here computes a figure or a verdict.  Each phase has one section function,
and every table is built by :func:`_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pemove.bench.common import QD32
from pemove.bench.targets import TARGETS

__all__ = ["markdown", "summary_table"]

Section = Callable[[dict[str, Any]], list[str]]

_VERDICT = {True: "met", False: "MISSED", None: "inconclusive"}


# -- cells ----------------------------------------------------------------------


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


def _kib(n_bytes: float | None, fmt: str = "{:.0f}") -> str:
    return _f(None if n_bytes is None else n_bytes / 1024, fmt)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


# -- sections -------------------------------------------------------------------


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
    for key, target in TARGETS.items():
        t = agg.get("targets", {}).get(key)
        if t is None:
            rows.append((target.text, "not measured", "-"))
        else:
            rows.append((target.text, t["value"], _VERDICT[t["met"]]))
    return "\n".join(_table(("target", "measured", "verdict"), rows))


def _iopath(io: dict[str, Any]) -> list[str]:
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
            _ratio(r["vs_pemove-notrack"]) if r["candidate"] == "pemove-track" else "",
        )
        for r in io["rows"]
    ]
    head = ("workload", "candidate", "IOPS", "MB/s", "p50 µs", "p99 µs")
    return [
        "### 1. IO-path overhead (fio, O_DIRECT, libaio)",
        "",
        "IOPS median ± half the min-max spread over repeats; latencies are fio clat "
        "medians in µs; ratios are per-repeat IOPS ratios (median).",
        "",
        *_table((*head, "/raw", "/dm-linear", "/notrack"), rows),
    ]


def _move(mv: dict[str, Any]) -> list[str]:
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
    head = ("PE MiB", "pemove MB/s", "dd MB/s", "pvmove MB/s", "/dd", "/pvmove")
    return [
        f"### 2. Move throughput (one extent between two {mv.get('device')} disks)",
        "",
        "MB/s medians; pvmove is the whole `pvmove -i 1` command.",
        "",
        *_table((*head, "hold ms", "copy ms"), rows),
    ]


def _stall(st: dict[str, Any]) -> list[str]:
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
    hold = st["hold_ms"]
    return [
        f"### 3. IO stall during moves ({st['extent_mib']} MiB LE moved back and forth)",
        "",
        f"{st['moves']} moves; PE_MOVE hold time median {_f(hold['median'], '{:.1f}')} ms, "
        f"max {_f(hold['max'], '{:.1f}')} ms; bios held per move median "
        f"{_f(st['bios_held']['median'])}, drained {_f(st['bios_drained']['median'])}.",
        "Latencies are fio clat in µs, 4k O_DIRECT QD1 per job.",
        "",
        *_table(("job", "phase", "IOPS", "p50", "p99", "p99.9", "max"), rows),
    ]


def _scaling(sc: dict[str, Any]) -> list[str]:
    read, write = QD32
    iops_rows = [
        (
            str(r["les"]),
            _kib(r["extent_bytes"] or 0),
            _ms(r[read]),
            _ratio(r[f"{read}_vs_first"]),
            _ms(r[write]),
            _ratio(r[f"{write}_vs_first"]),
        )
        for r in sc["iops"]
    ]
    memory_rows = [
        (
            str(m["les"]) + (" (notrack)" if m.get("notrack") else ""),
            _kib(m["reserve_bytes"], "{:.1f}"),
            _kib(m["slab_delta_bytes"], "{:+.0f}"),
            _kib(m["meminfo_delta_bytes"].get("VmallocUsed", 0), "{:+.0f}"),
            _kib(-m["meminfo_delta_bytes"].get("MemFree", 0), "{:+.0f}"),
            ", ".join(
                f"{c['cache']} {c['bytes'] / 1024:+.0f}"
                for c in m["top_slab_deltas"][:3]
            ),
        )
        for m in sc["memory"]
    ]
    out = [
        "### 4. Scaling",
        "",
        "IOPS of a tracked LV of the same size split into N LEs:",
        "",
        *_table(
            (
                "LEs",
                "extent KiB",
                "randread QD32",
                "vs 1 LE",
                "randwrite QD32",
                "vs 1 LE",
            ),
            iops_rows,
        ),
        "",
        "Memory per LV: the module's reserve_bytes; slab, vmalloc and used (MemFree) "
        "deltas around LV_CREATE, guest-wide:",
        "",
        *_table(
            (
                "LEs",
                "reserve KiB",
                "slab Δ KiB",
                "vmalloc Δ KiB",
                "used Δ KiB",
                "largest slab Δ (KiB)",
            ),
            memory_rows,
        ),
    ]
    fit = sc.get("reserve_fit")
    if fit:
        out += [
            "",
            f"reserve_bytes = {fit['fixed_bytes']:.0f} B + {fit['per_le_bytes']:.1f} B × LEs "
            f"(least squares; the fixed part ranges {fit['fixed_min']}–{fit['fixed_max']} B).",
        ]
    return out


#: Phase key in the aggregate -> its section, in report order.
_SECTIONS: tuple[tuple[str, Section], ...] = (
    ("iopath", _iopath),
    ("move", _move),
    ("stall", _stall),
    ("scaling", _scaling),
)


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
    for key, section in _SECTIONS:
        if agg.get(key):
            out += [*section(agg[key]), ""]
    if agg.get("errors"):
        out += ["### Errors", ""] + [f"- {e}" for e in agg["errors"]] + [""]
    return "\n".join(out)
