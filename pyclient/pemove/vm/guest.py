"""Inside the VM: prepare the environment, run the command, report.

``pemove vm`` runs ``python -m pemove.vm.guest [options] -- COMMAND...`` in
the guest.  In order:

1. find the fresh disks by their virtio serial (``pemove-d0``, ...), so their
   order does not depend on probe order;
2. arm the hung-task detector with a short timeout, so a stuck IO shows up
   as a "blocked for more than" report instead of a silent timeout;
3. load the module (``insmod``, with parameters), unless told not to;
4. run COMMAND with PEMOVE_GUEST, PEMOVE_KO, PEMOVE_DISKS and PEMOVE_RESULTS
   set, its stdout and stderr being ours;
5. unload the module and check that it is gone;
6. save the kernel log to ``dmesg.txt`` and write ``status.json``, the
   dedicated channel for the exit status: the host treats a missing file as
   a lost status, never as success.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["STATUS_FILE", "find_disks", "main"]

STATUS_FILE = "status.json"
HUNG_TASK_TIMEOUT = 30
SERIAL_PREFIX = "pemove-d"


class SetupError(Exception):
    """The guest could not be prepared; the command was not (fully) run."""


def find_disks(
    count: int, sys_block: Path = Path("/sys/block"), wait: float = 10.0
) -> list[str]:
    """Return the device nodes of disks ``pemove-d0`` .. ``pemove-d<count-1>``.

    :raises SetupError: a disk did not show up within *wait* seconds
    """
    deadline = time.monotonic() + wait
    while True:
        by_serial = {}
        for dev in sys_block.iterdir():
            try:
                serial = (dev / "serial").read_text().strip()
            except OSError:
                continue
            if serial.startswith(SERIAL_PREFIX):
                by_serial[serial] = f"/dev/{dev.name}"
        wanted = [f"{SERIAL_PREFIX}{i}" for i in range(count)]
        missing = [s for s in wanted if s not in by_serial]
        if not missing:
            return [by_serial[s] for s in wanted]
        if time.monotonic() >= deadline:
            raise SetupError(f"disks with serials {', '.join(missing)} did not appear")
        time.sleep(0.2)


def arm_hung_task_detector(seconds: int = HUNG_TASK_TIMEOUT) -> None:
    """Report tasks blocked for *seconds* (only if the kernel has the detector)."""
    knob = Path("/proc/sys/kernel/hung_task_timeout_secs")
    if knob.exists():
        knob.write_text(f"{seconds}\n")


def module_name(ko: Path) -> str:
    """The name the kernel gives the module in *ko* (file name, - becomes _)."""
    return ko.name.removesuffix(".ko").replace("-", "_")


def load_module(ko: Path, params: Sequence[str]) -> None:
    """insmod *ko* with *params* (``key=value`` strings)."""
    res = subprocess.run(
        ["insmod", str(ko), *params], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SetupError(f"insmod {ko} {' '.join(params)} failed: {res.stderr.strip()}")


def unload_module(ko: Path) -> None:
    """rmmod the module of *ko* and check that it is gone."""
    name = module_name(ko)
    if not Path("/sys/module", name).exists():
        raise SetupError(f"module {name} was not loaded at the end of the command")
    res = subprocess.run(["rmmod", name], capture_output=True, text=True, check=False)
    if res.returncode != 0 or Path("/sys/module", name).exists():
        raise SetupError(
            f"module {name} did not unload ({res.stderr.strip() or 'still present'}); "
            "the command left LVs or open devices behind"
        )


def save_dmesg(path: Path) -> None:
    """Write the whole kernel log to *path*."""
    res = subprocess.run(["dmesg"], capture_output=True, check=False)
    path.write_bytes(res.stdout)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pemove.vm.guest")
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--disks", type=int, default=0)
    p.add_argument("--ko", type=Path)
    p.add_argument("--param", action="append", default=[])
    p.add_argument("--path", help="directory to put first on PATH")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        p.error("no command given")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the guest side of ``pemove vm``; returns the command's exit code."""
    args = _parse(argv)
    status: dict[str, object] = {"exit": None, "error": None, "command": args.command}
    code = 1
    try:
        env = dict(os.environ)
        env["PEMOVE_GUEST"] = "1"
        env["PEMOVE_RESULTS"] = str(args.results)
        env["PEMOVE_DISKS"] = ":".join(find_disks(args.disks))
        # pytest cannot write its cache to the read-only root.
        env["PYTEST_ADDOPTS"] = (
            env.get("PYTEST_ADDOPTS", "") + " -p no:cacheprovider"
        ).strip()
        if args.path:
            env["PATH"] = (
                f"{args.path}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
            )
        arm_hung_task_detector()
        if args.ko is not None:
            env["PEMOVE_KO"] = str(args.ko)
            load_module(args.ko, args.param)
        try:
            code = subprocess.run(args.command, env=env, check=False).returncode
            if code < 0:  # killed by a signal: report it the way a shell does
                code = 128 - code
        except OSError as e:
            print(f"pemove vm: cannot run {args.command[0]}: {e}", file=sys.stderr)
            code = 127
        status["exit"] = code
        if args.ko is not None:
            unload_module(args.ko)
    except SetupError as e:
        status["error"] = str(e)
        print(f"pemove vm (guest): {e}", file=sys.stderr)
    finally:
        try:
            save_dmesg(args.results / "dmesg.txt")
        finally:
            (args.results / STATUS_FILE).write_text(json.dumps(status) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
