"""Boot a kernel with virtme-ng, run one command in it, judge the result.

One run, in order: make N fresh sparse raw disks, start ``vng`` in its own
session with a hard deadline covering the boot, stream the guest's output
while keeping all of it in ``console.log``, then decide the exit status from
the guest's own status file (never from vng's exit code alone), the saved
dmesg and the console.

Results of a run: ``<results>/<YYYYmmdd-HHMMSS>-<release>/`` with
``console.log``, ``dmesg.txt``, ``status.json`` and whatever the command
wrote to ``$PEMOVE_RESULTS``; the :class:`Outcome` lists them.  Callers use
:func:`pemove.vm.run`, which builds the :class:`VMConfig`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pemove import exitcodes
from pemove.vm import guest, kmsg
from pemove.vm.kernels import Kernel
from pemove.vm.proc import Group

__all__ = [
    "DETERMINISTIC_QEMU_OPTS",
    "Outcome",
    "VMConfig",
    "boot_failed",
    "guest_argv",
    "judge",
    "run",
    "vng_argv",
]

# Guest disks are found by these virtio serial numbers, in order.
DISK_SERIAL = "pemove-d{}"

#: QEMU options of a deterministic run: the guest clock counts executed
#: instructions (one virtual ns each, ``shift=0``) and skips idle time
#: (``sleep=off``), so a guest's ns are the same on every run and host.
#: icount needs TCG; QEMU then runs its one vCPU single-threaded.
DETERMINISTIC_QEMU_OPTS = ("-icount", "shift=0,sleep=off")

# Kernel console lines (printk timestamps, and the decompressor's chatter
# before the kernel starts) go to console.log only, not to our stderr.
_CONSOLE_LINE = re.compile(
    rb"^(\[\s*\d+\.\d+\]|Decompressing Linux|Parsing ELF|Booting the kernel|"
    rb"early console|Memory KASLR|Poking KASLR|Physical KASLR|Virtual KASLR|"
    rb"DD \(edd=off|Probing EDD|virtme: waiting for virtiofsd|virtme-run: failed to start)"
)

# Paths that are private to the guest, not shared with it.  virtme-ng puts a
# writable overlay on /tmp whose lower layer is the host's /tmp, so a venv
# there (a CI clone, say) is visible in the guest and must be used.
_GUEST_PRIVATE = ("/run/", "/dev/", "/proc/", "/sys/")

#: The directory holding the ``pemove`` package, which the guest imports
#: through PYTHONPATH.
PYCLIENT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class VMConfig:
    """Everything one ``pemove vm`` run needs.

    :ivar kernel: the kernel to boot
    :ivar command: the guest command, an argv list
    :ivar ko: the module to load, or None (--no-module)
    :ivar results: the parent of the per-run results directories
    :ivar cwd: the directory the command runs in (default: ours)
    :ivar stdout: where the guest's stdout goes (default: our stdout)
    :ivar stderr: where the guest's stderr goes, kernel console lines
        filtered out (default: our stderr)
    :ivar qemu_opts: extra QEMU arguments, appended after the runner's own
    :ivar deterministic: one vCPU under TCG with
        :data:`DETERMINISTIC_QEMU_OPTS` (``cpus`` and ``accel`` are then
        overridden)
    """

    kernel: Kernel
    command: list[str]
    ko: Path | None = None
    disks: int = 4
    disk_size: int = 1 << 30
    memory: str = "1G"
    cpus: int = 2
    timeout: float = 600.0
    accel: str = "tcg"
    results: Path = Path("results/vm")
    module_params: list[str] = dataclasses.field(default_factory=list)
    allow: Sequence[str] = kmsg.DEFAULT_ALLOW
    #: time.monotonic() when the run began (the module build included);
    #: the timeout counts from here.  None: from the start of :func:`run`.
    started: float | None = None
    cwd: Path | None = None
    stdout: IO[bytes] | None = None
    stderr: IO[bytes] | None = None
    qemu_opts: list[str] = dataclasses.field(default_factory=list)
    deterministic: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended.

    :ivar code: the exit code for ``pemove vm``: the command's own, or
        VM_FAILED, TIMEOUT (see :func:`judge`)
    :ivar reason: why, in one line
    :ivar results: the run's results directory; None if the run failed
        before it had one (no kernel, a module that did not build)
    :ivar release: the kernel release that was (or was to be) booted
    :ivar files: every file in ``results`` after the run, sorted
    """

    code: int
    reason: str
    results: Path | None
    release: str | None = None
    files: tuple[Path, ...] = ()

    @property
    def ok(self) -> bool:
        """The command ran and exited 0, and the kernel reported no problem."""
        return self.code == exitcodes.OK

    def file(self, name: str) -> Path | None:
        """The result file called ``name`` (a file name, or a path inside ``results``)."""
        for path in self.files:
            if path.name == name or (
                self.results is not None and path == self.results / name
            ):
                return path
        return None

    def missing(self, name: str) -> str:
        """Why the result file ``name`` is not there, for a person: exit, reason, logs."""
        where = f"the logs in {self.results}" if self.results else "the message above"
        return f"the VM wrote no {name} (exit {self.code}: {self.reason}); see {where}"

    @classmethod
    def failed(cls, reason: str, release: str | None = None) -> Outcome:
        """A run that failed before the VM could start."""
        return cls(exitcodes.VM_FAILED, reason, None, release)


