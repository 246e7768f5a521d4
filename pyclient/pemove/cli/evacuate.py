"""``pemove evacuate SRC [--to DST]``: move every LE off a PV while its LVs stay in use."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from pemove import evacuate, exitcodes
from pemove.cli import output
from pemove.cli.args import parse_to_spec
from pemove.cli.forensics import failed_line, failed_move
from pemove.cli.progress import Progress
from pemove.control import Control
from pemove.move import DEFAULT_MODE, METHODS, MODES, LegacyFallbackWarning
from pemove.units import human, parse_size

__all__ = ["register"]

_DESCRIPTION = """\
Move every LE of every LV that lives on SRC to other PVs, while those LVs
stay in use, then check that SRC is free (another user can claim it).

Without --to the LEs go to free places on the other PVs the LVs already use
(each LV's own PVs first); if those have no room, name a destination with
--to.  The moves are live by default: no IO to an LE is held as a whole, a
write waits at most for its chunk's copy.  If the evacuation is interrupted,
running it again finishes the job.

  pemove evacuate /dev/vdb
  pemove evacuate /dev/vdb --to /dev/vdd --json
"""


def _summary(result: evacuate.Evacuation, free: bool | None) -> dict[str, Any]:
    return {
        "source": result.source,
        "planned": len(result.steps),
        "moved": [
            {"lv": step.lv, **output.move_record(step.le, step.source, step.dest, res)}
            for step, res in result.done
        ],
        "complete": result.complete,
        "released": free,
        "error": str(result.error) if result.error else None,
    }


def _print_plan(args: argparse.Namespace, steps: list[evacuate.Step]) -> None:
    if args.json:
        output.print_json(
            [
                {"lv": s.lv, "le": s.le, "from": str(s.source), "to": str(s.dest)}
                for s in steps
            ]
        )
        return
    for s in steps:
        print(f"{s.lv} LE {s.le}: {s.source} -> {s.dest}")
    if not steps:
        print(f"nothing lives on {args.source}")


def _cmd_evacuate(args: argparse.Namespace) -> int:
    if args.chunk % 512:
        print(
            "pemove evacuate: --chunk must be a multiple of 512 bytes", file=sys.stderr
        )
        return exitcodes.USAGE
    try:
        with Control() as ctl:
            steps = evacuate.plan(ctl, args.source, args.to)
            if args.dry_run:
                _print_plan(args, steps)
                return exitcodes.OK
            progress = Progress(len(steps), sys.stderr)
            with warnings.catch_warnings():
                warnings.simplefilter("always", LegacyFallbackWarning)
                try:
                    result = evacuate.run(
                        ctl,
                        args.source,
                        steps,
                        method=args.method,
                        mode=args.mode,
                        chunk_sectors=args.chunk // 512,
                        progress=progress.bytes,
                        moved=lambda step, res: progress.moved(step.le, step.dest, res),
                    )
                finally:
                    progress.close()
            failed = None
            if result.failed is not None and result.error is not None:
                f = result.failed
                failed = failed_move(ctl, f.lv, f.le, f.source, f.dest, result.error)
    except OSError as exc:
        print(f"pemove evacuate: {exc}", file=sys.stderr)
        return exitcodes.for_error(exc)

    free = evacuate.released(args.source) if result.complete else None
    if args.json:
        doc = _summary(result, free)
        doc["failed"] = failed
        output.print_json(doc)
    else:
        copied = sum(res.stats.bytes_copied for _, res in result.done)
        print(
            f"moved {len(result.done)} of {len(steps)} LEs off {args.source} "
            f"({human(copied)})" + ("" if steps else ": nothing lived there")
        )
    if result.error is not None:
        print(f"pemove evacuate: {result.error}", file=sys.stderr)
        if failed is not None and result.failed is not None:
            print(
                f"pemove evacuate: {failed_line(result.failed.lv, failed)}",
                file=sys.stderr,
            )
        print(
            f"pemove evacuate: run it again to move the {len(steps) - len(result.done)} LEs left",
            file=sys.stderr,
        )
        return exitcodes.for_error(result.error)
    if free is False:
        print(
            f"pemove evacuate: every LE left {args.source}, but it cannot be claimed "
            "exclusively: something else holds it",
            file=sys.stderr,
        )
        return exitcodes.FAILED
    if not args.json and steps:
        print(f"{args.source} is free")
    return exitcodes.OK


def register(subparsers: Any) -> None:
    """Add ``evacuate`` to the ``pemove`` parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "evacuate",
        help="move every LE off a PV while its LVs stay in use",
        description=_DESCRIPTION,
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SRC", help="the block device to empty")
    p.add_argument(
        "--to",
        type=parse_to_spec,
        metavar="DEV[:SECTOR]",
        help="where the LEs go (default: free places on the LVs' other PVs)",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="how to move (default: %(default)s)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="a locked move's mode (default: %(default)s)",
    )
    p.add_argument(
        "--chunk",
        type=parse_size,
        default=0,
        metavar="SIZE",
        help="the live copy's chunk size",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan, move nothing"
    )
    output.add_json(p, "print a summary as JSON on stdout")
    p.set_defaults(func=_cmd_evacuate)
