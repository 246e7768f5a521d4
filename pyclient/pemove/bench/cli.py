"""``pemove bench``: boot one VM, measure every candidate side by side, report.

The host boots one VM with :func:`pemove.vm.run` (no virtual disks: every
benchmark runs on brd RAM disks made inside) and runs ``python -m
pemove.bench.guest`` there, then takes the guest's result file from the run's
:class:`~pemove.vm.Outcome`.  From the guest's raw samples it
writes, in ``--out``:

- ``bench-<kernel>-<date>.json``: the raw samples and the aggregated summary;
- ``bench-<kernel>-<date>.md``: the Markdown summary (the tables of
  docs/benchmarks.md);
- ``bench-<kernel>-<date>-{iopath,move,stall,scaling}.png``: plots;

and prints the Markdown summary (or the JSON with ``--json``).  With
``--from FILE...`` it skips the VM and reports on guest result files written
earlier: phases missing from the first file are taken from the next ones
(same kernel only), and the report names the boot each phase came from.

By default the VM is deterministic (``--deterministic``: one vCPU, TCG,
``-icount shift=0,sleep=off``): a guest nanosecond is one executed
instruction, so the io cost phase's ns per IO repeat to the instruction.
Every phase's times are then instruction counts, not host time.
``--no-deterministic`` boots a wall-clock VM, for the time-based io path
phase (``--no-deterministic --only iopath``).

Absolute figures under software emulation (TCG) mean little; the ratios
between candidates measured in the same boot are what the report is about.
Nothing here is a pass/fail test: targets are reported as met, missed, or
inconclusive when the spread over repeats straddles the threshold.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pemove import exitcodes, vm
from pemove.bench.common import GUEST_RESULT, PHASES
from pemove.vm import guest

__all__ = ["guest_argv", "main", "merge", "register", "run"]


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kernel",
        metavar="SPEC",
        help="kernel to boot: 6.1, 6.12, a release under /boot or a build tree "
        "(default: the VM runner's)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer sizes, shorter runs, fewer repeats (a few minutes under TCG)",
    )
    p.add_argument(
        "--only",
        metavar="PHASES",
        help=f"comma-separated subset of {','.join(PHASES)} (default: all)",
    )
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="boot one vCPU under TCG with -icount shift=0,sleep=off, so guest "
        "time counts instructions and runs repeat exactly; --no-deterministic "
        "boots a wall-clock VM (the time-based iopath phase is then in the "
        "default set) (default: deterministic)",
    )
    p.add_argument(
        "--qemu-opts",
        action="append",
        default=[],
        metavar="OPTS",
        help="extra QEMU arguments for the VM, split like a shell would (repeatable)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="where the JSON, Markdown and PNGs go (default: %(default)s/)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="kill the VM after S seconds, boot included (default: 3600, --quick 2400)",
    )
    p.add_argument(
        "--json", action="store_true", help="print the aggregated JSON, not the table"
    )
    p.add_argument(
        "--no-plots", action="store_true", help="skip the PNGs (no matplotlib needed)"
    )
    p.add_argument(
        "--from",
        dest="from_files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="report on existing guest result files instead of booting a VM; "
        "phases missing from the first are taken from the next ones",
    )


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to the ``pemove`` parser."""
    p = subparsers.add_parser(
        "bench",
        help="benchmark tracking cost, move throughput and IO stalls in a VM",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(p)
    p.set_defaults(func=run)


def _err(msg: str) -> None:
    print(f"pemove bench: {msg}", file=sys.stderr)


def guest_argv(args: argparse.Namespace) -> list[str]:
    """The guest's command line for this run (no shell anywhere)."""
    argv = [sys.executable, "-m", "pemove.bench.guest"]
    if args.quick:
        argv.append("--quick")
    if getattr(args, "deterministic", False):
        argv.append("--deterministic")
    if args.only:
        argv += ["--only", args.only]
    return argv


def _boot(args: argparse.Namespace) -> tuple[Path | None, int]:
    from pemove.vm.cli import qemu_opts

    outcome = vm.run(
        guest_argv(args),
        kernel=args.kernel,
        # One small unused disk: the guest wrapper's disk lookup fails for
        # zero disks (pemove.vm.guest.find_disks with count 0).
        disks=1,
        disk_size=16 << 20,
        deterministic=args.deterministic,
        qemu_opts=qemu_opts(args.qemu_opts),
        memory="3G",
        timeout=args.timeout or (2400 if args.quick else 3600),
        # Kept after the run: the console log and dmesg are there if it failed.
        results=Path(tempfile.mkdtemp(prefix="pemove-bench-")),
        # The guest's progress goes to our stderr; stdout stays for the report.
        stdout=sys.stderr.buffer,
    )
    found = outcome.file(GUEST_RESULT)
    if found is None:
        _err(outcome.missing(GUEST_RESULT))
        return None, outcome.code or exitcodes.VM_FAILED
    if not outcome.ok:
        _err(
            f"the VM run exited {outcome.code} ({outcome.reason}); reporting what it "
            f"measured (logs in {outcome.results})"
        )
    return found, outcome.code


def merge(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One guest document from several boots of the same kernel.

    Each phase comes from the first document that has it; ``sources`` says
    which boot (its start time) every phase came from, and errors are kept
    only for phases no document measured.
    """
    doc = dict(docs[0])
    doc["sources"] = {ph: doc.get("started") for ph in PHASES if ph in doc}
    doc["clocks"] = {ph: doc.get("clock", "wall") for ph in PHASES if ph in doc}
    for other in docs[1:]:
        if other.get("kernel") != doc.get("kernel"):
            _err(
                f"ignoring a result file of {other.get('kernel')}: "
                f"it is not {doc.get('kernel')}; one kernel per report"
            )
            continue
        for ph in PHASES:
            if ph not in doc and ph in other:
                doc[ph] = other[ph]
                doc["sources"][ph] = other.get("started")
                doc["clocks"][ph] = other.get("clock", "wall")
    errors = [e for d in docs for e in d.get("errors", [])]
    doc["errors"] = [e for e in errors if e.split(":", 1)[0] not in doc["sources"]]
    return doc


def _write(
    doc: dict[str, Any], agg: dict[str, Any], out: Path, plots: bool
) -> list[Path]:
    from pemove.bench import markdown

    out.mkdir(parents=True, exist_ok=True)
    date = (
        doc.get("started") or datetime.datetime.now(datetime.timezone.utc).isoformat()
    )
    stamp = date.replace(":", "").replace("-", "")[:15]  # e.g. 20261123T214500
    stem = out / f"bench-{doc.get('kernel', 'unknown')}-{stamp}"
    json_path = stem.with_name(stem.name + ".json")
    json_path.write_text(json.dumps({"raw": doc, "summary": agg}, indent=1) + "\n")
    md_path = stem.with_name(stem.name + ".md")
    md_path.write_text(markdown.markdown(agg) + "\n")
    written = [json_path, md_path]
    if plots:
        try:
            from pemove.bench import plots as plotmod

            written += plotmod.write_plots(agg, stem)
        except ImportError:
            _err("matplotlib is missing, so no plots: pip install -e '.[bench]'")
    return written


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks in a VM (or report on ``--from``); returns an exit code."""
    from pemove.bench import aggregate, markdown

    if args.from_files:
        srcs, rc = list(args.from_files), exitcodes.OK
    elif refusal := guest.host_only("pemove bench", "python -m pemove.bench.guest"):
        print(refusal, file=sys.stderr)
        return exitcodes.USAGE
    else:
        found, rc = _boot(args)
        if found is None:
            return rc
        srcs = [found]
    try:
        doc = merge([json.loads(src.read_text()) for src in srcs])
    except (OSError, json.JSONDecodeError) as exc:
        _err(f"cannot read {' '.join(map(str, srcs))}: {exc}")
        return exitcodes.FAILED
    agg = aggregate.aggregate(doc)
    written = _write(doc, agg, args.out, not args.no_plots)
    if args.json:
        print(json.dumps(agg, indent=1))
    else:
        print(markdown.markdown(agg))
    for path in written:
        _err(f"wrote {path}")
    if rc != exitcodes.OK:
        return rc
    return exitcodes.FAILED if agg.get("errors") else exitcodes.OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.bench.cli``: the same as ``pemove bench``."""
    p = argparse.ArgumentParser(
        prog="pemove bench", description=__doc__.split("\n\n", 1)[1]
    )
    _add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