def found_files(results_dir: Path) -> tuple[Path, ...]:
    """Every regular file under ``results_dir``, sorted."""
    return tuple(sorted(p for p in results_dir.rglob("*") if p.is_file()))


def disk_opts(images: Sequence[Path]) -> list[str]:
    """QEMU arguments attaching *images* as raw virtio disks with known serials.

    ``format=raw`` is explicit: when QEMU guesses the format it refuses
    writes to sector 0 of a raw image.
    """
    opts = []
    for i, img in enumerate(images):
        opts += [
            "-drive",
            f"if=none,id=pemove{i},format=raw,cache=unsafe,file={img}",
            "-device",
            f"virtio-blk-pci,drive=pemove{i},serial={DISK_SERIAL.format(i)}",
        ]
    return opts


def guest_python() -> tuple[str, str | None]:
    """The python the guest runs, and a bin dir to put first on its PATH.

    The guest sees the host's root file system read-only (with an overlay
    over /tmp that still shows the host's files).  Only an interpreter under
    a guest-private mount is invisible there; then the system python3 is
    used, with the package found through PYTHONPATH.
    """
    exe = sys.executable
    if exe and not exe.startswith(_GUEST_PRIVATE):
        return exe, str(Path(exe).parent)
    return "/usr/bin/python3", None


def guest_argv(cfg: VMConfig, results_dir: Path) -> list[str]:
    """The argv run inside the guest: :mod:`pemove.vm.guest` around the command."""
    python, bindir = guest_python()
    argv = ["env", f"PYTHONPATH={PYCLIENT}", "PYTHONDONTWRITEBYTECODE=1"]
    argv += [python, "-m", guest.__name__, "--results", str(results_dir)]
    argv += ["--disks", str(cfg.disks)]
    if bindir:
        argv += ["--path", bindir]
    if cfg.accel == "tcg":
        argv.append("--emulated")
    if cfg.ko is not None:
        argv += ["--ko", str(cfg.ko)]
    for param in cfg.module_params:
        argv += ["--param", param]
    return argv + ["--", *cfg.command]


