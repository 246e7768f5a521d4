"""The deterministic bench: runner options, io cost figures and agreement, the
kcopyd helper's parsing, the three-way stall and the restated targets."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pemove.bench import aggregate, cli, dmctl, iocost, kcopyd, markdown, targets
from pemove.vm import cli as vm_cli
from pemove.vm import runner
from pemove.vm.kernels import Kernel

K = Kernel(
    "6.12.117+deb12-amd64", Path("/boot/vmlinuz-6.12.117+deb12-amd64"), Path("/b")
)


def _cfg(**kw) -> runner.VMConfig:
    return runner.VMConfig(kernel=K, command=["true"], **kw)


# -- runner -----------------------------------------------------------------------


def test_deterministic_run_is_one_vcpu_tcg_with_icount(tmp_path):
    argv = runner.vng_argv(
        _cfg(deterministic=True, cpus=2, accel="kvm"), tmp_path, [tmp_path / "d.img"]
    )
    assert "--disable-kvm" in argv
    assert argv[argv.index("--cpus") + 1] == "1"
    (opts,) = [a for a in argv if a.startswith("--qemu-opts=")]
    words = opts.removeprefix("--qemu-opts=").split()
    assert words[:2] == ["-icount", "shift=0,sleep=off"]
    assert "-drive" in words


def test_extra_qemu_opts_pass_through_and_blanks_are_refused(tmp_path):
    argv = runner.vng_argv(_cfg(qemu_opts=["-rtc", "clock=vm"]), tmp_path, [])
    (opts,) = [a for a in argv if a.startswith("--qemu-opts=")]
    assert opts == "--qemu-opts=-rtc clock=vm"
    with pytest.raises(ValueError, match="blanks"):
        runner.vng_argv(_cfg(qemu_opts=["a b"]), tmp_path, [])


def test_qemu_opts_are_split_like_a_shell():
    assert vm_cli.qemu_opts(["-icount shift=0", "-rtc clock=vm"]) == [
        "-icount",
        "shift=0",
        "-rtc",
        "clock=vm",
    ]


def test_bench_is_deterministic_by_default_and_tells_the_guest():
    p = argparse.ArgumentParser()
    cli._add_arguments(p)
    args = p.parse_args([])
    assert args.deterministic is True
    assert "--deterministic" in cli.guest_argv(args)
    args = p.parse_args(["--no-deterministic", "--only", "iopath"])
    argv = cli.guest_argv(args)
    assert "--deterministic" not in argv
    assert argv[argv.index("--only") + 1] == "iopath"


def test_iocost_jobs_are_fixed_counts_with_a_fixed_seed():
    glob = iocost.fixed_args()
    assert "--ioengine=psync" in glob and "--randrepeat=1" in glob
    assert not any(a.startswith("--time_based") for a in glob)
    job = iocost.job_argv(
        "raw", "/dev/ram1", iocost.IOCOST_WORKLOADS[0], size=32 << 20, ios=20000
    )
    assert "--number_ios=20000" in job
    assert f"--io_size={20000 * 4096}" in job


def test_every_iocost_fio_call_starts_with_a_prime_job_it_drops(monkeypatch):
    wl = iocost.IOCOST_WORKLOADS[1]
    args = iocost.primed("/dev/ram1", wl, size=32 << 20)
    assert args[: len(iocost.fixed_args())] == iocost.fixed_args()
    assert "--name=prime" in args and f"--number_ios={iocost.PRIME_IOS}" in args
    monkeypatch.setattr(
        iocost.fio, "run", lambda a, t: [{"name": "prime"}, {"name": "raw"}]
    )
    assert iocost.run_primed(args, 1.0) == [{"name": "raw"}]


# -- io cost ----------------------------------------------------------------------


def _iocost(ns: dict[str, list[float]], warm: float = 9999.0) -> dict:
    """An io cost document: per candidate, ns per IO of repeats 1..n (0 is warm-up)."""
    runs = []
    for cand, reps in ns.items():
        for wl in iocost.IOCOST_WORKLOADS:
            for rep, v in enumerate([warm, *reps]):
                runs.append(
                    {
                        "candidate": cand,
                        "workload": wl.name,
                        "rep": rep,
                        "ios": 20000,
                        "lat_mean_ns": v,
                        "runtime_ms": v * 20000 / 1e6 * 1.5,
                    }
                )
    return {
        "ios": 20000,
        "repeats": max(len(v) for v in ns.values()),
        "warmup_reps": [0],
        "workloads": [wl.__dict__ for wl in iocost.IOCOST_WORKLOADS],
        "runs": runs,
        "live_moves": [{"max_wait_ns": 2_000_000}, {"max_wait_ns": 500_000}],
    }


def _ic_row(agg: dict, cand: str) -> dict:
    wl = iocost.IOCOST_WORKLOADS[0].name
    return next(
        r
        for r in agg["iocost"]["rows"]
        if r["candidate"] == cand and r["workload"] == wl
    )


def test_iocost_drops_the_warm_up_and_pairs_ratios():
    doc = {
        "clock": "virtual",
        "iocost": _iocost(
            {
                "raw": [4000, 4004, 4002],
                "dm-linear": [4600, 4605, 4601],
                "pemove-notrack": [4500, 4503, 4502],
                "pemove-track": [4590, 4594, 4592],
            }
        ),
    }
    agg = aggregate.aggregate(doc)
    raw = _ic_row(agg, "raw")
    assert raw["ns_per_io"]["median"] == 4002
    assert raw["ns_per_io"]["n"] == 3  # the warm-up is not among them
    assert raw["warmup_ns_per_io"] == 9999.0
    assert raw["agrees"] is True
    assert raw["elapsed_ns_per_io"]["median"] == pytest.approx(4002 * 1.5)
    wl = iocost.IOCOST_WORKLOADS[0].name
    r = agg["iocost"]["ratios"][wl]["track_vs_notrack"]
    assert r["median"] == pytest.approx(4592 / 4502, abs=1e-3)
    t = agg["targets"]
    assert t["tracking_cost"]["met"] is True  # 1.02x <= 1.03x
    assert "agree within" in t["tracking_cost"]["note"]
    assert t["track_vs_dm_linear_cost"]["met"] is True  # 0.998x
    assert t["live_max_wait"]["met"] is True
    assert t["live_max_wait"]["value"] == "2.00 ms"


def test_iocost_missed_and_not_a_finding_when_repeats_disagree():
    over = {
        "raw": [4000, 4000],
        "dm-linear": [4000, 4000],
        "pemove-notrack": [4000, 4000],
        "pemove-track": [4200, 4201],
    }
    t = aggregate.aggregate({"iocost": _iocost(over)})["targets"]
    assert t["tracking_cost"]["met"] is False  # 1.05x
    assert t["track_vs_dm_linear_cost"]["met"] is False
    noisy = dict(over, **{"pemove-track": [4000, 4100]})  # 2.5% spread
    agg = aggregate.aggregate({"iocost": _iocost(noisy)})
    assert _ic_row(agg, "pemove-track")["agrees"] is False
    assert agg["targets"]["tracking_cost"]["met"] is None
    assert "not a finding" in agg["targets"]["tracking_cost"]["note"]


def test_judge_at_most():
    assert targets.judge_at_most([(0.9, 1.0)], 1.03) is True
    assert targets.judge_at_most([(1.0, 1.05)], 1.03) is None
    assert targets.judge_at_most([(1.04, 1.05), (1.0, 1.05)], 1.03) is False
    assert targets.judge_at_most([(None, 1.0)], 1.03) is None


def test_iocost_markdown_names_the_clock():
    doc = {
        "kernel": "6.12-test",
        "clock": "virtual",
        "iocost": _iocost({"raw": [4000, 4001], "pemove-track": [4100, 4100]}),
    }
    text = markdown.markdown(aggregate.aggregate(doc))
    assert "### 1. IO cost per IO (deterministic" in text
    assert "virtual ns (instructions)" in text
    assert "1 ns = 1 guest instruction" in text


# -- kcopyd -----------------------------------------------------------------------


def test_mirror_table_and_status():
    t = kcopyd.mirror_table("/dev/ram0", "/dev/ram1", 131072, 4096, 0, 8)
    assert t == "0 131072 mirror core 1 4096 2 /dev/ram0 0 /dev/ram1 8 1 handle_errors"
    assert kcopyd.parse_mirror_status("2 1:0 1:1 31/32 1 AA 1 core") == (31, 32)
    assert kcopyd.parse_mirror_status("3 1:0 1:1 1:2 5/5 1 AAA 1 core") == (5, 5)


def test_dm_ioctl_layout():
    # struct dm_ioctl is 312 bytes; DM_DEV_WAIT is _IOWR(0xfd, 8, struct dm_ioctl).
    assert dmctl._DM_IOCTL.size == 312
    assert dmctl._DM_DEV_WAIT == 0xC138FD08
    assert dmctl._DM_TARGET_SPEC.size == 40
    # DM_LIST_VERSIONS is _IOWR(0xfd, 13, struct dm_ioctl).
    assert dmctl._DM_LIST_VERSIONS == 0xC138FD0D


# -- stall ------------------------------------------------------------------------


def _stall(live_max: float, pv_max: float, reads_held: int = 0) -> dict:
    jobs = []
    for phase, mx in (
        ("idle", 100e3),
        ("whole", 90e6),
        ("live", live_max),
        ("idle-lvm", 100e3),
        ("pvmove", pv_max),
    ):
        for name in ("write-moving-le", "read-moving-le", "write-other-le"):
            jobs.append(
                {
                    "phase": phase,
                    "name": name,
                    "iops": 1000.0,
                    "p50_ns": 50e3,
                    "p99_ns": 80e3,
                    "p999_ns": mx / 2,
                    "max_ns": mx,
                }
            )
    moves = [
        {"mode": "whole", "seconds": 0.1, "hold_ns": 90e6, "max_wait_ns": 90e6},
        {"mode": "live", "seconds": 0.1, "hold_ns": 0, "max_wait_ns": 3e6},
        {"mode": "pvmove", "seconds": 2.0, "command_s": 2.0},
    ]
    return {
        "extent_mib": 64,
        "jobs": jobs,
        "moves": moves,
        "lv_counters": {"live": {"held": 7, "reads_held": reads_held}},
        "errors": [],
    }


def test_three_way_stall_and_its_targets():
    agg = aggregate.aggregate({"stall": _stall(5e6, 40e6)})
    st = agg["stall"]
    assert st["phases"] == ["idle", "whole", "live", "idle-lvm", "pvmove"]
    assert st["modes"]["live"]["max_wait_ms"]["max"] == pytest.approx(3.0)
    assert st["modes"]["pvmove"]["max_wait_ms"]["n"] == 0
    t = agg["targets"]
    assert t["live_stall_vs_pvmove"]["met"] is True
    assert t["live_max_wait"]["met"] is True
    assert t["reads_held"]["met"] is True
    worse = aggregate.aggregate({"stall": _stall(50e6, 40e6, reads_held=2)})
    assert worse["targets"]["live_stall_vs_pvmove"]["met"] is False
    assert worse["targets"]["reads_held"]["met"] is False
    text = markdown.markdown(agg)
    assert "| write-moving-le | pvmove |" in text
    assert "longest wait ms" in text


def test_every_target_is_in_the_summary():
    text = markdown.summary_table({"targets": {}})
    for t in targets.TARGETS.values():
        assert t.text in text
