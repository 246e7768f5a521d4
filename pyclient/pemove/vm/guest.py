"""Inside the VM: prepare the environment, run the command, report.

``pemove vm`` runs ``python -m pemove.vm.guest [options] -- COMMAND...`` in
the guest, and so does the Vagrant VM (vagrant/guest-test.sh).  In order:

1. find the fresh disks by their virtio serial (``pemove-d0``, ...), so their
   order does not depend on probe order;
2. arm the hung-task detector with a short timeout, so a stuck IO shows up
   as a "blocked for more than" report instead of a silent timeout; under
   emulation (``--emulated``, TCG) give it the kernel's default 120 s and
   raise the soft-lockup threshold to its maximum, because a vCPU the host
   starves is not a lockup; take a
   kmemleak baseline (debug kernels), so only leaks from now on count;
3. load the module (with parameters), unless told not to; a copy left loaded
   by an earlier run in the same system is unloaded first;
4. run COMMAND with PEMOVE_GUEST, PEMOVE_KO, PEMOVE_DISKS and PEMOVE_RESULTS
   set, its stdout and stderr being ours;
5. scan kmemleak, unload the module and check that it is gone, scan again:
   a suspected leak fails the run, its backtraces kept in the results;
6. save the kernel log to ``dmesg.txt`` and write ``status.json``, the
   dedicated channel for the exit status: the host treats a missing file as
   a lost status, never as success.

The exit status is the command's; VM_FAILED (6) when the guest could not be
prepared, or when the command succeeded but the module would not unload.

The command reads its environment with :func:`in_guest`,
:func:`guest_disks` and :func:`results_file`.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pemove import exitcodes
from pemove.vm import kmemleak
from pemove.vm.devkmsg import KernelLog
from pemove.wait import wait_until

__all__ = [
    "ENV_DISKS",
    "ENV_GUEST",
    "ENV_KO",
    "ENV_RESULTS",
    "STARTED_FILE",
    "STATUS_FILE",
    "delete_module",
    "find_disks",
    "guest_disks",
    "host_only",
    "in_guest",
    "insert_module",
    "main",
    "results_file",
    "unload_when_released",
]

STATUS_FILE = "status.json"
#: Written first thing in the guest: a failed run without it failed in the
#: kernel's own boot, before anything of ours ran in the VM.
STARTED_FILE = "guest-started"
HUNG_TASK_TIMEOUT = 30
#: The hung-task timeout under emulation: the kernel's own default.  30 s
#: fired under TCG in the memory-pressure test while two VMs shared the
#: host's 2 cores: khugepaged waited 30 s in lru_add_drain_all() for the
#: other vCPU's drain work (the same boot logged a 2.4 s clocksource
#: readout gap: the vCPU was not scheduled), and the test itself passed.
EMULATED_HUNG_TASK_TIMEOUT = 120
#: The soft-lockup watchdog's maximum (it reports after twice this, 120 s).
#: Debian's 10 s (a report after 20 s) fires under TCG when the host is
#: busy: the vCPU thread is simply not scheduled.
EMULATED_WATCHDOG_THRESH = 60
#: RCU's CPU stall timeout, seconds: the kernel's maximum.  Debian's 21 s
#: fired under TCG on a busy host in the memory-pressure test ("rcu_preempt
#: kthread starved for 3863 jiffies": the vCPU, not the kernel, was stuck).
#: A real stall is still reported, after 300 s.
EMULATED_RCU_STALL_TIMEOUT = 300
SERIAL_PREFIX = "pemove-d"

# The command's environment (docs/HACKING.md, "The guest test environment").
ENV_GUEST = "PEMOVE_GUEST"
ENV_KO = "PEMOVE_KO"
ENV_DISKS = "PEMOVE_DISKS"
ENV_RESULTS = "PEMOVE_RESULTS"

# finit_module(2) and delete_module(2), called directly: no insmod/rmmod
# process, and the errno itself for whoever asks why.
_SYSCALLS = {"x86_64": (313, 176), "aarch64": (273, 106)}


class SetupError(Exception):
    """The guest could not be prepared; the command was not (fully) run."""


# -- the command's environment ------------------------------------------------


def in_guest(environ: Mapping[str, str] = os.environ) -> bool:
    """True inside a pemove VM (or the Vagrant VM): ``PEMOVE_GUEST=1``."""
    return environ.get(ENV_GUEST) == "1"


def host_only(
    prog: str, here: str, environ: Mapping[str, str] = os.environ
) -> str | None:
    """None on the host; in a guest, why ``prog`` refuses to run there and what to run instead."""
    if not in_guest(environ):
        return None
    return f"{prog}: inside a pemove VM: run '{here}' here, or '{prog}' on the host"


def guest_disks(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The fresh raw disks, in order (``PEMOVE_DISKS``); empty outside a guest."""
    return [d for d in environ.get(ENV_DISKS, "").split(":") if d]