def vng_argv(
    cfg: VMConfig, results_dir: Path, images: Sequence[Path], vng: str = "vng"
) -> list[str]:
    """The host command line: vng booting *cfg.kernel* with *images* attached."""
    # --verbose puts the kernel console on stderr, for console.log.  9p
    # straight away: virtiofsd needs a working FUSE on the host, and a
    # failed try only delays the boot before vng falls back to 9p anyway.
    # Kernel.image is what vng --run takes: the image file, or the build tree.
    argv = [vng, "--run", str(cfg.kernel.image), "--verbose", "--force-9p"]
    if cfg.accel == "tcg" or cfg.deterministic:
        argv.append("--disable-kvm")
    cpus = 1 if cfg.deterministic else cfg.cpus
    argv += ["--memory", cfg.memory, "--cpus", str(cpus)]
    argv += ["--rwdir", str(results_dir)]
    # vng hands this string to a shell, split on blanks: our own temporary
    # paths and the caller's options must not contain blanks or quotes.
    opts = list(DETERMINISTIC_QEMU_OPTS) if cfg.deterministic else []
    opts += [*cfg.qemu_opts, *disk_opts(images)]
    if any(re.search(r"[\s'\"\\$`]", o) for o in opts):
        raise ValueError(f"QEMU options must not contain blanks or quotes: {opts}")
    if opts:
        argv.append("--qemu-opts=" + " ".join(opts))
    return argv + ["--", *guest_argv(cfg, results_dir)]


def find_vng() -> str:
    """Return the vng next to our python (a venv) or on PATH."""
    local = Path(sys.executable).parent / "vng"
    if local.exists():
        return str(local)
    found = shutil.which("vng")
    if found is None:
        raise FileNotFoundError(
            "vng (virtme-ng) is not installed; run 'make deps' or 'pip install virtme-ng'"
        )
    return found


def make_disks(directory: Path, count: int, size: int) -> list[Path]:
    """Create *count* sparse raw images of *size* bytes in *directory*."""
    images = []
    for i in range(count):
        img = directory / f"disk{i}.img"
        with open(img, "wb") as f:
            f.truncate(size)
        images.append(img)
    return images


def results_dir_for(cfg: VMConfig) -> Path:
    """Create and return a fresh results directory for this run."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = cfg.results / f"{stamp}-{cfg.kernel.release}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            return path.resolve()
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}.{n}")


def _kernel_lines(console: str) -> list[str]:
    """The kernel's own lines in a console log (printk-timestamped)."""
    return [ln for ln in console.splitlines() if re.match(r"^\[\s*\d+\.\d+\]", ln)]


def judge(
    results_dir: Path, timed_out: bool, timeout: float, allow: Sequence[str]
) -> tuple[int, str]:
    """Decide the run's exit code from what the guest left in *results_dir*.

    Order: timeout, then a kernel splat (dmesg, else the console: a VM
    that crashed saves no dmesg), then a lost or failed guest status, then
    the command's own exit code.
    """
    if timed_out:
        return exitcodes.TIMEOUT, f"timeout: killed the VM after {timeout:.0f} s"
    for name in ("dmesg.txt", "console.log"):
        path = results_dir / name
        if not path.exists():
            continue
        text = path.read_text(errors="replace")
        lines = text.splitlines() if name == "dmesg.txt" else _kernel_lines(text)
        splats = kmsg.find_splats(lines, allow)
        if splats:
            more = f" (and {len(splats) - 1} more)" if len(splats) > 1 else ""
            return (
                exitcodes.VM_FAILED,
                f"kernel problem in {path}: {splats[0].line}{more}",
            )
    status_path = results_dir / guest.STATUS_FILE
    try:
        status = json.loads(status_path.read_text())
    except (OSError, ValueError):
        return exitcodes.VM_FAILED, (
            f"lost the guest's exit status ({status_path} missing or unreadable): "
            f"the VM crashed or failed to boot; see {results_dir / 'console.log'}"
        )
    if status.get("error"):
        return exitcodes.VM_FAILED, f"guest: {status['error']}"
    code = status.get("exit")
    if not isinstance(code, int):
        return exitcodes.VM_FAILED, f"guest status without an exit code: {status}"
    return code, f"command exited with {code}"


