"""``pemove vm``: boot a real kernel in QEMU with the module and fresh disks.

:func:`run` is the one call: it returns an :class:`Outcome` (exit status,
results directory, the files found).  The pieces, one job each:

- :mod:`pemove.vm.boot`: :func:`run` itself, from a kernel SPEC to the verdict;
- :mod:`pemove.vm.kernels`: which kernel (``6.1``, ``6.12``, a release, a tree);
- :mod:`pemove.vm.build`: the module built for that kernel;
- :mod:`pemove.vm.bytecode`: the guest's Python bytecode, written on the host;
- :mod:`pemove.vm.accel`: KVM or TCG, probed once and remembered;
- :mod:`pemove.vm.runner`: the virtme-ng command line, disks, timeout, verdict;
- :mod:`pemove.vm.proc`: the process group that can always be killed;
- :mod:`pemove.vm.guest`: what runs inside the VM around the user's command,
  and the environment it gives that command;
- :mod:`pemove.vm.devkmsg`: the kernel log read from /dev/kmsg;
- :mod:`pemove.vm.kmsg`: the kernel-log scanner shared with the guest tests;
- :mod:`pemove.vm.cli`: the ``pemove vm`` subcommand.

``run`` and ``Outcome`` are loaded on first use, so the guest side
(``python -m pemove.vm.guest``) imports nothing of the host side.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Outcome", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pemove.vm import boot

        value = getattr(boot, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pemove.vm' has no attribute {name!r}")
