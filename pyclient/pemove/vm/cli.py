"""``pemove vm``: run a command in a VM with the module loaded and fresh disks."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pemove import exitcodes
from pemove.units import parse_size
from pemove.vm import boot, kernels

__all__ = ["add_arguments", "qemu_opts", "register", "run_vm"]

EPILOG = """\
The command runs as root in the guest, in the current directory, with:
  PEMOVE_GUEST=1, PEMOVE_KO (module path), PEMOVE_DISKS (colon-separated disk
  nodes, in order), PEMOVE_RESULTS (a directory kept on the host).
Results: RESULTS/<time>-<release>/{console.log,dmesg.txt,status.json}.
The run fails (exit 6) if the kernel log shows BUG/WARNING/Oops/lockdep/hung
task lines, and exits 124 when --timeout (boot included) expires.

examples:
  pemove vm -- pemove list --json
  pemove vm --kernel 6.12 -- python -m pytest tests/guest -k move
  pemove vm --kernel ~/src/linux --disks 2 -- sh -c 'cat /proc/modules'
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``pemove vm`` options to *p*."""
    p.add_argument(
        "--kernel",
        metavar="SPEC",
        default=kernels.DEFAULT_SPEC,
        help="6.1, 6.12, an installed release (e.g. 6.1.0-56-amd64) or a kernel "
        "build tree (default: %(default)s, newest installed)",
    )
    p.add_argument(
        "--disks",
        type=_positive,
        default=4,
        metavar="N",
        help="fresh raw disks (default: %(default)s)",
    )
    p.add_argument(
        "--disk-size",
        type=parse_size,
        default="1G",
        metavar="SIZE",
        help="size of each disk, sparse (default: 1G)",
    )
    p.add_argument(
        "--memory",
        default="1G",
        metavar="M",
        help="guest memory (default: %(default)s)",
    )
    p.add_argument(
        "--cpus",
        type=int,
        default=2,
        metavar="C",
        help="guest CPUs (default: %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900,
        metavar="S",
        help="hard limit for the whole run, boot included (default: %(default)s)",
    )
    p.add_argument(
        "--accel",
        choices=("auto", "kvm", "tcg"),
        default="auto",
        help="auto probes KVM once and caches the answer (default: %(default)s)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="one vCPU under TCG with -icount shift=0,sleep=off: guest time "
        "counts executed instructions (1 ns each), the same on every run and host",
    )
    p.add_argument(
        "--qemu-opts",
        action="append",
        default=[],
        metavar="OPTS",
        help="extra QEMU arguments, split like a shell would (repeatable; "
        "no blanks inside one argument)",
    )
    p.add_argument(
        "--results",
        metavar="DIR",
        help="parent of the per-run results directories (default: results/vm in the checkout)",
    )
    p.add_argument(
        "--module-param",
        action="append",
        default=[],
        metavar="K=V",
        help="module parameter for insmod (repeatable)",
    )
    p.add_argument(
        "--no-module", action="store_true", help="do not build or load the module"
    )
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="REGEX",
        help="kernel log lines to tolerate (repeatable)",
    )
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="-- COMMAND [ARGS...] to run in the guest",
    )


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``vm`` subcommand."""
    p = subparsers.add_parser(
        "vm",
        help="run a command in a VM with the module loaded",
        description=__doc__,
        epilog=EPILOG + "\n" + exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run_vm)


def _err(msg: str) -> None:
    print(f"pemove vm: {msg}", file=sys.stderr)


def qemu_opts(values: Sequence[str]) -> list[str]:
    """Every ``--qemu-opts`` value split into QEMU arguments."""
    return [arg for value in values for arg in shlex.split(value)]


def run_vm(args: argparse.Namespace) -> int:
    """Carry out ``pemove vm`` for parsed *args*; returns an exit code."""
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        _err("no command given; usage: pemove vm [options] -- COMMAND...")
        return exitcodes.USAGE
    try:
        outcome = boot.run(
            command,
            kernel=args.kernel,
            disks=args.disks,
            disk_size=args.disk_size,
            memory=args.memory,
            cpus=args.cpus,
            timeout=args.timeout,
            accel=args.accel,
            results=Path(args.results) if args.results else None,
            module=not args.no_module,
            module_params=args.module_param,
            allow=args.allow,
            qemu_opts=qemu_opts(args.qemu_opts),
            deterministic=args.deterministic,
        )
    except KeyboardInterrupt:  # the VM is already killed (runner's Group)
        _err("interrupted")
        return exitcodes.INTERRUPTED
    if not outcome.ok:
        _err(outcome.reason)
    if outcome.results is not None:
        _err(f"{outcome.release}: results in {outcome.results}")
    return outcome.code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.vm.cli``: the same as ``pemove vm``."""
    from pemove import cli

    return cli.run_command("vm", argv)


if __name__ == "__main__":
    sys.exit(main())