class _ConsoleFilter:
    """A binary sink that passes non-kernel lines on to *out*."""

    def __init__(self, out: object) -> None:
        self._out = out
        self._partial = b""

    def write(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        keep = [ln + b"\n" for ln in lines if not _CONSOLE_LINE.match(ln)]
        if keep:
            self._out.write(b"".join(keep))  # type: ignore[attr-defined]

    def flush(self) -> None:
        self._out.flush()  # type: ignore[attr-defined]


#: The least time left that is worth a second boot, seconds: a TCG boot
#: takes 30-90 s before the command starts.
_MIN_SECOND_BOOT_S = 120.0


def boot_failed(outcome: Outcome, timed_out: bool) -> bool:
    """Whether *outcome* is a kernel that failed in its own boot.

    That is a failed run whose guest side never started (no
    :data:`~pemove.vm.guest.STARTED_FILE`): nothing of ours had run in the
    VM, the module was not loaded.  Seen once in CI: Debian's 6.12 took an
    ``Oops: int3`` 2 s into boot under TCG, with two vCPUs patching kernel
    text.  A timeout is not one: it used up the run's time.
    """
    return (
        not outcome.ok
        and not timed_out
        and outcome.results is not None
        and not (outcome.results / guest.STARTED_FILE).exists()
    )


def _boot(cfg: VMConfig, deadline: float) -> tuple[Outcome, bool]:
    """One boot of *cfg*: the outcome, and whether it timed out."""
    results_dir = results_dir_for(cfg)
    vng = find_vng()
    with tempfile.TemporaryDirectory(prefix="pemove-vm-") as tmp:
        images = make_disks(Path(tmp), cfg.disks, cfg.disk_size)
        argv = vng_argv(cfg, results_dir, images, vng=vng)
        (results_dir / "command.json").write_text(json.dumps(argv, indent=1) + "\n")
        with open(results_dir / "console.log", "wb") as log:
            env = dict(os.environ)
            env.pop("DISPLAY", None)
            # vng starts virtme-run by name: it must find the one beside it.
            env["PATH"] = f"{Path(vng).parent}{os.pathsep}{env.get('PATH', '')}"
            stdout = cfg.stdout or sys.stdout.buffer
            stderr = _ConsoleFilter(cfg.stderr or sys.stderr.buffer)
            with Group(
                argv, stdout=stdout, stderr=stderr, log=log, env=env, cwd=cfg.cwd
            ) as g:  # type: ignore[arg-type]
                g.wait(deadline)
                timed_out = g.timed_out
    code, reason = judge(results_dir, timed_out, cfg.timeout, cfg.allow)
    outcome = Outcome(
        code, reason, results_dir, cfg.kernel.release, found_files(results_dir)
    )
    return outcome, timed_out


def run(cfg: VMConfig) -> Outcome:
    """Boot, run *cfg.command*, and judge the outcome (see :func:`judge`).

    A kernel that fails in its own boot (:func:`boot_failed`) is booted once
    more if the time left allows a boot twice as long, and 2 min at least.
    The failed boot's directory is kept, and the final reason carries its
    verdict, so a retry is never silent; a failure after the guest side
    started is never retried.
    """
    started = cfg.started if cfg.started is not None else time.monotonic()
    deadline = started + cfg.timeout
    begun = time.monotonic()
    outcome, timed_out = _boot(cfg, deadline)
    if not boot_failed(outcome, timed_out):
        return outcome
    took = time.monotonic() - begun
    if deadline - time.monotonic() < max(2 * took, _MIN_SECOND_BOOT_S):
        return outcome
    print(
        f"pemove vm: the kernel failed in its own boot, before the guest started "
        f"({outcome.reason}); booting once more",
        file=sys.stderr,
        flush=True,
    )
    again, _ = _boot(cfg, deadline)
    return dataclasses.replace(
        again,
        reason=f"{again.reason} (on a second boot: the first failed before the "
        f"guest started, {outcome.reason})",
    )
