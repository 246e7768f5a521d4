"""``python -m pemove.workload.scenarios``: run scenarios in a guest, print and save the results."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from pemove import exitcodes
from pemove.move import METHODS, MODES
from pemove.vm import guest
from pemove.workload import seeds
from pemove.workload.scenarios import SCENARIOS, judge, run

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.workload.scenarios``: run scenarios, print results.

    Exit status: OK, VERIFY when :func:`judge` finds a problem (the JSON
    lists them), USAGE without two disks.
    """
    p = argparse.ArgumentParser(
        prog="python -m pemove.workload.scenarios",
        description="Run the pemove data-loss scenarios (in a guest, as root, module loaded).",
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="scenario to run (repeatable; default: inflight and stale)",
    )
    p.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        help="move method (repeatable; default: legacy and locked)",
    )
    p.add_argument(
        "--mode",
        action="append",
        choices=MODES,
        help="a locked move's mode (repeatable; default: live and whole)",
    )
    p.add_argument("--disks", help="colon-separated raw disks (default: $PEMOVE_DISKS)")
    p.add_argument(
        "--seed",
        type=int,
        help="seed for every random choice (default: random, printed)",
    )
    p.add_argument(
        "--storm-moves", type=int, default=200, help="moves in the storm scenario"
    )
    p.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout"
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the JSON results to FILE; a relative FILE goes into "
        "$PEMOVE_RESULTS (the directory pemove vm keeps on the host) when that is set",
    )
    args = p.parse_args(argv)
    disks = args.disks.split(":") if args.disks else guest.guest_disks()
    if len(disks) < 2:
        print(
            "pemove scenarios: need at least two raw disks; pass --disks /dev/vdb:/dev/vdc "
            "or run under `pemove vm --disks 3`",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    seed = seeds.announced(args.seed, "pemove scenarios")
    results = run(
        args.scenario or ["inflight", "stale"],
        args.method or ["legacy", "locked"],
        disks,
        seed=seed,
        modes=args.mode or list(MODES),
        storm_moves=args.storm_moves,
    )
    doc = {
        "seed": seed,
        "kernel": os.uname().release,
        "scenarios": results,
        "problems": judge(results),
    }
    if args.out:
        guest.results_file(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for r in results:
            print(
                f"{r['name']:9} {r['method']:7} {r.get('mode') or '-':5} acked {r['acked']:6} lost {r['lost']:5} "
                f"stale {r['stale']:5} corrupt {r['corrupt']:5} moves {r['moves']:5} {r['seconds']:7.1f} s"
            )
    for problem in doc["problems"]:
        print(f"pemove scenarios: {problem}", file=sys.stderr)
    return exitcodes.VERIFY if doc["problems"] else exitcodes.OK
