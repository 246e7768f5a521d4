"""``pemove create|remove|list|status|move``: LVs from the command line.

Syntax of the arguments that name places on disks:

``--pv DEV[:FIRST_SECTOR[:COUNT]]`` (create)
    COUNT consecutive extents on block device DEV, the first at
    FIRST_SECTOR (default 0).  Without COUNT, as many as fit before the end
    of DEV.  ``--pv`` may be repeated; LEs are numbered in the order given.
    A DEV whose path contains ``:`` is recognised when it exists as written.

``LES`` (move)
    ``all``, or a comma-separated list of LEs and inclusive ranges:
    ``3``, ``0,2,5-7``.

``--to DEV[:SECTOR]`` (move)
    Put the moved LEs on DEV, one after another from SECTOR.  Without
    SECTOR, each goes to the first free place on DEV that no LV uses.

Sizes (``--extent-size``) take a unit: ``s`` (512-byte sectors), ``K``,
``M``, ``G`` (KiB, MiB, GiB; ``KiB`` etc. also accepted) or none for bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import functools
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from pemove import discovery, errors, exitcodes, legacy
from pemove.control import (
    Control,
    Extent,
    LegacyFallbackWarning,
    LEStatus,
    LVInfo,
    LVStatus,
    MoveResult,
)

__all__ = [
    "exit_code_for",
    "parse_le_spec",
    "parse_pv_spec",
    "parse_size",
    "parse_to_spec",
    "register",
]

_UNITS = {"": 1, "b": 1, "s": 512}
_UNITS.update({p: 1 << (10 * (i + 1)) for i, p in enumerate("kmgt")})
_UNITS.update({p + "ib": 1 << (10 * (i + 1)) for i, p in enumerate("kmgt")})
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")


# -- argument syntax ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PVSpec:
    """A parsed ``--pv DEV[:FIRST_SECTOR[:COUNT]]``."""

    dev: str
    first_sector: int = 0
    count: int | None = None


@dataclasses.dataclass(frozen=True)
class ToSpec:
    """A parsed ``--to DEV[:SECTOR]``."""

    dev: str
    sector: int | None = None


def parse_size(text: str) -> int:
    """Parse a size such as ``4M``, ``4MiB``, ``8192s`` or ``4096`` (bytes) into bytes."""
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size: use a number with unit s (sectors), K, M, G, T, or none for bytes"
        )
    return int(match.group(1)) * _UNITS[unit]


def _split_dev(text: str, max_numbers: int, what: str) -> tuple[str, list[int]]:
    """Split ``DEV[:N[:N]]`` into DEV and up to ``max_numbers`` trailing integers."""
    if os.path.exists(text):
        return text, []
    parts = text.split(":")
    numbers: list[int] = []
    while (
        len(parts) > 1
        and len(numbers) < max_numbers
        and re.fullmatch(r"\d+", parts[-1])
    ):
        numbers.insert(0, int(parts.pop()))
    dev = ":".join(parts)
    if not dev:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {what}")
    if ":" in dev and not os.path.exists(dev):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected {what}, with decimal numbers after DEV (a DEV containing ':' must exist)"
        )
    return dev, numbers


def parse_pv_spec(text: str) -> PVSpec:
    """Parse ``DEV[:FIRST_SECTOR[:COUNT]]``."""
    dev, numbers = _split_dev(text, 2, "DEV[:FIRST_SECTOR[:COUNT]]")
    first = numbers[0] if numbers else 0
    count = numbers[1] if len(numbers) > 1 else None
    if count == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: COUNT must be at least 1")
    return PVSpec(dev, first, count)


def parse_to_spec(text: str) -> ToSpec:
    """Parse ``DEV[:SECTOR]``."""
    dev, numbers = _split_dev(text, 1, "DEV[:SECTOR]")
    return ToSpec(dev, numbers[0] if numbers else None)


def parse_le_spec(text: str) -> list[int] | None:
    """Parse ``all`` (None) or a list such as ``0,2,5-7`` (sorted, without repeats)."""
    if text.strip().lower() == "all":
        return None
    les: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            raise argparse.ArgumentTypeError(
                f"{item!r} in {text!r} is not an LE or a range A-B; or use 'all'"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise argparse.ArgumentTypeError(f"range {item!r} runs backwards")
        les.update(range(low, high + 1))
    return sorted(les)


# -- output helpers ------------------------------------------------------------


def _human(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n_bytes) < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"  # pragma: no cover


def _info_dict(info: LVInfo) -> dict[str, Any]:
    data = dataclasses.asdict(info)
    data["notrack"] = info.notrack
    data["size_bytes"] = info.size_bytes
    return data


def _status_dict(status: LVStatus, with_les: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "info": _info_dict(status.info),
        "counters": dataclasses.asdict(status.counters),
    }
    if with_les:
        data["les"] = [
            {
                "le": e.le,
                "pe": dataclasses.asdict(e.pe),
                "state": e.state,
                "locked": e.locked,
                "wrlocked": e.wrlocked,
                "moving": e.moving,
                "inflight": e.inflight,
                "held": e.held,
            }
            for e in status.les
        ]
    return data


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def exit_code_for(exc: BaseException) -> int:
    """The exit code ``pemove`` returns for an exception."""
    if isinstance(exc, errors.PermissionDenied):
        return exitcodes.PERMISSION
    if isinstance(exc, errors.ModuleNotLoaded):
        return exitcodes.NO_MODULE
    return exitcodes.FAILED


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
            return exit_code_for(exc)

    return wrapper


def _device_sectors(ext: Extent) -> int:
    with open(f"/sys/dev/block/{ext.major}:{ext.minor}/size", encoding="ascii") as size:
        return int(size.read())


# -- create ------------------------------------------------------------------------


def _allocate(specs: Sequence[PVSpec], extent_sectors: int) -> list[Extent]:
    extents: list[Extent] = []
    for spec in specs:
        base = Extent.from_path(spec.dev)
        count = spec.count
        if count is None:
            count = (_device_sectors(base) - spec.first_sector) // extent_sectors
            if count <= 0:
                raise errors.InvalidArgument(
                    errno.EINVAL,
                    "create",
                    f"{spec.dev} has no room for an extent after sector {spec.first_sector}",
                )
        extents += [
            Extent(base.major, base.minor, spec.first_sector + i * extent_sectors)
            for i in range(count)
        ]
    return extents


@_reports_errors
def _cmd_create(args: argparse.Namespace) -> int:
    if args.extent_size % 512:
        print(
            "pemove create: --extent-size must be a multiple of 512 bytes (4 KiB or more)",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    extent_sectors = args.extent_size // 512
    extents = _allocate(args.pv, extent_sectors)
    node: str | None = None
    with Control() as ctl:
        if args.wait > 0:
            with discovery.watch_for_disk() as watch:
                info = ctl.lv_create(
                    args.name, extent_sectors, extents, notrack=args.no_track
                )
                try:
                    node = watch.wait(info.disk_name, timeout=args.wait)
                except errors.NodeTimeout as exc:
                    exc.hint += (
                        f". The LV {info.name} exists; 'pemove remove {info.name}' "
                        "removes it"
                    )
                    raise
        else:
            info = ctl.lv_create(
                args.name, extent_sectors, extents, notrack=args.no_track
            )
    if args.json:
        data = _info_dict(info)
        data["node"] = node
        _print_json(data)
    else:
        where = node or info.node
        print(
            f"{info.name}: {where} ({info.disk_major}:{info.disk_minor}), {info.extent_count} extents of "
            f"{_human(extent_sectors * 512)} = {_human(info.size_bytes)}"
            f"{', no tracking' if info.notrack else ''}"
        )
    return exitcodes.OK


# -- remove, list, status ------------------------------------------------------------


@_reports_errors
def _cmd_remove(args: argparse.Namespace) -> int:
    with Control() as ctl:
        ctl.lv_remove(args.name)
    if args.json:
        _print_json({"removed": args.name})
    return exitcodes.OK


@_reports_errors
def _cmd_list(args: argparse.Namespace) -> int:
    with Control() as ctl:
        lvs = ctl.lv_list()
    if args.json:
        _print_json([_info_dict(info) for info in lvs])
        return exitcodes.OK
    if not lvs:
        print("no LVs")
        return exitcodes.OK
    print(
        f"{'NAME':<16} {'DEVICE':<16} {'MAJ:MIN':<9} {'SIZE':>10} {'EXTENTS':>8} {'EXTENT':>10} {'OPEN':>4} FLAGS"
    )
    for info in lvs:
        devno = f"{info.disk_major}:{info.disk_minor}"
        print(
            f"{info.name:<16} {info.node:<16} {devno:<9}"
            f" {_human(info.size_bytes):>10} {info.extent_count:>8} {_human(info.extent_sectors * 512):>10}"
            f" {info.open_count:>4} {'notrack' if info.notrack else '-'}"
        )
    return exitcodes.OK


@_reports_errors
def _cmd_status(args: argparse.Namespace) -> int:
    with Control() as ctl:
        status = ctl.lv_status(args.name, le_count=None if args.les else 0)
    if args.json:
        _print_json(_status_dict(status, args.les))
        return exitcodes.OK
    info, c = status.info, status.counters
    print(f"{info.name}: {info.node} ({info.disk_major}:{info.disk_minor})")
    print(
        f"  {info.extent_count} extents of {_human(info.extent_sectors * 512)} = {_human(info.size_bytes)}, "
        f"{info.pv_count} PVs, open {info.open_count}, reserve {_human(info.reserve_bytes or 0)}"
        f"{', no tracking' if info.notrack else ''}"
    )
    print(
        f"  bios {c.bios}, splits {c.splits}, flushes {c.flushes}, held {c.held}, "
        f"moves {c.moves} ({c.moves_failed} failed, {_human(c.bytes_moved)}), remaps {c.remaps}"
    )
    if args.les:
        print(
            f"  {'LE':>8}  {'PV':<9} {'SECTOR':>12}  {'STATE':<16} {'INFLIGHT':>8} {'HELD':>6}"
        )
        for e in status.les:
            state = ",".join(
                s
                for s, on in (
                    ("locked", e.locked),
                    ("wrlocked", e.wrlocked),
                    ("moving", e.moving),
                )
                if on
            )
            print(
                f"  {e.le:>8}  {e.pe.devno:<9} {e.pe.sector:>12}  {state or '-':<16} {e.inflight:>8} {e.held:>6}"
            )
    return exitcodes.OK


# -- move -----------------------------------------------------------------------------


def _free_slots(
    used: list[tuple[int, int]], device_sectors: int, extent_sectors: int, n: int
) -> list[int]:
    """First-fit ``n`` free ranges of ``extent_sectors`` on a device, avoiding the ``(start, length)`` in ``used``.

    Starts are kept on 4 KiB boundaries (8 sectors), which satisfies any
    logical block size up to 4 KiB.
    """
    slots: list[int] = []
    taken = sorted(used)
    pos = 0
    while len(slots) < n:
        pos = -(-pos // 8) * 8
        clash = next(
            ((s, ln) for s, ln in taken if s < pos + extent_sectors and pos < s + ln),
            None,
        )
        if clash is not None:
            pos = clash[0] + clash[1]
            continue
        if pos + extent_sectors > device_sectors:
            raise errors.InvalidArgument(
                errno.EINVAL,
                "move",
                f"the destination has room for only {len(slots)} of the {n} extents",
            )
        slots.append(pos)
        taken.append((pos, extent_sectors))
        pos += extent_sectors
    return slots


class _Progress:
    """A text progress bar on a terminal, or one line per LE otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0

    def bytes(self, done: int, total: int) -> None:
        if self.tty:
            self._draw(self.done + (done / total if total else 1))

    def moved(self, le: int, dest: Extent, result: MoveResult) -> None:
        self.done += 1
        if self.tty:
            self._draw(self.done)
        else:
            print(
                f"[{self.done}/{self.total}] LE {le} -> {dest} ({result.method}, "
                f"held {result.stats.hold_ns / 1e6:.1f} ms)",
                file=self.stream,
                flush=True,
            )

    def _draw(self, position: float) -> None:
        width = 30
        filled = int(width * position / self.total)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {int(position)}/{self.total} LEs"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()


