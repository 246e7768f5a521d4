"""The ``pemove`` command line: a table of subcommands, each imported only when run.

Each subcommand module exposes ``register(subparsers)``, which adds its
parsers and sets ``func`` on each to a callable taking the parsed namespace
and returning an exit code (see :mod:`pemove.exitcodes`).  Only the module of
the command being run is imported, so ``pemove vm`` on a host without the
module never reads the uapi header; ``pemove --help`` imports them all.

Adding a subcommand is one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pemove import exitcodes

__all__ = ["COMMANDS", "build_parser", "main", "run_command"]

#: Subcommand -> the module whose ``register()`` adds it, in --help order.
COMMANDS: dict[str, str] = {
    "create": "pemove.cli.lv",
    "remove": "pemove.cli.lv",
    "list": "pemove.cli.lv",
    "status": "pemove.cli.lv",
    "move": "pemove.cli.lv",
    "activate": "pemove.cli.meta",
    "deactivate": "pemove.cli.meta",
    "scan": "pemove.cli.meta",
    "evacuate": "pemove.cli.evacuate",
    "demo": "pemove.demo",
    "bench": "pemove.bench.cli",
    "vm": "pemove.vm.cli",
    "kernel": "pemove.kernel.cli",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The top-level parser, with the subcommand named by ``argv[0]`` registered.

    Without ``argv``, or when ``argv[0]`` is not a subcommand (``--help``, a
    typo), every subcommand is registered, so the help and the error list
    them all.
    """
    parser = argparse.ArgumentParser(
        prog="pemove",
        description="Extent-mapped LVs with a locked physical-extent move.",
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    first = argv[0] if argv else None
    if first in COMMANDS:
        modules = [COMMANDS[first]]
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pemove`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pemove: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


def run_command(command: str, argv: Sequence[str] | None = None) -> int:
    """``pemove COMMAND ARGV...``: what ``python -m`` of a subcommand's module runs."""
    return main([command, *(sys.argv[1:] if argv is None else argv)])