def results_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] = os.environ
) -> Path:
    """Where a result file goes: ``path`` if absolute, else inside ``$PEMOVE_RESULTS``.

    Outside a guest (no ``PEMOVE_RESULTS``) a relative path is taken as it is.
    """
    given = Path(path)
    results = environ.get(ENV_RESULTS)
    return given if given.is_absolute() or not results else Path(results) / given


# -- preparing the guest ----------------------------------------------------------


def _disks_by_serial(sys_block: Path) -> dict[str, str]:
    found = {}
    for dev in sys_block.iterdir():
        try:
            serial = (dev / "serial").read_text().strip()
        except OSError:
            continue
        if serial.startswith(SERIAL_PREFIX):
            found[serial] = f"/dev/{dev.name}"
    return found


def find_disks(
    count: int | None, sys_block: Path = Path("/sys/block"), wait: float = 10.0
) -> list[str]:
    """Return the device nodes of disks ``pemove-d0`` .. ``pemove-d<count-1>``.

    :param count: how many; None for every one there is now, from
        ``pemove-d0`` on without a gap (a VM whose disks are all present at
        boot, such as the Vagrant one)
    :raises SetupError: a disk did not show up within *wait* seconds
    """
    if count is None:
        by_serial = _disks_by_serial(sys_block)
        count = 0
        while f"{SERIAL_PREFIX}{count}" in by_serial:
            count += 1
    wanted = [f"{SERIAL_PREFIX}{i}" for i in range(count)]

    def present() -> dict[str, str] | None:
        found = _disks_by_serial(sys_block)
        return found if all(s in found for s in wanted) else None

    try:
        by_serial = wait_until(present, wait, "the disks", interval=0.2)
    except TimeoutError:
        missing = [s for s in wanted if s not in _disks_by_serial(sys_block)]
        raise SetupError(
            f"disks with serials {', '.join(missing)} did not appear"
        ) from None
    return [by_serial[s] for s in wanted]


def arm_hung_task_detector(seconds: int = HUNG_TASK_TIMEOUT) -> None:
    """Report tasks blocked for *seconds* (only if the kernel has the detector)."""
    knob = Path("/proc/sys/kernel/hung_task_timeout_secs")
    if knob.exists():
        knob.write_text(f"{seconds}\n")


def relax_lockup_watchdog(seconds: int = EMULATED_WATCHDOG_THRESH) -> None:
    """Raise the soft-lockup threshold, for a CPU that is emulated and starved."""
    knob = Path("/proc/sys/kernel/watchdog_thresh")
    if knob.exists():
        knob.write_text(f"{seconds}\n")


def relax_rcu_stall_timeout(seconds: int = EMULATED_RCU_STALL_TIMEOUT) -> None:
    """Raise RCU's CPU stall timeout, for the same starved emulated CPU."""
    knob = Path("/sys/module/rcupdate/parameters/rcu_cpu_stall_timeout")
    if knob.exists():
        knob.write_text(f"{seconds}\n")


def check_kmemleak(results: Path, label: str) -> None:
    """Fail with SetupError if kmemleak (debug kernels only) suspects a leak."""
    problem = kmemleak.check(results, label)
    if problem is not None:
        raise SetupError(problem)


def module_name(ko: Path) -> str:
    """The name the kernel gives the module in *ko* (file name, - becomes _)."""
    return ko.name.removesuffix(".ko").replace("-", "_")


def _syscall(index: int, *args: object) -> None:
    numbers = _SYSCALLS.get(platform.machine())
    if numbers is None:
        raise OSError(
            errno.ENOSYS, f"no module syscalls known for {platform.machine()}"
        )
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(numbers[index]), *args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def insert_module(ko: Path, params: Sequence[str] = ()) -> None:
    """Load the module in *ko* with *params* (``key=value`` strings), as insmod does.

    :raises OSError: with the kernel's errno (EEXIST: loaded already)
    """
    fd = os.open(ko, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _syscall(
            0,
            ctypes.c_int(fd),
            ctypes.c_char_p(" ".join(params).encode()),
            ctypes.c_int(0),
        )
    finally:
        os.close(fd)


def delete_module(name: str) -> None:
    """Unload module *name*, as rmmod does (without waiting for its users).

    :raises OSError: with the kernel's errno: EWOULDBLOCK while something
        holds a reference (an LV, for pemove), ENOENT if it is not loaded
    """
    _syscall(1, ctypes.c_char_p(name.encode()), ctypes.c_uint(os.O_NONBLOCK))


def unload_when_released(name: str, timeout: float = 10.0) -> None:
    """:func:`delete_module`, retried while the module is in use, for ``timeout`` s.

    After its last user goes (an LV removed, udev's probe of a disk done),
    a module's last reference can take a moment to drop.

    :raises OSError: EWOULDBLOCK if it is still in use after ``timeout``, or
        another errno at once
    """

    def unloaded() -> bool:
        try:
            delete_module(name)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EBUSY):
                return False
            raise
        return True

    try:
        wait_until(unloaded, timeout, f"module {name} to be released", interval=0.1)
    except TimeoutError:
        delete_module(name)  # raises the errno it still gets