def _move_record(
    le: int, source: Extent, dest: Extent, result: MoveResult
) -> dict[str, Any]:
    return {
        "le": le,
        "from": dataclasses.asdict(source),
        "to": dataclasses.asdict(dest),
        "method": result.method,
        "stats": dataclasses.asdict(result.stats),
    }


def _show_warning(
    message: Warning | str, category: type[Warning], *_: Any, **__: Any
) -> None:
    print(f"pemove: warning: {message}", file=sys.stderr)


def _le_state(le: LEStatus) -> list[str]:
    """What holds an LE, in words: who owns it and what its IO is doing."""
    words = []
    if le.moving:
        words.append("a PE_MOVE is copying it")
    if le.wrlocked:
        words.append("a PE_LOCK (legacy move) holds its writes")
    if le.inflight:
        words.append(f"{le.inflight} bios in flight")
    if le.held:
        words.append(f"{le.held} bios held")
    return words


def _failed_move(
    ctl: Control, name: str, le: int, source: Extent, dest: Extent, exc: OSError
) -> dict[str, Any]:
    """Where the LE that failed to move lives now, read back from LV_STATUS.

    A failed PE_MOVE leaves the map as it was; this is the evidence, and on
    EBUSY it names what else owns the LE.
    """
    record: dict[str, Any] = {
        "le": le,
        "from": dataclasses.asdict(source),
        "to": dataclasses.asdict(dest),
        "errno": errno.errorcode.get(exc.errno or 0, str(exc.errno)),
    }
    try:
        now = ctl.lv_status(name).les[le]
    except (OSError, IndexError) as again:  # e.g. the LV was removed meanwhile
        record["status_error"] = str(again)
        return record
    record["pe_now"] = dataclasses.asdict(now.pe)
    record["unchanged"] = now.pe == source
    record["state"] = _le_state(now)
    return record


