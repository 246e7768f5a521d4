"""``pemove demo``: show the 2002 pvmove losing writes and the locked move losing none.

It boots a VM with :func:`pemove.vm.run` (which builds and loads the
module) and runs ``python -m pemove.workload.scenarios --out demo.json``
inside: scenario 1 (writes in flight during the move) and scenario 2 (stale
page cache of the source PV) with the legacy move and with PE_MOVE, and,
with ``--storm N``, scenario 3 (N locked moves under mixed load).  The
scenarios write their results as JSON to ``$PEMOVE_RESULTS/demo.json``; the
demo finds that file in the run's :class:`~pemove.vm.Outcome` and prints a
table, or the JSON with ``--json``.

Exit status: 0 only if legacy lost writes in scenario 1 and copied stale
blocks in scenario 2, and locked lost, staled and corrupted nothing
anywhere; :data:`~pemove.exitcodes.VERIFY` otherwise; the VM runner's own
code (VM_FAILED, TIMEOUT) if the VM could not run the demo.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pemove import exitcodes, vm
from pemove.vm import guest
from pemove.workload import seeds

__all__ = ["main", "register", "run"]

RESULT_FILE = "demo.json"

_DESCRIPTION = """\
Boot a VM, run two scenarios with the 2002 userspace move (legacy) and with
the locked in-kernel move (PE_MOVE) in both its modes (live: no IO held, a
write waits at most for its chunk; whole: all IO to the LE held for the
copy), and show what each lost:

  1 in-flight race  O_DIRECT writes, delayed by dm-delay, are in flight when
                    the extent moves; legacy copies before they land
  2 stale cache     the source PV's page cache holds old data; legacy copies it

--storm N adds scenario 3: N locked moves while O_DIRECT, buffered+fsync and
ext4 writers run (e.g. --storm 2000 for a longer run, about 10 minutes of
moves under TCG).

Exit status 0 only if legacy lost writes in 1 and copied stale blocks in 2,
and locked (live and whole) lost, staled and corrupted nothing anywhere.
"""

_TITLES = {
    "inflight": "1 in-flight race",
    "stale": "2 stale cache",
    "storm": "3 move storm",
    "fio": "4 fio oracle",
}


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kernel",
        metavar="SPEC",
        help="kernel to boot: a release under /boot, 6.1, 6.12 or a build tree (default: the VM runner's)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--storm",
        type=int,
        metavar="N",
        default=0,
        help="also run the move storm (scenario 3) with N locked moves; e.g. 2000 for more confidence",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="kill the VM after S seconds (default: 900, plus 1 s per storm move)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="seed for every random choice (default: random, printed)",
    )


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand to the ``pemove`` parser."""
    p = subparsers.add_parser(
        "demo",
        help="show the 2002 pvmove losing writes and the locked move losing none",
        description=_DESCRIPTION,
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)
    p.set_defaults(func=run)


def guest_argv(seed: int, storm: int) -> list[str]:
    """The scenarios the demo runs in the guest, as a command line."""
    argv = [sys.executable, "-m", "pemove.workload.scenarios", "--seed", str(seed)]
    for name in ("inflight", "stale") + (("storm",) if storm else ()):
        argv += ["--scenario", name]
    argv += ["--method", "legacy", "--method", "locked"]
    argv += ["--mode", "live", "--mode", "whole"]
    if storm:
        argv += ["--storm-moves", str(storm)]
    return argv + ["--out", RESULT_FILE]


def _boot(args: argparse.Namespace, seed: int) -> tuple[dict[str, Any] | None, int]:
    outcome = vm.run(
        guest_argv(seed, args.storm),
        kernel=args.kernel,
        disks=3,
        timeout=args.timeout if args.timeout is not None else 900 + args.storm,
        # Kept after the run: the console log and dmesg are there if it failed.
        results=Path(tempfile.mkdtemp(prefix="pemove-demo-")),
        # The guest's progress goes to our stderr; stdout stays for the table/JSON.
        stdout=sys.stderr.buffer,
    )
    found = outcome.file(RESULT_FILE)
    if found is None:
        print(f"pemove demo: {outcome.missing(RESULT_FILE)}", file=sys.stderr)
        return None, outcome.code or exitcodes.VM_FAILED
    doc = json.loads(found.read_text())
    doc["results_dir"] = str(outcome.results)
    if outcome.code not in (exitcodes.OK, exitcodes.VERIFY):
        doc.setdefault("problems", []).append(
            f"the VM run exited {outcome.code} ({outcome.reason}); see {outcome.results}"
        )
        return doc, outcome.code
    return doc, exitcodes.OK


def _table(doc: dict[str, Any]) -> str:
    head = (
        "scenario",
        "method",
        "mode",
        "acked",
        "lost",
        "stale",
        "corrupt",
        "moves",
        "time",
    )
    rows = [head]
    for r in doc["scenarios"]:
        rows.append(
            (
                _TITLES.get(r["name"], r["name"]),
                r["method"],
                r.get("mode") or "-",
                str(r["acked"]),
                str(r["lost"]),
                str(r["stale"]),
                str(r["corrupt"]),
                str(r["moves"]),
                f"{r['seconds']:.1f} s" if not r.get("error") else "error",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for row in rows:
        cells = [row[i].ljust(widths[i]) for i in range(3)]
        cells += [c.rjust(w) for c, w in zip(row[3:], widths[3:])]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _verdict(doc: dict[str, Any]) -> str:
    if doc.get("problems"):
        return "FAILED:\n" + "\n".join(f"  - {p}" for p in doc["problems"])
    by = {(r["name"], r["method"]): r for r in doc["scenarios"]}
    lost = by.get(("inflight", "legacy"), {}).get("lost", 0)
    stale = by.get(("stale", "legacy"), {}).get("stale", 0)
    return (
        f"OK: the legacy move lost {lost} acknowledged writes and copied {stale} stale blocks; "
        "the locked move lost nothing, live and whole."
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo in a VM; returns the exit code."""
    refusal = guest.host_only("pemove demo", "python -m pemove.workload.scenarios")
    if refusal:
        print(refusal, file=sys.stderr)
        return exitcodes.USAGE
    seed = seeds.announced(args.seed, "pemove demo")
    doc, rc = _boot(args, seed)
    if doc is None:
        return rc
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"pemove demo on {doc.get('kernel', '?')}, seed {doc.get('seed', seed)}")
        print(_table(doc))
        print(_verdict(doc))
    if rc != exitcodes.OK:
        return rc
    return exitcodes.VERIFY if doc.get("problems") else exitcodes.OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.demo``: the same as ``pemove demo``."""
    p = argparse.ArgumentParser(
        prog="pemove demo",
        description=_DESCRIPTION,
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
