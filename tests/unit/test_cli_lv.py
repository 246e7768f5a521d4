"""``pemove create|remove|list|status|move``: argument syntax, output, reports, exit codes."""

from __future__ import annotations

import argparse
import errno
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pemove import errors, exitcodes, uapi, units
from pemove.cli import args as cli_args
from pemove.cli import forensics, output
from pemove.cli import lv as cli_lv
from pemove.cli import meta as cli_meta
from pemove.cli.progress import Progress
from pemove.control import Extent, LEStatus, LVInfo, MoveStats
from pemove.move import MoveResult
from pemove.placement import PVSpec, ToSpec


def lv_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pemove")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_lv.register(sub)
    return parser


def parse(*argv: str) -> argparse.Namespace:
    return lv_parser().parse_args(list(argv))


def test_create_arguments() -> None:
    args = parse(
        "create",
        "lv0",
        "--extent-size",
        "4M",
        "--pv",
        "/dev/vdb:0:64",
        "--pv",
        "/dev/vdc",
        "--no-track",
    )
    assert args.name == "lv0"
    assert args.extent_size == 4 << 20
    assert args.pv == [PVSpec("/dev/vdb", 0, 64), PVSpec("/dev/vdc", None, None)]
    assert args.no_track
    assert not args.json
    assert args.func.__name__ == "_cmd_create"


def test_create_needs_a_pv(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("create", "lv0")
    assert info.value.code == exitcodes.USAGE
    assert "--pv" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("/dev/vdb", PVSpec("/dev/vdb", None, None)),
        ("/dev/vdb:2048", PVSpec("/dev/vdb", 2048, None)),
        ("/dev/vdb:2048:16", PVSpec("/dev/vdb", 2048, 16)),
        ("/dev/mapper/pemove-t0:8", PVSpec("/dev/mapper/pemove-t0", 8, None)),
    ],
)
def test_pv_spec(text: str, spec: PVSpec) -> None:
    assert cli_args.parse_pv_spec(text) == spec


def test_pv_spec_keeps_an_existing_path_with_colons(tmp_path: Path) -> None:
    odd = tmp_path / "pci-0000:00:05.0"
    odd.touch()
    assert cli_args.parse_pv_spec(str(odd)) == PVSpec(str(odd), None, None)
    assert cli_args.parse_pv_spec(f"{odd}:8:2") == PVSpec(str(odd), 8, 2)