def _failed_line(name: str, failed: dict[str, Any]) -> str:
    if "pe_now" not in failed:
        return f"LE {failed['le']}: could not read its state back ({failed['status_error']})"
    where = Extent(**failed["pe_now"])
    if failed["unchanged"]:
        line = f"{name} LE {failed['le']} is still on {where}: the map is unchanged"
    else:
        line = f"{name} LE {failed['le']} is now on {where}, not where it was"
    if failed["state"]:
        line += "; now: " + ", ".join(failed["state"])
    return line


@_reports_errors
def _cmd_move(args: argparse.Namespace) -> int:
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
        base = Extent.from_path(args.to.dev)
        if args.to.sector is not None:
            starts = [args.to.sector + i * info.extent_sectors for i in range(len(les))]
        else:
            used = [
                (e.sector, n) for e, n in ctl.extents_in_use([(base.major, base.minor)])
            ]
            starts = _free_slots(
                used, _device_sectors(base), info.extent_sectors, len(les)
            )
        plan = [
            (le, status.les[le].pe, Extent(base.major, base.minor, s))
            for le, s in zip(les, starts)
        ]

        records: list[dict[str, Any]] = []
        progress = _Progress(len(plan), sys.stderr) if len(plan) > 1 else None
        failure: OSError | None = None
        failed: dict[str, Any] | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("always", LegacyFallbackWarning)
            warnings.showwarning = _show_warning
            try:
                for le, source, dest in plan:
                    callback = progress.bytes if progress else None
                    if args.legacy:
                        result = MoveResult(
                            "legacy",
                            legacy.legacy_move(
                                ctl, args.name, le, dest, progress=callback
                            ),
                        )
                    else:
                        result = ctl.move_pe(args.name, le, dest, progress=callback)
                    records.append(_move_record(le, source, dest, result))
                    if progress:
                        progress.moved(le, dest, result)
            except OSError as exc:
                failure = exc
                le, source, dest = plan[len(records)]
                failed = _failed_move(ctl, args.name, le, source, dest, exc)
            finally:
                if progress:
                    progress.close()

    if args.json:
        _print_json(
            {
                "lv": args.name,
                "moves": records,
                "error": str(failure) if failure else None,
                "failed": failed,
            }
        )
    else:
        for rec in records if len(plan) == 1 else []:
            s = rec["stats"]
            print(
                f"moved {args.name} LE {rec['le']} -> {Extent(**rec['to'])} ({rec['method']}): "
                f"{_human(s['bytes_copied'])}, IO held {s['hold_ns'] / 1e6:.1f} ms, "
                f"{s['bios_drained']} bios drained, {s['bios_held']} held"
            )
        if len(plan) > 1 and records:
            longest = max(r["stats"]["hold_ns"] for r in records) / 1e6
            methods = "/".join(sorted({r["method"] for r in records}))
            print(
                f"moved {len(records)} of {len(plan)} LEs of {args.name} to {args.to.dev} ({methods}): "
                f"{_human(sum(r['stats']['bytes_copied'] for r in records))}, longest hold {longest:.1f} ms"
            )
    if failure is not None:
        done = (
            f" after moving {len(records)} of {len(plan)} LEs" if len(plan) > 1 else ""
        )
        print(f"pemove move: {failure}{done}", file=sys.stderr)
        if failed is not None:
            print(f"pemove move: {_failed_line(args.name, failed)}", file=sys.stderr)
        return exit_code_for(failure)
    return exitcodes.OK