def load_module(ko: Path, params: Sequence[str]) -> None:
    """Load *ko* with *params*, after unloading a copy left by an earlier run."""
    name = module_name(ko)
    try:
        if Path("/sys/module", name).exists():
            delete_module(name)
        insert_module(ko, params)
    except OSError as exc:
        raise SetupError(
            f"loading {' '.join([str(ko), *params])} failed: {exc.strerror} "
            f"({errno.errorcode.get(exc.errno or 0, exc.errno)})"
        ) from None


def unload_module(ko: Path) -> None:
    """Unload the module of *ko* and check that it is gone."""
    name = module_name(ko)
    if not Path("/sys/module", name).exists():
        raise SetupError(f"module {name} was not loaded at the end of the command")
    try:
        delete_module(name)
    except OSError as exc:
        raise SetupError(
            f"module {name} did not unload ({exc.strerror}); "
            "the command left LVs or open devices behind"
        ) from None
    if Path("/sys/module", name).exists():
        raise SetupError(f"module {name} is still present after unloading it")


def save_dmesg(path: Path) -> None:
    """Write the whole kernel log to *path*, as ``dmesg`` prints it."""
    try:
        with KernelLog(from_start=True) as log:
            lines = log.lines()
    except OSError as exc:
        lines = [f"(the kernel log could not be read: {exc})"]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pemove.vm.guest")
    p.add_argument("--results", type=Path, required=True)
    p.add_argument(
        "--disks",
        type=lambda text: None if text == "all" else int(text),
        default=0,
        help="how many pemove-dN disks, or 'all' that are there",
    )
    p.add_argument("--ko", type=Path)
    p.add_argument("--param", action="append", default=[])
    p.add_argument("--path", help="directory to put first on PATH")
    p.add_argument(
        "--emulated",
        action="store_true",
        help="the CPU is emulated (TCG): relax the soft-lockup watchdog",
    )
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
    uptime = time.clock_gettime(time.CLOCK_BOOTTIME)
    (args.results / STARTED_FILE).write_text(f"{uptime:.3f}\n")
    status: dict[str, object] = {"exit": None, "error": None, "command": args.command}
    code = 1
    try:
        env = dict(os.environ)
        env[ENV_GUEST] = "1"
        env[ENV_RESULTS] = str(args.results)
        env[ENV_DISKS] = ":".join(find_disks(args.disks))
        # pytest cannot write its cache to the read-only root.
        env["PYTEST_ADDOPTS"] = (
            env.get("PYTEST_ADDOPTS", "") + " -p no:cacheprovider"
        ).strip()
        if args.path:
            env["PATH"] = (
                f"{args.path}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
            )
        arm_hung_task_detector(
            EMULATED_HUNG_TASK_TIMEOUT if args.emulated else HUNG_TASK_TIMEOUT
        )
        if args.emulated:
            relax_lockup_watchdog()
            relax_rcu_stall_timeout()
        try:
            kmemleak.baseline()
        except kmemleak.KmemleakError as e:
            raise SetupError(str(e)) from None
        if args.ko is not None:
            env[ENV_KO] = str(args.ko)
            load_module(args.ko, args.param)
        try:
            code = subprocess.run(args.command, env=env, check=False).returncode
            if code < 0:  # killed by a signal: report it the way a shell does
                code = 128 - code
        except OSError as e:
            print(f"pemove vm: cannot run {args.command[0]}: {e}", file=sys.stderr)
            code = 127
        status["exit"] = code
        check_kmemleak(args.results, "after-command")
        if args.ko is not None:
            unload_module(args.ko)
            check_kmemleak(args.results, "after-rmmod")
    except SetupError as e:
        status["error"] = str(e)
        if status["exit"] in (None, 0):  # a failed command keeps its own code
            code = exitcodes.VM_FAILED
        print(f"pemove vm (guest): {e}", file=sys.stderr)
    finally:
        try:
            save_dmesg(args.results / "dmesg.txt")
        finally:
            (args.results / STATUS_FILE).write_text(json.dumps(status) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
