"""``pemove create|remove|list|status|move``: LVs from the command line.

The handlers here only connect the pieces: the argument syntax
(:mod:`.args`), where extents go (:mod:`pemove.placement`), the move itself
(:func:`pemove.move.move_extent`), what is printed (:mod:`.output`), the
report on a failed move (:mod:`.forensics`) and the progress bar
(:mod:`.progress`).  Failures become a message on stderr and an exit code
from :func:`pemove.exitcodes.for_error`.
"""

from __future__ import annotations

import argparse
import errno
import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

from pemove import errors, exitcodes, lvs, placement
from pemove.cli import output
from pemove.cli.args import parse_le_spec, parse_pv_spec, parse_to_spec
from pemove.cli.forensics import failed_line, failed_move
from pemove.cli.progress import Progress
from pemove.control import Control
from pemove.metadata import RESERVED_SECTORS
from pemove.move import (
    DEFAULT_MODE,
    METHODS,
    MODES,
    LegacyFallbackWarning,
    move_extent,
)
from pemove.units import parse_size

__all__ = ["register"]

# "LES was not given" (None means "all").
_NO_LES: list[int] = [-1]


def _reports_errors(
    func: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Turn a PemoveError (or OSError) into its message on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except OSError as exc:
            print(f"pemove {args.command}: {exc}", file=sys.stderr)
            return exitcodes.for_error(exc)

    return wrapper


# -- create, remove, list, status --------------------------------------------


def _create_store(
    args: argparse.Namespace, extent_sectors: int, extents: list[Any]
) -> Any:
    """Write the new LV's metadata (None with --no-metadata)."""
    if args.no_metadata:
        return None
    from pemove.metadata import store

    return store.create(args.name, extent_sectors, extents, notrack=args.no_track)


def _refuse_recorded(extents: list[Any], extent_sectors: int) -> None:
    """Refuse extents over a PE that an LV's metadata claims (an inactive LV, a move's end)."""
    for ext in extents:
        for start, length in placement.recorded_in_use(ext.major, ext.minor):
            if ext.sector < start + length and start < ext.sector + extent_sectors:
                raise errors.InvalidArgument(
                    errno.EINVAL,
                    "create",
                    f"{ext} overlaps a PE that pemove metadata on that device gives to "
                    "an LV (see 'pemove scan'); choose another FIRST_SECTOR",
                )


@_reports_errors
def _cmd_create(args: argparse.Namespace) -> int:
    if args.extent_size % 512:
        print(
            "pemove create: --extent-size must be a multiple of 512 bytes (4 KiB or more)",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    extent_sectors = args.extent_size // 512
    reserved = 0 if args.no_metadata else RESERVED_SECTORS
    extents = placement.allocate(args.pv, extent_sectors, reserved)
    _refuse_recorded(extents, extent_sectors)
    with Control() as ctl:
        ctl.version()
        if any(i.name == args.name for i in ctl.lv_list()):
            raise errors.LVExists(
                errno.EEXIST, "create", "choose another name", lv=args.name
            )
        meta = _create_store(args, extent_sectors, extents)
        try:
            info, node = lvs.create(
                ctl,
                args.name,
                extent_sectors,
                extents,
                notrack=args.no_track,
                timeout=_node_timeout(args),
                pv_reserved_sectors=reserved if ctl.version().pv_reserve else 0,
            )
        except errors.NodeTimeout as exc:
            exc.hint += (
                f". The LV {args.name} exists; 'pemove remove {args.name}' removes it"
            )
            raise
        except BaseException:
            if meta is not None:
                from pemove.metadata.store import destroy

                destroy(meta)
            raise
    if args.json:
        data = output.info_dict(info)
        data["node"] = node if args.wait > 0 else None
        data["metadata"] = meta is not None
        output.print_json(data)
    else:
        print(output.info_line(info, node))
    return exitcodes.OK


@_reports_errors
def _cmd_remove(args: argparse.Namespace) -> int:
    from pemove.metadata.errors import MetadataError
    from pemove.metadata.store import Store, destroy, destroy_present

    forced = False
    try:
        meta = Store.find(args.name)
    except MetadataError as exc:
        if not args.force:
            exc.hint += (
                f". 'pemove remove --force {args.name}' removes what is here: the "
                "LV from the kernel and its records from the PVs present"
            )
            raise
        meta, forced = None, True
    with Control() as ctl:
        try:
            ctl.lv_remove(args.name)
        except errors.LVNotFound:
            if meta is None and not forced:
                raise
    cleared: list[str] = []
    if meta is not None:
        destroy(meta)
        cleared = list(meta.nodes.values())
    elif forced:
        cleared = destroy_present(args.name)
    if args.json:
        output.print_json(
            {
                "removed": args.name,
                "metadata_destroyed": meta is not None or bool(cleared),
                "pvs_cleared": cleared,
            }
        )
    elif forced:
        print(
            f"{args.name}: records removed from {len(cleared)} PV(s) present"
            + (f" ({', '.join(cleared)})" if cleared else "")
        )
    return exitcodes.OK


@_reports_errors
def _cmd_list(args: argparse.Namespace) -> int:
    with Control() as ctl:
        found = ctl.lv_list()
    if args.json:
        output.print_json([output.info_dict(info) for info in found])
    else:
        print("\n".join(output.list_lines(found)))
    return exitcodes.OK


@_reports_errors
def _cmd_status(args: argparse.Namespace) -> int:
    with Control() as ctl:
        status = ctl.lv_status(args.name, le_count=None if args.les else 0)
    if args.json:
        output.print_json(output.status_dict(status, args.les))
    else:
        print("\n".join(output.status_lines(status, args.les)))
    return exitcodes.OK


# -- move ----------------------------------------------------------------------


def _show_warning(
    message: Warning | str, category: type[Warning], *_: Any, **__: Any
) -> None:
    print(f"pemove: warning: {message}", file=sys.stderr)


def _resume(args: argparse.Namespace) -> int:
    from pemove.metadata.store import Store
    from pemove.recorded import resume

    store = Store.load(args.name)
    with Control() as ctl:
        done = resume(ctl, store, chunk_sectors=args.chunk // 512)
    if args.json:
        output.print_json({"lv": args.name, "resumed": done})
    else:
        for line in done or [f"{args.name}: no interrupted move"]:
            print(line)
    return exitcodes.OK


def _mover(args: argparse.Namespace, method: str) -> Any:
    """The function that moves one LE: the crash-safe one for an LV with metadata."""
    from pemove.metadata.store import Store

    store = Store.find(args.name)
    if store is None:
        return lambda ctl, le, dest, progress: move_extent(
            ctl,
            args.name,
            le,
            dest,
            method,  # type: ignore[arg-type]
            progress=progress,
            mode=args.mode,
            chunk_sectors=args.chunk // 512,
        )
    if method == "legacy" or args.mode != "live":
        raise errors.InvalidArgument(
            errno.EINVAL,
            "move",
            "an LV with metadata moves only with the live locked move (two-phase, "
            "crash-safe); drop --legacy/--method legacy/--mode whole",
            lv=args.name,
        )
    from pemove.recorded import move_recorded

    def recorded(ctl: Control, le: int, dest: Any, progress: Any) -> Any:
        return move_recorded(
            ctl, store, le, dest, chunk_sectors=args.chunk // 512, progress=progress
        )

    recorded.recorded = True  # type: ignore[attr-defined]
    return recorded


@_reports_errors
def _cmd_move(args: argparse.Namespace) -> int:
    method = "legacy" if args.legacy else args.method
    if args.chunk % 512:
        print("pemove move: --chunk must be a multiple of 512 bytes", file=sys.stderr)
        return exitcodes.USAGE
    if args.resume:
        return _resume(args)
    if args.to is None or args.les is _NO_LES:
        print("pemove move: LES and --to are required (or --resume)", file=sys.stderr)
        return exitcodes.USAGE
    mover = _mover(args, method)
    with Control() as ctl:
        status = ctl.lv_status(args.name)
        info = status.info
        les = list(range(info.extent_count)) if args.les is None else args.les
        bad = [le for le in les if le >= info.extent_count]
        if bad:
            print(
                f"pemove move: {args.name} has LEs 0-{info.extent_count - 1}; no LE {bad[0]}",
                file=sys.stderr,
            )
            return exitcodes.USAGE
        dests = placement.destinations(
            ctl,
            args.to,
            len(les),
            info.extent_sectors,
            RESERVED_SECTORS if getattr(mover, "recorded", False) else 0,
        )
        plan = [(le, status.les[le].pe, dest) for le, dest in zip(les, dests)]

        records: list[dict[str, Any]] = []
        progress = Progress(len(plan), sys.stderr)
        failure: OSError | None = None
        failed: dict[str, Any] | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("always", LegacyFallbackWarning)
            warnings.showwarning = _show_warning
            try:
                for le, source, dest in plan:
                    result = mover(ctl, le, dest, progress.bytes)
                    records.append(output.move_record(le, source, dest, result))
                    progress.moved(le, dest, result)
            except OSError as exc:
                failure = exc
                le, source, dest = plan[len(records)]
                failed = failed_move(ctl, args.name, le, source, dest, exc)
            finally:
                progress.close()

    if args.json:
        output.print_json(
            {
                "lv": args.name,
                "moves": records,
                "error": str(failure) if failure else None,
                "failed": failed,
            }
        )
    else:
        for line in output.moves_lines(args.name, args.to.dev, records, len(plan)):
            print(line)
    if failure is not None:
        done = (
            f" after moving {len(records)} of {len(plan)} LEs" if len(plan) > 1 else ""
        )
        print(f"pemove move: {failure}{done}", file=sys.stderr)
        if failed is not None:
            print(f"pemove move: {failed_line(args.name, failed)}", file=sys.stderr)
        return exitcodes.for_error(failure)
    return exitcodes.OK


# -- registration ----------------------------------------------------------------


def _parser(
    sub: Any, name: str, help_text: str, description: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _add_wait(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait SECONDS``: how long to wait for ``what``, the new device nodes."""
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help=f"wait this long for {what} (0: do not wait; default 60)",
    )


def _node_timeout(args: argparse.Namespace) -> float | None:
    """``--wait`` as the timeout of :mod:`pemove.lvs`: None for 0, do not wait."""
    return args.wait if args.wait > 0 else None


def _finish(
    parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int]
) -> None:
    """End a command's declaration: its ``--json`` and the handler that runs it.

    Every command here reports, and every reporting command has ``--json``
    (docs/HACKING.md), so it is added here, not by each command.  Called
    after the command's own options, so ``--help`` lists ``--json`` last.
    """
    output.add_json(parser)
    parser.set_defaults(func=func)


def register(subparsers: Any) -> None:
    """Add ``create``, ``remove``, ``list``, ``status`` and ``move`` to the ``pemove`` parser."""
    p = _parser(
        subparsers,
        "create",
        "create an LV from extents on block devices",
        "Create an LV.  Each --pv DEV[:FIRST_SECTOR[:COUNT]] adds COUNT consecutive extents on DEV\n"
        "starting at FIRST_SECTOR (default: after the metadata area, sector 2048; 0 with\n"
        "--no-metadata); without COUNT, as many as fit.  LEs are numbered in the order the --pv\n"
        "options are given.  Every PV gets a pemove label and the LV's map in its first MiB, so\n"
        "'pemove activate' can bring the LV back after a reboot.\n\n"
        "  pemove create lv0 --extent-size 4M --pv /dev/vdb:2048:16 --pv /dev/vdc\n"
        "  pemove create raw --no-metadata --pv /dev/vdb:0:16",
    )
    p.add_argument("name", metavar="NAME", help="LV name (1-31 bytes)")
    p.add_argument(
        "--extent-size",
        type=parse_size,
        default=parse_size("4M"),
        metavar="SIZE",
        help="extent size: a multiple of 4K, with unit s, K, M or G (default 4M)",
    )
    p.add_argument(
        "--pv",
        type=parse_pv_spec,
        action="append",
        required=True,
        metavar="DEV[:FIRST_SECTOR[:COUNT]]",
        help="extents on DEV (repeatable)",
    )
    p.add_argument(
        "--no-track",
        action="store_true",
        help="no in-flight IO tracking (for benchmarks); such an LV cannot be moved",
    )
    p.add_argument(
        "--no-metadata",
        action="store_true",
        help="write no on-disk metadata: raw PVs, extents from sector 0; the map lives only "
        "in the kernel (lost at reboot)",
    )
    _add_wait(p, "the LV's device node")
    _finish(p, _cmd_create)

    p = _parser(
        subparsers, "remove", "remove an LV", "Remove an LV.  It must not be open."
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--force",
        action="store_true",
        help="when its metadata cannot be assembled (a PV missing, a damaged "
        "copy), remove the records of NAME from the PVs that are present",
    )
    _finish(p, _cmd_remove)

    p = _parser(
        subparsers,
        "list",
        "list the LVs",
        "List the LVs (--json prints [] when there are none).",
    )
    _finish(p, _cmd_list)

    p = _parser(
        subparsers,
        "status",
        "show an LV's map and counters",
        "Show an LV's counters and, with --les, each LE's PE, state and in-flight IO.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--les", action="store_true", help="also list every LE")
    _finish(p, _cmd_status)

    p = _parser(
        subparsers,
        "move",
        "move LEs to another device",
        "Move LEs of an LV to DEV while it stays in use.  LES is 'all' or a list like 0,2,5-7.\n"
        "--to DEV:SECTOR places them one after another from SECTOR; --to DEV alone picks the first\n"
        "free places on DEV.  The method: auto (the default) uses the locked in-kernel move\n"
        "(PE_MOVE), or the legacy move with a warning when the module lacks it; locked never falls\n"
        "back; legacy is the 2002 userspace move, which can lose writes.  The mode of a locked\n"
        "move: live (the default) never holds the LE's IO as a whole, a write waits at most for\n"
        "its chunk's copy; whole holds all IO to the LE for the whole copy, as the seed did.\n\n"
        "  pemove move lv0 all --to /dev/vdc\n"
        "  pemove move lv0 3 --to /dev/vdc:8192 --mode whole\n"
        "  pemove move lv0 3 --to /dev/vdc:8192 --method legacy",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "les",
        type=parse_le_spec,
        nargs="?",
        default=_NO_LES,
        metavar="LES",
        help="'all' or LEs such as 0,2,5-7",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--to",
        type=parse_to_spec,
        metavar="DEV[:SECTOR]",
        help="destination",
    )
    where.add_argument(
        "--resume",
        action="store_true",
        help="finish the interrupted moves of an LV with metadata (re-copies an extent "
        "whose copy was cut short)",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="how to move: auto, locked (PE_MOVE) or legacy (default: %(default)s)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="a locked move's mode: live or whole (default: %(default)s)",
    )
    p.add_argument(
        "--chunk",
        type=parse_size,
        default=0,
        metavar="SIZE",
        help="the live copy's chunk size, a power of two (default: the module's, see 'pemove version')",
    )
    p.add_argument(
        "--legacy",
        action="store_true",
        help="the same as --method legacy: PE_LOCK, buffered copy, PE_REMAP, PE_UNLOCK, which can lose writes",
    )
    _finish(p, _cmd_move)
