"""One VM run, in-process: kernel, module, accelerator, boot, verdict.

:func:`run` is what ``pemove vm`` does, as a call that returns an
:class:`~pemove.vm.runner.Outcome` (exit status, results directory, the
files in it).  ``pemove demo``, ``pemove bench`` and tests/test_guest_tier.py
call it instead of starting ``pemove vm`` and reading its messages.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pemove.vm import build, bytecode, kernels, kmsg, runner
from pemove.vm.accel import choose as choose_accel
from pemove.vm.runner import Outcome

__all__ = ["Outcome", "run"]


def _image_file(kernel: kernels.Kernel) -> Path:
    """The kernel image file: ``Kernel.image`` is the build tree for a tree."""
    return kernel.image / "arch/x86/boot/bzImage" if kernel.is_tree else kernel.image


def run(
    command: Sequence[str],
    *,
    kernel: str | kernels.Kernel | None = None,
    disks: int = 4,
    disk_size: int = 1 << 30,
    memory: str = "1G",
    cpus: int = 2,
    timeout: float = 900.0,
    accel: str = "auto",
    results: Path | None = None,
    module: bool = True,
    module_params: Sequence[str] = (),
    allow: Sequence[str] = (),
    cwd: Path | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[bytes] | None = None,
    qemu_opts: Sequence[str] = (),
    deterministic: bool = False,
) -> Outcome:
    """Boot ``kernel`` with fresh disks and the module loaded, run ``command``, judge.

    :param command: the guest command, an argv list
    :param kernel: a SPEC (see :mod:`pemove.vm.kernels`; None: its default)
        or a resolved kernel
    :param timeout: seconds for the whole run, the module build and boot included
    :param accel: ``auto``, ``kvm`` or ``tcg`` (see :mod:`pemove.vm.accel`)
    :param results: the parent of the per-run results directory (default:
        ``results/vm`` in the checkout)
    :param module: build and load the module
    :param allow: kernel log lines to tolerate, besides the usual injected IO errors
    :param cwd: where the command runs (default: this process's directory)
    :param stdout: where the guest's stdout goes (default: ours)
    :param stderr: where the guest's stderr goes (default: ours)
    :param qemu_opts: extra QEMU arguments, one per item (no blanks)
    :param deterministic: one vCPU, TCG, an instruction-counting guest clock
        (:data:`pemove.vm.runner.DETERMINISTIC_QEMU_OPTS`); overrides
        ``cpus`` and ``accel``
    :returns: the outcome; a run that could not start (no QEMU, no such
        kernel, a module that does not build) is VM_FAILED with the reason
    """
    started = time.monotonic()  # the timeout covers everything from here
    if shutil.which("qemu-system-x86_64") is None:
        return Outcome.failed(
            "qemu-system-x86_64 is not installed; run 'make deps' (apt-get install qemu-system-x86)"
        )
    try:
        resolved = (
            kernel if isinstance(kernel, kernels.Kernel) else kernels.resolve(kernel)
        )
        ko = build.build_module(resolved) if module else None
        parent = results or (build.repo_root() / "results" / "vm")
    except (kernels.KernelNotFound, build.BuildError) as e:
        return Outcome.failed(str(e))
    cfg = runner.VMConfig(
        kernel=resolved,
        command=list(command),
        ko=ko,
        disks=disks,
        disk_size=disk_size,
        memory=memory,
        cpus=1 if deterministic else cpus,
        timeout=timeout,
        accel="tcg" if deterministic else choose_accel(accel, _image_file(resolved)),
        results=Path(parent),
        module_params=list(module_params),
        allow=(*kmsg.DEFAULT_ALLOW, *allow),
        started=started,
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        qemu_opts=list(qemu_opts),
        deterministic=deterministic,
    )
    bytecode.prime(cfg.command, cwd or Path.cwd(), runner.PYCLIENT)
    try:
        return runner.run(cfg)
    except (OSError, ValueError) as e:
        return Outcome.failed(str(e), resolved.release)