@pytest.mark.parametrize(
    "text", ["", ":8", "/dev/vdb:x", "/dev/vdb:8:0", "/dev/vdb:1:2:3"]
)
def test_bad_pv_spec(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli_args.parse_pv_spec(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4M", 4 << 20),
        ("4MiB", 4 << 20),
        ("512k", 512 << 10),
        ("8192s", 8192 * 512),
        ("4096", 4096),
        ("1G", 1 << 30),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert units.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "4X", "-4M", "4.5M"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        units.parse_size(text)


@pytest.mark.parametrize(
    ("text", "les"),
    [
        ("all", None),
        ("ALL", None),
        ("3", [3]),
        ("0,2,5-7", [0, 2, 5, 6, 7]),
        ("5-7,6,0", [0, 5, 6, 7]),
    ],
)
def test_le_spec(text: str, les: list[int] | None) -> None:
    assert cli_args.parse_le_spec(text) == les


@pytest.mark.parametrize("text", ["", "a", "3-1", "1,,2", "-1"])
def test_bad_le_spec(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli_args.parse_le_spec(text)


def test_move_arguments() -> None:
    args = parse("move", "lv0", "0,2-3", "--to", "/dev/vdc:8192", "--legacy", "--json")
    assert args.les == [0, 2, 3]
    assert args.to == ToSpec("/dev/vdc", 8192)
    assert args.legacy and args.json
    default = parse("move", "lv0", "all", "--to", "/dev/vdc")
    assert default.to == ToSpec("/dev/vdc", None)
    assert default.method == "auto" and not default.legacy


@pytest.mark.parametrize("method", ["auto", "locked", "legacy"])
def test_move_method(method: str) -> None:
    assert parse("move", "lv0", "1", "--to", "/dev/vdc", "--method", method).method == (
        method
    )


def test_move_method_must_be_known(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("move", "lv0", "1", "--to", "/dev/vdc", "--method", "live")
    assert info.value.code == exitcodes.USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_move_needs_a_destination() -> None:
    with pytest.raises(SystemExit) as info:
        parse("move", "lv0", "1")
    assert info.value.code == exitcodes.USAGE


def test_json_on_every_reporting_command() -> None:
    for argv in (
        ["create", "lv0", "--pv", "/dev/vdb"],
        ["remove", "lv0"],
        ["list"],
        ["status", "lv0"],
        ["move", "lv0", "1", "--to", "/dev/vdc"],
    ):
        assert parse(*argv, "--json").json


@pytest.mark.parametrize("command", ["create", "remove", "list", "status", "move"])
def test_help_documents_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse(command, "--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in (
        exitcodes.OK,
        exitcodes.FAILED,
        exitcodes.NO_MODULE,
        exitcodes.PERMISSION,
    ):
        assert f"\n  {code:<4} " in out


def test_exit_codes_for_errors() -> None:
    for_error = exitcodes.for_error
    assert for_error(errors.from_errno(13, "open")) == exitcodes.PERMISSION
    assert for_error(errors.from_errno(1, "LV_LIST")) == exitcodes.PERMISSION
    assert for_error(errors.from_errno(2, "open")) == exitcodes.NO_MODULE
    assert for_error(errors.from_errno(16, "LV_REMOVE")) == exitcodes.FAILED
    assert for_error(OSError(5, "EIO")) == exitcodes.FAILED


def test_missing_module_gives_no_module_exit_and_advice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if Path("/dev/pemove-control").exists():
        pytest.skip("the pemove module is loaded here")
    args = parse("list", "--json")
    assert args.func(args) == exitcodes.NO_MODULE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "modprobe pemove" in captured.err


def test_progress_without_a_terminal_prints_one_line_per_le() -> None:
    stream = io.StringIO()
    progress = Progress(2, stream)
    result = MoveResult("locked", MoveStats(4096, 1_500_000, 1_000_000, 0, 0))
    progress.bytes(2048, 4096)
    progress.moved(0, Extent(254, 16, 0), result)
    progress.moved(1, Extent(254, 16, 8), result)
    progress.close()
    assert stream.getvalue().splitlines() == [
        "[1/2] LE 0 -> 254:16+0 (locked, held 1.5 ms, longest wait 0.0 ms)",
        "[2/2] LE 1 -> 254:16+8 (locked, held 1.5 ms, longest wait 0.0 ms)",
    ]


def test_progress_on_a_terminal_draws_a_bar() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = Progress(4, stream)
    progress.bytes(1, 2)
    progress.moved(0, Extent(1, 2, 0), MoveResult("legacy", MoveStats(1, 1, 1, 0, 0)))
    progress.close()
    frames = stream.getvalue().split("\r")
    assert "(50% of LE 1)" in frames[1], "the bar moves within one LE"
    assert frames[-1].startswith("[#######") and frames[-1].endswith("1/4 LEs  \n")


def test_json_helpers_are_serialisable() -> None:
    info = LVInfo("lv0", "pemove0", 252, 0, 8192, 4, 1, 0, 1, 4096)
    data: dict[str, Any] = output.info_dict(info)
    assert json.loads(json.dumps(data))["notrack"] is True
    assert data["size_bytes"] == 4 * 8192 * 512


def test_registered_in_the_main_parser() -> None:
    from pemove import cli

    args = cli.build_parser().parse_args(["list", "--json"])
    assert args.func.__name__ == "_cmd_list"
    sub = next(
        a
        for a in cli.build_parser()._actions
        if isinstance(a, argparse._SubParsersAction)
    )
    assert list(sub.choices) == list(cli.COMMANDS)


def test_every_lv_and_meta_command_ends_with_json_and_runs_its_handler() -> None:
    parser = argparse.ArgumentParser(prog="pemove")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_lv.register(sub)
    cli_meta.register(sub)
    assert len(sub.choices) == 8
    for name, command in sub.choices.items():
        assert command._actions[-1].option_strings == ["--json"], name
        assert command.get_default("func").__name__ == f"_cmd_{name}"


def _imported_for(argv: list[str]) -> set[str]:
    """The pemove modules that building the parser for ``argv`` imports, in a fresh Python."""
    code = (
        "import sys, json\n"
        "from pemove import cli\n"
        f"cli.build_parser({argv!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pemove'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_subcommands_are_imported_only_when_run() -> None:
    vm_only = _imported_for(["vm", "--", "true"])
    assert "pemove.vm.cli" in vm_only
    # pemove vm runs on hosts without the module: no uapi header read.
    assert not {"pemove.uapi", "pemove.control", "pemove.cli.lv"} & vm_only
    lv_only = _imported_for(["list"])
    assert "pemove.cli.lv" in lv_only and "pemove.vm.cli" not in lv_only
    everything = _imported_for([])
    assert {"pemove.cli.lv", "pemove.demo", "pemove.bench.cli", "pemove.vm.cli"} <= (
        everything
    )


def _le(state: int = 0, inflight: int = 0, held: int = 0) -> LEStatus:
    return LEStatus(3, Extent(254, 1, 8192), state, inflight, held)


def test_failure_report_names_what_owns_the_le() -> None:
    assert forensics.le_state(_le()) == []
    words = forensics.le_state(
        _le(uapi.const["PEMOVE_LE_MOVING"] | uapi.const["PEMOVE_LE_LOCKED"], 0, 2)
    )
    assert words == ["a PE_MOVE is copying it", "2 bios held"]
    words = forensics.le_state(_le(uapi.const["PEMOVE_LE_WRLOCKED"], 1))
    assert words == ["a PE_LOCK (legacy move) holds its writes", "1 bios in flight"]


def test_failure_line_says_whether_the_map_changed() -> None:
    src = {"major": 254, "minor": 1, "sector": 8192}
    same = {"le": 3, "pe_now": src, "unchanged": True, "state": []}
    assert forensics.failed_line("lv0", same) == (
        "lv0 LE 3 is still on 254:1+8192: the map is unchanged"
    )
    busy = dict(same, state=["a PE_MOVE is copying it"])
    assert forensics.failed_line("lv0", busy).endswith("; now: a PE_MOVE is copying it")
    moved = dict(same, unchanged=False)
    assert "not where it was" in forensics.failed_line("lv0", moved)
    gone = {"le": 3, "status_error": "no LV lv0"}
    assert "could not read its state back (no LV lv0)" in forensics.failed_line(
        "lv0", gone
    )


class _GoneLV:
    """A control handle whose LV has vanished: LV_STATUS says ENOENT."""

    def lv_status(self, name: str) -> Any:
        raise errors.from_errno(errno.ENOENT, "LV_STATUS", lv=name)


def test_failure_record_names_eopnotsupp_as_linux_does() -> None:
    src, dest = Extent(254, 1, 0), Extent(254, 2, 0)
    exc = errors.from_errno(errno.EOPNOTSUPP, "PE_MOVE", lv="lv0", le=0)
    record = forensics.failed_move(_GoneLV(), "lv0", 0, src, dest, exc)  # type: ignore[arg-type]
    assert record["errno"] == "EOPNOTSUPP" == exc.errno_name
    assert record["from"] == {"major": 254, "minor": 1, "sector": 0}
    assert "LV_STATUS lv0" in record["status_error"]
    assert "could not read its state back" in forensics.failed_line("lv0", record)


def test_move_summary_lines() -> None:
    stats = MoveStats(1 << 20, 2_000_000, 1_000_000, 3, 4, max_wait_ns=500_000)
    rec = output.move_record(
        0, Extent(254, 1, 0), Extent(254, 2, 8), MoveResult("locked", stats, "live")
    )
    data = json.loads(json.dumps(rec))
    assert (data["method"], data["mode"]) == ("locked", "live")
    (one,) = output.moves_lines("lv0", "/dev/vdc", [rec], 1)
    assert one == (
        "moved lv0 LE 0 -> 254:2+8 (locked, live): 1.0 MiB, IO held 2.0 ms, "
        "longest wait 0.5 ms, 3 bios drained, 4 held, 0 writes mirrored"
    )
    (many,) = output.moves_lines("lv0", "/dev/vdc", [rec, rec], 3)
    assert many.startswith(
        "moved 2 of 3 LEs of lv0 to /dev/vdc (locked, live): 2.0 MiB"
    )
    legacy = output.move_record(
        0, Extent(254, 1, 0), Extent(254, 2, 8), MoveResult("legacy", stats)
    )
    assert json.loads(json.dumps(legacy))["mode"] is None
    assert output.moves_lines("lv0", "/dev/vdc", [], 3) == []
