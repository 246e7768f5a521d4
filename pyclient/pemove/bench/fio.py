"""Run fio with JSON output and reduce each job to the figures the benchmarks report.

fio is driven by an argv list (no job file, no shell).  Jobs given in one
call run one after the other (``stonewall``), so one fio start-up serves
several workloads.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FioError", "Workload", "WORKLOADS", "job_args", "parse", "run"]

# clat percentiles fio is asked for; parse() reads these keys back.
PERCENTILES = ("50", "99", "99.9")


class FioError(RuntimeError):
    """fio failed or printed something that is not its JSON report."""


@dataclass(frozen=True)
class Workload:
    """One fio workload: pattern, block size and queue depth."""

    name: str
    rw: str
    bs: str
    iodepth: int

    @property
    def is_write(self) -> bool:
        """Whether the workload writes (so its figures are under "write")."""
        return "write" in self.rw


#: The IO-path workloads of the issue: 4k random at QD1 and QD32, 1M sequential.
WORKLOADS = (
    Workload("randread-4k-qd1", "randread", "4k", 1),
    Workload("randread-4k-qd32", "randread", "4k", 32),
    Workload("randwrite-4k-qd1", "randwrite", "4k", 1),
    Workload("randwrite-4k-qd32", "randwrite", "4k", 32),
    Workload("read-1m-qd4", "read", "1M", 4),
    Workload("write-1m-qd4", "write", "1M", 4),
)


def global_args(runtime: float, ramp: float = 0) -> list[str]:
    """Options shared by every benchmark job: O_DIRECT libaio, time based."""
    args = [
        "--output-format=json",
        "--ioengine=libaio",
        "--direct=1",
        "--time_based=1",
        f"--runtime={runtime:g}s",
        "--norandommap=1",
        "--randrepeat=0",
        "--group_reporting=0",
        "--percentile_list=" + ":".join(PERCENTILES),
        # No state files in a read-only cwd, no verification overhead.
        "--verify_state_save=0",
    ]
    if ramp:
        args.append(f"--ramp_time={ramp:g}s")
    return args


def job_args(
    name: str,
    filename: str,
    wl: Workload,
    *,
    size: int,
    offset: int = 0,
    stonewall: bool = True,
) -> list[str]:
    """The argv of one job; with ``stonewall`` it starts after the previous one ends."""
    args = [
        f"--name={name}",
        f"--filename={filename}",
        f"--rw={wl.rw}",
        f"--bs={wl.bs}",
        f"--iodepth={wl.iodepth}",
        f"--offset={offset}",
        f"--size={size}",
    ]
    return args + ["--stonewall"] if stonewall else args


def _pct(clat: dict[str, Any], key: str) -> float | None:
    table = clat.get("percentile") or {}
    want = float(key)
    for k, v in table.items():
        if abs(float(k) - want) < 1e-6:
            return float(v)
    return None


def reduce_job(job: dict[str, Any]) -> dict[str, Any]:
    """IOPS, bandwidth and clat percentiles of one fio job (reads and writes summed).

    Latencies are in nanoseconds; the percentiles and max are those of the
    direction that did the most IO.
    """
    read, write = job.get("read", {}), job.get("write", {})
    main = write if write.get("total_ios", 0) > read.get("total_ios", 0) else read
    clat = main.get("clat_ns", {})
    return {
        "name": job.get("jobname"),
        "iops": float(read.get("iops", 0)) + float(write.get("iops", 0)),
        "bw_bytes": float(read.get("bw_bytes", 0)) + float(write.get("bw_bytes", 0)),
        "ios": int(read.get("total_ios", 0)) + int(write.get("total_ios", 0)),
        "p50_ns": _pct(clat, "50"),
        "p99_ns": _pct(clat, "99"),
        "p999_ns": _pct(clat, "99.9"),
        "max_ns": float(clat["max"]) if "max" in clat else None,
        "mean_ns": float(clat["mean"]) if "mean" in clat else None,
        # Submission to completion (for psync: the whole syscall), mean.
        "lat_mean_ns": (
            float(main["lat_ns"]["mean"]) if "mean" in main.get("lat_ns", {}) else None
        ),
        # The job's elapsed time, fio's own loop included (ms, as fio gives it).
        "runtime_ms": int(job["job_runtime"]) if "job_runtime" in job else None,
        "errors": int(job.get("error", 0)),
    }


def parse(text: str) -> list[dict[str, Any]]:
    """Reduce fio's ``--output-format=json`` report to one dict per job.

    fio may print warnings before the JSON; they are skipped.
    """
    start = text.find("{")
    if start < 0:
        raise FioError(f"fio printed no JSON: {text.strip()[:300]}")
    try:
        doc = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise FioError(
            f"fio's JSON did not parse ({exc}): {text[start : start + 300]}"
        ) from None
    return [reduce_job(j) for j in doc.get("jobs", [])]


def run(args: Sequence[str], timeout: float) -> list[dict[str, Any]]:
    """Run ``fio ARGS`` and return :func:`parse` of its report.

    :raises FioError: fio is missing, failed, or timed out
    """
    argv = ["fio", *args]
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise FioError("fio is not installed; apt-get install fio") from None
    except subprocess.TimeoutExpired:
        raise FioError(f"fio did not finish within {timeout:g} s") from None
    if res.returncode != 0:
        raise FioError(
            f"fio exited {res.returncode}: {(res.stderr or res.stdout).strip()[:500]}"
        )
    return parse(res.stdout)
