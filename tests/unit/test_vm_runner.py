"""The VM runner's command lines, verdicts and process-group handling."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pemove import exitcodes
from pemove.vm import boot, guest, runner
from pemove.vm.kernels import Kernel
from pemove.vm.proc import Group
from pemove.wait import wait_until

K = Kernel(
    "6.12.117+deb12-amd64", Path("/boot/vmlinuz-6.12.117+deb12-amd64"), Path("/b")
)


def cfg(**kw) -> runner.VMConfig:
    base = dict(kernel=K, command=["pemove", "list", "--json"], ko=Path("/k/pemove.ko"))
    base.update(kw)
    return runner.VMConfig(**base)


def test_vng_argv_is_a_list_with_raw_disks(tmp_path):
    images = [tmp_path / "disk0.img", tmp_path / "disk1.img"]
    argv = runner.vng_argv(
        cfg(accel="tcg", memory="2G", cpus=1), tmp_path / "res", images
    )
    assert argv[:3] == ["vng", "--run", str(K.image)]
    assert "--disable-kvm" in argv
    assert argv[argv.index("--memory") + 1] == "2G"
    assert argv[argv.index("--cpus") + 1] == "1"
    assert argv[argv.index("--rwdir") + 1] == str(tmp_path / "res")
    (opts,) = [a for a in argv if a.startswith("--qemu-opts=")]
    words = opts.removeprefix("--qemu-opts=").split()
    drives = [words[i + 1] for i, w in enumerate(words) if w == "-drive"]
    assert len(drives) == 2
    for i, d in enumerate(drives):
        assert "format=raw" in d.split(",")
        assert f"file={images[i]}" in d.split(",")
    devices = [words[i + 1] for i, w in enumerate(words) if w == "-device"]
    assert [d.split("serial=")[1] for d in devices] == ["pemove-d0", "pemove-d1"]
    # The guest command comes last, after "--", unjoined.
    rest = argv[argv.index("--") + 1 :]
    assert rest[-3:] == ["pemove", "list", "--json"]


def test_kvm_run_does_not_disable_kvm(tmp_path):
    assert "--disable-kvm" not in runner.vng_argv(cfg(accel="kvm"), tmp_path, [])


def test_no_disks_no_qemu_opts(tmp_path):
    argv = runner.vng_argv(cfg(disks=0), tmp_path, [])
    assert not [a for a in argv if a.startswith("--qemu-opts")]


def test_blank_in_disk_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="blanks"):
        runner.vng_argv(cfg(), tmp_path, [tmp_path / "a b.img"])


def test_guest_argv_loads_module_with_params(tmp_path):
    argv = runner.guest_argv(
        cfg(module_params=["locked_copy=0"], disks=3), tmp_path / "r"
    )
    i = argv.index("-m")
    assert argv[i + 1] == "pemove.vm.guest"
    assert argv[argv.index("--ko") + 1] == "/k/pemove.ko"
    assert argv[argv.index("--param") + 1] == "locked_copy=0"
    assert argv[argv.index("--disks") + 1] == "3"
    assert argv[argv.index("--results") + 1] == str(tmp_path / "r")
    assert argv[argv.index("--") + 1 :] == ["pemove", "list", "--json"]


def test_guest_argv_without_module(tmp_path):
    assert "--ko" not in runner.guest_argv(cfg(ko=None), tmp_path)


def test_guest_python_avoids_guest_private_mounts(monkeypatch):
    monkeypatch.setattr(sys, "executable", "/run/venv/bin/python")
    assert runner.guest_python() == ("/usr/bin/python3", None)
    # virtme-ng overlays /tmp on the host's /tmp: a CI clone there is visible.
    monkeypatch.setattr(sys, "executable", "/tmp/ci/.venv/bin/python")
    assert runner.guest_python() == ("/tmp/ci/.venv/bin/python", "/tmp/ci/.venv/bin")
    monkeypatch.setattr(sys, "executable", "/work/x/.venv/bin/python")
    assert runner.guest_python() == ("/work/x/.venv/bin/python", "/work/x/.venv/bin")


def test_make_disks_sparse(tmp_path):
    images = runner.make_disks(tmp_path, 2, 1 << 30)
    assert [p.stat().st_size for p in images] == [1 << 30] * 2
    assert all(p.stat().st_blocks == 0 for p in images)


def write_status(d: Path, **status) -> None:
    (d / guest.STATUS_FILE).write_text(
        json.dumps({"exit": None, "error": None, **status})
    )


def test_judge_propagates_exit_code(tmp_path):
    write_status(tmp_path, exit=7)
    (tmp_path / "dmesg.txt").write_text("[ 1.0] all quiet\n")
    assert runner.judge(tmp_path, False, 60, ())[0] == 7


def test_judge_lost_status_is_its_own_error(tmp_path):
    code, reason = runner.judge(tmp_path, False, 60, ())
    assert code == exitcodes.VM_FAILED
    assert "lost" in reason


def test_judge_timeout_wins(tmp_path):
    write_status(tmp_path, exit=0)
    assert runner.judge(tmp_path, True, 90, ())[0] == exitcodes.TIMEOUT


def test_judge_splat_fails_a_passing_command(tmp_path):
    write_status(tmp_path, exit=0)
    (tmp_path / "dmesg.txt").write_text("[ 1.0] ok\n[ 2.0] WARNING: test\n")
    code, reason = runner.judge(tmp_path, False, 60, ())
    assert code == exitcodes.VM_FAILED
    assert "WARNING: test" in reason


def test_judge_splat_on_console_when_vm_died(tmp_path):
    (tmp_path / "console.log").write_text(
        "hello from the command: WARNING: not kernel\n"
        "[ 3.0] Kernel panic - not syncing: Fatal exception\n"
    )
    code, reason = runner.judge(tmp_path, False, 60, ())
    assert code == exitcodes.VM_FAILED
    assert "Kernel panic" in reason


def test_judge_command_output_is_not_a_splat(tmp_path):
    write_status(tmp_path, exit=0)
    (tmp_path / "console.log").write_text("WARNING: printed by the test command\n")
    assert runner.judge(tmp_path, False, 60, ())[0] == 0


def test_judge_guest_setup_error(tmp_path):
    write_status(tmp_path, exit=0, error="module pemove did not unload")
    code, reason = runner.judge(tmp_path, False, 60, ())
    assert code == exitcodes.VM_FAILED
    assert "did not unload" in reason


def test_outcome_lists_and_finds_the_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("status.json", "sub/junit-6.1.xml", "demo.json"):
        (tmp_path / name).write_text("{}")
    files = runner.found_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "demo.json",
        "status.json",
        "sub/junit-6.1.xml",
    ]
    out = runner.Outcome(0, "command exited with 0", tmp_path, "6.1", files)
    assert out.ok
    assert out.file("junit-6.1.xml") == tmp_path / "sub" / "junit-6.1.xml"
    assert out.file("sub/junit-6.1.xml") == tmp_path / "sub" / "junit-6.1.xml"
    assert out.file("bench-guest.json") is None
    assert out.missing("bench-guest.json") == (
        f"the VM wrote no bench-guest.json (exit 0: command exited with 0); "
        f"see the logs in {tmp_path}"
    )


def _boots(monkeypatch, tmp_path, *results):
    """Make runner._boot hand out *results* (code, started, timed_out) in turn."""
    calls: list[Path] = []

    def fake(c, deadline):
        code, started, timed_out = results[len(calls)]
        d = tmp_path / f"boot{len(calls)}"
        d.mkdir()
        if started:
            (d / guest.STARTED_FILE).write_text("5.0\n")
        calls.append(d)
        return runner.Outcome(code, f"reason {len(calls)}", d, K.release), timed_out

    monkeypatch.setattr(runner, "_boot", fake)
    return calls


def test_a_kernel_that_fails_in_its_own_boot_is_booted_once_more(monkeypatch, tmp_path):
    calls = _boots(
        monkeypatch, tmp_path, (exitcodes.VM_FAILED, False, False), (0, True, False)
    )
    out = runner.run(cfg(timeout=600))
    assert len(calls) == 2 and out.ok and out.results == calls[1]
    assert "the first failed before the guest started, reason 1" in out.reason


def test_a_second_boot_failure_is_the_verdict(monkeypatch, tmp_path):
    calls = _boots(
        monkeypatch,
        tmp_path,
        (exitcodes.VM_FAILED, False, False),
        (exitcodes.VM_FAILED, False, False),
    )
    out = runner.run(cfg(timeout=600))
    assert len(calls) == 2 and out.code == exitcodes.VM_FAILED


@pytest.mark.parametrize(
    "first",
    [
        (exitcodes.VM_FAILED, True, False),  # the guest had started: ours to answer for
        (exitcodes.TIMEOUT, False, True),  # the time is gone
        (0, False, False),  # nothing failed
    ],
)
def test_no_second_boot_after_the_guest_started_or_a_timeout(
    monkeypatch, tmp_path, first
):
    calls = _boots(monkeypatch, tmp_path, first, (0, True, False))
    out = runner.run(cfg(timeout=600))
    assert len(calls) == 1 and out.code == first[0]


def test_no_second_boot_without_time_for_it(monkeypatch, tmp_path):
    calls = _boots(
        monkeypatch, tmp_path, (exitcodes.VM_FAILED, False, False), (0, True, False)
    )
    out = runner.run(cfg(timeout=600, started=time.monotonic() - 599))
    assert len(calls) == 1 and out.code == exitcodes.VM_FAILED


def test_run_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setattr(boot.shutil, "which", lambda name: None)
    out = boot.run(["true"])
    assert (out.code, out.results, out.files) == (exitcodes.VM_FAILED, None, ())
    assert "qemu-system-x86_64 is not installed" in out.reason
    monkeypatch.setattr(boot.shutil, "which", lambda name: "/usr/bin/" + name)
    out = boot.run(["true"], kernel="9.99")
    assert out.code == exitcodes.VM_FAILED and not out.ok
    assert "no installed kernel matches '9.99'" in out.reason
    assert out.file("status.json") is None


def test_console_filter_keeps_command_stderr():
    out = io.BytesIO()
    f = runner._ConsoleFilter(out)
    f.write(b"[    1.0] kernel line\nuser err")
    f.write(b"or\nDecompressing Linux... done\n")
    assert out.getvalue() == b"user error\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is as good as gone.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _pid_written(pidfile: Path) -> Callable[[], bool]:
    return lambda: pidfile.exists() and bool(pidfile.read_text().strip())


def _wait_gone(pid: int, timeout: float) -> None:
    """The process ``pid`` ends within ``timeout`` s (a test failure otherwise)."""
    try:
        wait_until(lambda: not _alive(pid), timeout, f"process {pid} to end")
    except TimeoutError as exc:
        pytest.fail(str(exc))


def test_group_timeout_kills_grandchildren(tmp_path):
    pidfile = tmp_path / "pid"
    # The grandchild (a stand-in for QEMU) is not our child, and ignores SIGHUP.
    script = f"echo started; sleep 300 & echo $! > {pidfile}; wait"
    log = io.BytesIO()
    start = time.monotonic()
    with Group(["sh", "-c", script], stdout=log, stderr=log, log=io.BytesIO()) as g:
        wait_until(_pid_written(pidfile), 20, "the grandchild's pid", interval=0.05)
        rc = g.wait(time.monotonic() + 1.0)
    assert rc is None and g.timed_out
    assert time.monotonic() - start < 20
    grandchild = int(pidfile.read_text())
    _wait_gone(grandchild, 5)
    assert b"started" in log.getvalue()


def test_group_reaper_kills_tree_when_parent_dies(tmp_path):
    """SIGKILL the process that owns the Group: the reaper ends the tree."""
    pidfile = tmp_path / "pid"
    code = (
        "import io, sys, time\n"
        "from pemove.vm.proc import Group\n"
        f"g = Group(['sh', '-c', 'sleep 300 & echo $! > {pidfile}; wait'],"
        " stdout=io.BytesIO(), stderr=io.BytesIO(), log=io.BytesIO())\n"
        "g.__enter__()\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    wait_until(_pid_written(pidfile), 20, "the grandchild's pid", interval=0.05)
    grandchild = int(pidfile.read_text())
    parent.kill()
    parent.wait()
    _wait_gone(grandchild, 10)


def test_group_returns_exit_status():
    with Group(
        ["sh", "-c", "exit 3"],
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
        log=io.BytesIO(),
    ) as g:
        assert g.wait(time.monotonic() + 30) == 3


def test_guest_argv_tells_the_guest_its_cpu_is_emulated(tmp_path):
    """Under TCG the guest relaxes the soft-lockup watchdog (a starved vCPU)."""
    tcg = runner.guest_argv(cfg(accel="tcg"), tmp_path)
    kvm = runner.guest_argv(cfg(accel="kvm"), tmp_path)
    assert "--emulated" in tcg[: tcg.index("--")]
    assert "--emulated" not in kvm
