"""The benchmark report for one kernel as Markdown: the tables of docs/benchmarks.md.

It renders what :func:`pemove.bench.aggregate.aggregate` computed; nothing
here computes a figure or a verdict.  Each phase has one section function,
and every table is built by :func:`_table`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pemove.bench.common import CLONE_TOOLS, QD32
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


def _clocks(agg: dict[str, Any]) -> list[str]:
    clocks = agg.get("clocks") or {}
    virt = [ph for ph, c in clocks.items() if c == "virtual"]
    wall = [ph for ph, c in clocks.items() if c != "virtual"]
    out = []
    if virt:
        out.append(
            f"Deterministic boot ({', '.join(virt)}): one vCPU, -icount shift=0,sleep=off; "
            "every time in these phases is virtual: 1 ns = 1 guest instruction."
        )
    if wall:
        out.append(f"Wall-clock boot ({', '.join(wall)}): times are host time.")
    return [*out, ""] if out else []


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


def _pct(s: dict[str, Any]) -> str:
    sp = s.get("spread")
    return "-" if sp is None else f"{sp * 100:.2f}%"


def _x3(s: dict[str, Any] | None) -> str:
    if not s or s.get("median") is None:
        return "-"
    if s.get("n", 0) > 1:
        return f"{s['median']:.3f}x ({s['min']:.3f}-{s['max']:.3f})"
    return f"{s['median']:.3f}x"


def _iocost(ic: dict[str, Any], clock: str = "virtual") -> list[str]:
    unit = "virtual ns (instructions)" if clock == "virtual" else "wall-clock ns"
    rows = [
        (
            r["workload"],
            r["candidate"],
            _f(r["ns_per_io"]["median"]),
            _f(r["ns_per_io"]["min"]),
            _f(r["ns_per_io"]["max"]),
            _pct(r["ns_per_io"]),
            "yes" if r["agrees"] else "NO",
            _f(r["elapsed_ns_per_io"]["median"]),
            _f(r["warmup_ns_per_io"]),
        )
        for r in ic["rows"]
    ]
    ratio_rows = [
        (wl, name.replace("_vs_", " / ").replace("_", "-"), _x3(s))
        for wl in ic["workloads"]
        for name, s in ic["ratios"].get(wl, {}).items()
    ]
    wait = ic.get("live_max_wait_ms") or {}
    return [
        f"### 1. IO cost per IO ({'deterministic' if clock == 'virtual' else 'wall-clock'}"
        f", fio psync 4k O_DIRECT, {ic.get('ios')} IOs per run)",
        "",
        f"ns per IO: fio's mean latency per IO in {unit}, median and min-max over "
        f"{ic.get('repeats')} repeats after a discarded warm-up; spread = (max-min)/median; "
        "agrees: spread <= 1%.  elapsed: the job's run time over its IOs (fio's loop "
        "included).  pemove-live: LE 0 of the tracked LV while it moves live "
        f"({ic.get('live_moves')} moves, longest wait "
        f"{_f(wait.get('max'), '{:.2f}')} ms); pemove-track-le0 is the same IO with no move.",
        "",
        *_table(
            (
                "workload",
                "candidate",
                "ns/IO",
                "min",
                "max",
                "spread",
                "agrees",
                "elapsed ns/IO",
                "warm-up ns/IO",
            ),
            rows,
        ),
        "",
        "Ratios of ns per IO, paired by repeat (above 1: costs more), median (min-max):",
        "",
        *_table(("workload", "ratio", "value"), ratio_rows),
    ]


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
        "### 1b. IO-path overhead, time based (fio, O_DIRECT, libaio)",
        "",
        "IOPS median ± half the min-max spread over repeats; latencies are fio clat "
        "medians in µs; ratios are per-repeat IOPS ratios (median).",
        "",
        *_table((*head, "/raw", "/dm-linear", "/notrack"), rows),
    ]


#: The move table's MB/s columns: (heading, key of the row).
_MOVE_RATES = (
    ("live MB/s", "pemove-live"),
    ("whole MB/s", "pemove-whole"),
    ("kcopyd MB/s", "kcopyd"),
    ("dd MB/s", "dd"),
    ("pvmove (whole command) MB/s", "pvmove"),
)
#: The move table's ratio columns: ``live_vs_limit`` is headed ``live/limit``.
_MOVE_RATIOS = (
    "live_vs_limit",
    "live_vs_kcopyd",
    "whole_vs_limit",
    "whole_vs_kcopyd",
    "live_vs_whole",
)


def _move(mv: dict[str, Any]) -> list[str]:
    rows = [
        (
            str(r["pe_mib"]),
            *(_ms(r[key]) for _, key in _MOVE_RATES),
            *(_ratio(r[key]) for key in _MOVE_RATIOS),
        )
        for r in mv["rows"]
    ]
    lim = mv.get("device_limit") or {}
    lim_runs = ", ".join(
        f"QD{r['qd']} read {r['read_bps'] / 1e6:.0f} / write {r['write_bps'] / 1e6:.0f}"
        for r in lim.get("runs", [])
    )
    return [
        f"### 2. Move throughput (one extent between two {mv.get('device')} disks)",
        "",
        f"Device limit (fio reading the source and writing the destination at once, 1 MiB, "
        f"lower of the two rates, best QD): **{_f(lim.get('limit_mbs'))} MB/s** at "
        f"QD{lim.get('best_qd')} ({lim_runs} MB/s).",
        "MB/s medians ± half the spread, no foreground IO.  live/whole: PE_MOVE modes; "
        "kcopyd: dm-mirror resync with a core log and 2 MiB regions, timed by the "
        "table event; dd: userspace copy (1 MiB QD1 O_DIRECT); pvmove: the whole "
        "`pvmove -i 1` command (start-up, polling, metadata), no ratio taken.  "
        "The moved LV keeps an extent on each disk, so no move opens or closes a PV.",
        "",
        *_table(
            (
                "PE MiB",
                *(heading for heading, _ in _MOVE_RATES),
                *(key.replace("_vs_", "/") for key in _MOVE_RATIOS),
            ),
            rows,
        ),
        *_release(mv["rows"]),
        *_clone(mv),
    ]


def _release(rows: list[dict[str, Any]]) -> list[str]:
    """The moves that emptied their source PV, against the same moves that did not."""
    got = [r for r in rows if r.get("live_release_ms") is not None]
    if not got:
        return []
    table = [
        (
            str(r["pe_mib"]),
            _ms(r["live_empties_ms"]),
            _f(r["live_release_ms"], "{:.1f}"),
            _ms(r.get("whole_empties_ms") or {}),
            _f(r.get("whole_release_ms"), "{:.1f}"),
        )
        for r in got
    ]
    return [
        "",
        "**The PV release.** The same moves of a one-extent LV, each of which empties "
        "its source PV, in ms, and what that adds to the median move above: the module "
        "closes an emptied PV before PE_MOVE returns, and the close waits one RCU grace "
        "period for the PV's IO (docs/benchmarks.md).  An evacuation pays it once per "
        "disk, not per extent.",
        "",
        *_table(
            (
                "PE MiB",
                "live, emptying ms",
                "live +ms",
                "whole, emptying ms",
                "whole +ms",
            ),
            table,
        ),
    ]


#: The dm-clone table's columns after the PE size: (heading, key of the row);
#: the MB/s columns are the tools themselves, the rest ratios of MB/s.
_CLONE_COLUMNS = (
    ("dm-clone MB/s", "dm-clone"),
    ("dm-clone tuned MB/s", "dm-clone-tuned"),
    ("live/dm-clone", "live_vs_dm-clone"),
    ("whole/dm-clone", "whole_vs_dm-clone"),
    ("kcopyd/dm-clone", "kcopyd_vs_dm-clone"),
    ("live/tuned", "live_vs_dm-clone-tuned"),
    ("whole/tuned", "whole_vs_dm-clone-tuned"),
    ("kcopyd/tuned", "kcopyd_vs_dm-clone-tuned"),
)


def _clone(mv: dict[str, Any]) -> list[str]:
    """dm-clone's hydration against the same boot's pemove and kcopyd, or why
    there is none (a kernel without dm-clone)."""
    rows = mv["rows"]
    absent = {t: why for t, why in (mv.get("absent") or {}).items() if t in CLONE_TOOLS}
    measured = any(r.get(t, {}).get("median") for r in rows for t in CLONE_TOOLS)
    if not measured and not absent:
        return []  # a result file from before the dm-clone peer

    def cell(r: dict[str, Any], key: str) -> str:
        tool = key.rsplit("_vs_", 1)[-1]
        if tool in absent:
            # "no dm-clone in this kernel: modprobe ...": the cell takes the head.
            return f"n/a ({absent[tool].split(':', 1)[0]})" if tool == key else "n/a"
        return _ms(r[key]) if tool == key else _ratio(r.get(key))

    table = [
        (str(r["pe_mib"]), *(cell(r, key) for _, key in _CLONE_COLUMNS)) for r in rows
    ]
    why = sorted(set(absent.values()))
    return [
        "",
        "**dm-clone hydration** (a kcopyd user like dm-mirror, measured where the "
        "kernel has dm-clone): the same disks and extent, 2 MiB regions, MB/s medians "
        "± half the spread and ratios of the medians, same boot.  dm-clone: its defaults "
        "(one region, one kcopyd job, in flight: dm-mirror's recovery pattern), timed "
        'to its "hydrated" table event, which dm-clone raises only from a metadata '
        "commit, made at most once per 1 s commit period and after the copy on a 1 s "
        "tick: about a second after the last region (up to two), so at small extents "
        "the figure is mostly that wait.  tuned: "
        "`hydration_threshold` and `hydration_batch_size` = the extent's regions (one "
        "kcopyd job), the table loaded a commit period before the resume, so the event "
        "marks the end of the copy.",
        "",
        *_table(("PE MiB", *(heading for heading, _ in _CLONE_COLUMNS)), table),
        *(["", *(f"Not measured: {w}." for w in why)] if why else []),
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
    mode_rows = []
    for mode, m in st.get("modes", {}).items():
        c = st.get("lv_counters", {}).get(mode, {})
        mode_rows.append(
            (
                mode,
                str(m["moves"]),
                _f(m["seconds"]["median"], "{:.2f}"),
                _f(m["max_wait_ms"].get("max"), "{:.2f}"),
                _f(m["hold_ms"].get("max"), "{:.2f}"),
                _f(m["writes_waited"].get("median")),
                _f(m["writes_mirrored"].get("median")),
                str(c.get("reads_held", "-")),
            )
        )
    return [
        f"### 3. IO stall during moves ({st['extent_mib']} MiB LE moved back and forth)",
        "",
        "Same four fio probes (4k O_DIRECT QD1: a writer and a reader on the moving "
        "LE and on another LE) idle and during whole-mode moves, live moves and LVM2 "
        "pvmove of the same extent, in one boot; idle-lvm is the LVM2 LV with "
        "nothing moving.  clat in µs.",
        "",
        *_table(("job", "run", "IOPS", "p50", "p99", "p99.9", "max"), rows),
        "",
        "Per mode: the longest wait PE_MOVE reports (max_wait_ns; pvmove reports "
        "none), the whole-mode hold, writes that waited or were mirrored (median per "
        "move), and reads held over the run (the LV's counter):",
        "",
        *_table(
            (
                "mode",
                "moves",
                "s per move",
                "longest wait ms",
                "hold ms (max)",
                "writes waited",
                "writes mirrored",
                "reads held",
            ),
            mode_rows,
        ),
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
    ("iocost", _iocost),
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
        *_clocks(agg),
        *_sources(agg),
        "### Targets",
        "",
        summary_table(agg),
        "",
    ]
    for key, section in _SECTIONS:
        if agg.get(key):
            if key == "iocost":
                out += [*_iocost(agg[key], agg.get("clocks", {}).get(key, "wall")), ""]
            else:
                out += [*section(agg[key]), ""]
    if agg.get("errors"):
        out += ["### Errors", ""] + [f"- {e}" for e in agg["errors"]] + [""]
    return "\n".join(out)