# -- registration ---------------------------------------------------------------------------


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


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON on stdout"
    )


def register(subparsers: Any) -> None:
    """Add ``create``, ``remove``, ``list``, ``status`` and ``move`` to the ``pemove`` parser."""
    p = _parser(
        subparsers,
        "create",
        "create an LV from extents on block devices",
        "Create an LV.  Each --pv DEV[:FIRST_SECTOR[:COUNT]] adds COUNT consecutive extents on DEV\n"
        "starting at FIRST_SECTOR (default 0); without COUNT, as many as fit.  LEs are numbered in\n"
        "the order the --pv options are given.\n\n"
        "  pemove create lv0 --extent-size 4M --pv /dev/vdb:0:16 --pv /dev/vdc:0:16",
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
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="wait this long for the LV's device node (0: do not wait; default 60)",
    )
    _add_json(p)
    p.set_defaults(func=_cmd_create)

    p = _parser(
        subparsers, "remove", "remove an LV", "Remove an LV.  It must not be open."
    )
    p.add_argument("name", metavar="NAME")
    _add_json(p)
    p.set_defaults(func=_cmd_remove)

    p = _parser(
        subparsers,
        "list",
        "list the LVs",
        "List the LVs (--json prints [] when there are none).",
    )
    _add_json(p)
    p.set_defaults(func=_cmd_list)

    p = _parser(
        subparsers,
        "status",
        "show an LV's map and counters",
        "Show an LV's counters and, with --les, each LE's PE, state and in-flight IO.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--les", action="store_true", help="also list every LE")
    _add_json(p)
    p.set_defaults(func=_cmd_status)

    p = _parser(
        subparsers,
        "move",
        "move LEs to another device",
        "Move LEs of an LV to DEV while it stays in use.  LES is 'all' or a list like 0,2,5-7.\n"
        "--to DEV:SECTOR places them one after another from SECTOR; --to DEV alone picks the first\n"
        "free places on DEV.  The locked in-kernel move (PE_MOVE) is used unless the module lacks it\n"
        "(then the legacy move, with a warning) or --legacy is given.\n\n"
        "  pemove move lv0 all --to /dev/vdc\n"
        "  pemove move lv0 3 --to /dev/vdc:8192 --legacy",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "les", type=parse_le_spec, metavar="LES", help="'all' or LEs such as 0,2,5-7"
    )
    p.add_argument(
        "--to",
        type=parse_to_spec,
        required=True,
        metavar="DEV[:SECTOR]",
        help="destination",
    )
    p.add_argument(
        "--legacy",
        action="store_true",
        help="use the 2002 userspace move (PE_LOCK, buffered copy, PE_REMAP, PE_UNLOCK), which can lose writes",
    )
    _add_json(p)
    p.set_defaults(func=_cmd_move)
