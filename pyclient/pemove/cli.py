"""The ``pemove`` command line.

Each subcommand lives in its own module, which exposes ``register(subparsers)``.
``register`` adds one or more parsers and sets ``func`` on each to a callable
taking the parsed namespace and returning an exit code (see
:mod:`pemove.exitcodes`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pemove import exitcodes

# Modules that contribute subcommands, in the order --help lists them.
_COMMAND_MODULES = (
    "pemove.cmd_lv",  # create, remove, list, status, move
    "pemove.demo",  # demo
    "pemove.bench.cli",  # bench
    "pemove.vm.cli",  # vm
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="pemove",
        description="Extent-mapped LVs with a locked physical-extent move.",
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pemove`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pemove: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
