"""``pemove create|remove|list|status|move``: argument syntax, help and exit codes."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pemove import cmd_lv, errors, exitcodes, uapi
from pemove.cmd_lv import PVSpec, ToSpec
from pemove.control import Extent, LEStatus, MoveResult, MoveStats


def lv_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pemove")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd_lv.register(sub)
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
    assert args.pv == [PVSpec("/dev/vdb", 0, 64), PVSpec("/dev/vdc", 0, None)]
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
        ("/dev/vdb", PVSpec("/dev/vdb", 0, None)),
        ("/dev/vdb:2048", PVSpec("/dev/vdb", 2048, None)),
        ("/dev/vdb:2048:16", PVSpec("/dev/vdb", 2048, 16)),
        ("/dev/mapper/pemove-t0:8", PVSpec("/dev/mapper/pemove-t0", 8, None)),
    ],
)
def test_pv_spec(text: str, spec: PVSpec) -> None:
    assert cmd_lv.parse_pv_spec(text) == spec


def test_pv_spec_keeps_an_existing_path_with_colons(tmp_path: Path) -> None:
    odd = tmp_path / "pci-0000:00:05.0"
    odd.touch()
    assert cmd_lv.parse_pv_spec(str(odd)) == PVSpec(str(odd), 0, None)
    assert cmd_lv.parse_pv_spec(f"{odd}:8:2") == PVSpec(str(odd), 8, 2)


@pytest.mark.parametrize(
    "text", ["", ":8", "/dev/vdb:x", "/dev/vdb:8:0", "/dev/vdb:1:2:3"]
)
def test_bad_pv_spec(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cmd_lv.parse_pv_spec(text)


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
    assert cmd_lv.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "4X", "-4M", "4.5M"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cmd_lv.parse_size(text)


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
    assert cmd_lv.parse_le_spec(text) == les


@pytest.mark.parametrize("text", ["", "a", "3-1", "1,,2", "-1"])
def test_bad_le_spec(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cmd_lv.parse_le_spec(text)


def test_move_arguments() -> None:
    args = parse("move", "lv0", "0,2-3", "--to", "/dev/vdc:8192", "--legacy", "--json")
    assert args.les == [0, 2, 3]
    assert args.to == ToSpec("/dev/vdc", 8192)
    assert args.legacy and args.json
    assert parse("move", "lv0", "all", "--to", "/dev/vdc").to == ToSpec(
        "/dev/vdc", None
    )


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
    assert cmd_lv.exit_code_for(errors.from_errno(13, "open")) == exitcodes.PERMISSION
    assert cmd_lv.exit_code_for(errors.from_errno(1, "LV_LIST")) == exitcodes.PERMISSION
    assert cmd_lv.exit_code_for(errors.from_errno(2, "open")) == exitcodes.NO_MODULE
    assert cmd_lv.exit_code_for(errors.from_errno(16, "LV_REMOVE")) == exitcodes.FAILED
    assert cmd_lv.exit_code_for(OSError(5, "EIO")) == exitcodes.FAILED


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


def test_free_slots_first_fit() -> None:
    used = [(0, 8192), (16384, 8192)]
    assert cmd_lv._free_slots(used, 65536, 8192, 3) == [8192, 24576, 32768]
    # An unaligned end rounds the next start up to 4 KiB.
    assert cmd_lv._free_slots([(0, 13)], 1000, 8, 2) == [16, 24]
    with pytest.raises(errors.InvalidArgument):
        cmd_lv._free_slots(used, 32768, 8192, 3)


def test_progress_without_a_terminal_prints_one_line_per_le() -> None:
    stream = io.StringIO()
    progress = cmd_lv._Progress(2, stream)
    result = MoveResult("locked", MoveStats(4096, 1_500_000, 1_000_000, 0, 0))
    progress.bytes(2048, 4096)
    progress.moved(0, Extent(254, 16, 0), result)
    progress.moved(1, Extent(254, 16, 8), result)
    progress.close()
    assert stream.getvalue().splitlines() == [
        "[1/2] LE 0 -> 254:16+0 (locked, held 1.5 ms)",
        "[2/2] LE 1 -> 254:16+8 (locked, held 1.5 ms)",
    ]


def test_progress_on_a_terminal_draws_a_bar() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = cmd_lv._Progress(4, stream)
    progress.bytes(1, 2)
    progress.moved(0, Extent(1, 2, 0), MoveResult("legacy", MoveStats(1, 1, 1, 0, 0)))
    progress.close()
    frames = stream.getvalue().split("\r")
    assert frames[-1].startswith("[#######") and frames[-1].endswith("1/4 LEs\n")


def test_json_helpers_are_serialisable() -> None:
    from pemove.control import LVInfo

    info = LVInfo("lv0", "pemove0", 252, 0, 8192, 4, 1, 0, 1, 4096)
    data: dict[str, Any] = cmd_lv._info_dict(info)
    assert json.loads(json.dumps(data))["notrack"] is True
    assert data["size_bytes"] == 4 * 8192 * 512


def test_registered_in_the_main_parser() -> None:
    def absent(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is None
        except ModuleNotFoundError:
            return True

    missing = [
        m for m in ("pemove.demo", "pemove.bench.cli", "pemove.vm.cli") if absent(m)
    ]
    if missing:
        pytest.skip(f"other subcommand modules not written yet: {missing}")
    from pemove import cli

    args = cli.build_parser().parse_args(["list", "--json"])
    assert args.func.__name__ == "_cmd_list"


def _le(state: int = 0, inflight: int = 0, held: int = 0) -> LEStatus:
    return LEStatus(3, Extent(254, 1, 8192), state, inflight, held)


def test_failure_report_names_what_owns_the_le() -> None:
    assert cmd_lv._le_state(_le()) == []
    words = cmd_lv._le_state(
        _le(uapi.const["PEMOVE_LE_MOVING"] | uapi.const["PEMOVE_LE_LOCKED"], 0, 2)
    )
    assert words == ["a PE_MOVE is copying it", "2 bios held"]
    words = cmd_lv._le_state(_le(uapi.const["PEMOVE_LE_WRLOCKED"], 1))
    assert words == ["a PE_LOCK (legacy move) holds its writes", "1 bios in flight"]


def test_failure_line_says_whether_the_map_changed() -> None:
    src = {"major": 254, "minor": 1, "sector": 8192}
    same = {"le": 3, "pe_now": src, "unchanged": True, "state": []}
    assert cmd_lv._failed_line("lv0", same) == (
        "lv0 LE 3 is still on 254:1+8192: the map is unchanged"
    )
    busy = dict(same, state=["a PE_MOVE is copying it"])
    assert cmd_lv._failed_line("lv0", busy).endswith("; now: a PE_MOVE is copying it")
    moved = dict(same, unchanged=False)
    assert "not where it was" in cmd_lv._failed_line("lv0", moved)
    gone = {"le": 3, "status_error": "no LV lv0"}
    assert "could not read its state back (no LV lv0)" in cmd_lv._failed_line(
        "lv0", gone
    )
