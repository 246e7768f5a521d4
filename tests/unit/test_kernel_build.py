"""pemove kernel build against a fake make: configure, check, build, stamp, reuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pemove import exitcodes
from pemove.kernel import build, cache, cli

# Plays kbuild: allnoconfig writes the fragment's requests (minus $FAKE_DROP)
# to .config; "all" prints kbuild's short lines and makes the image.
FAKE_MAKE = r"""#!PYTHON
import os, re, sys
args = sys.argv[1:]
out = next(a[2:] for a in args if a.startswith("O="))
target = args[-1]
frag = next((a.split("=", 1)[1] for a in args if a.startswith("KCONFIG_ALLCONFIG=")), None)
drop = set(filter(None, os.environ.get("FAKE_DROP", "").split(",")))
with open(os.path.join(out, "..", "make-calls"), "a") as f:
    f.write(target + "\n")
if target == "allnoconfig":
    lines = []
    for line in open(frag):
        m = re.match(r"^(CONFIG_\w+)=(.*)$", line.strip())
        if m and m.group(1) not in drop:
            lines.append(line.strip())
    open(os.path.join(out, ".config"), "w").write("\n".join(lines) + "\n")
elif target == "all":
    for i in range(int(os.environ.get("FAKE_OBJECTS", "5"))):
        print(f"  CC      kernel/f{i}.o")
    print("  CC [M]  drivers/md/dm-delay.o")
    print("  LD      vmlinux")
    if os.environ.get("FAKE_FAIL"):
        print("kernel/f.c:1:1: error: boom", file=sys.stderr)
        sys.exit(2)
    cfg = open(os.path.join(out, ".config")).read()
    local = re.search(r'^CONFIG_LOCALVERSION="(.*)"$', cfg, re.M).group(1)
    os.makedirs(os.path.join(out, "arch/x86/boot"), exist_ok=True)
    open(os.path.join(out, "arch/x86/boot/bzImage"), "wb").write(b"\0" * 4096)
    os.makedirs(os.path.join(out, "include/config"), exist_ok=True)
    open(os.path.join(out, "include/config/kernel.release"), "w").write("6.12.117" + local + "\n")
"""


@pytest.fixture
def env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_tool: Callable[[str, str], Path],
) -> dict[str, Path]:
    fake_tool("make", FAKE_MAKE)
    monkeypatch.setattr(build, "compiler_version", lambda: "gcc (fake) 12.2.0")
    tree = tmp_path / "linux"
    tree.mkdir()
    (tree / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n")
    (tree / "Kconfig").write_text("")
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "base.config").write_text("CONFIG_MODULES=y\nCONFIG_BLK_DEV_DM=m\n")
    (configs / "debug.config").write_text(
        "CONFIG_KASAN=y\n# CONFIG_KFENCE is not set\n"
    )
    return {"tree": tree, "configs": configs, "root": tmp_path / "cache"}


def request(env: dict[str, Path], **kw: object) -> build.Request:
    fields: dict[str, object] = {
        "series": "6.12",
        "source": env["tree"],
        "root": env["root"],
        "configs": env["configs"],
        "jobs": 2,
    }
    fields.update(kw)
    return build.Request(**fields)  # type: ignore[arg-type]


def make_calls(env: dict[str, Path]) -> list[str]:
    path = env["root"] / "make-calls"
    return path.read_text().split() if path.exists() else []


def test_build_then_reuse(env: dict[str, Path]) -> None:
    said: list[str] = []
    entry, reused = build.build(request(env), say=said.append, interval=0)
    assert not reused
    assert entry.path.parent == env["root"] and entry.path.name.startswith(
        "debug-6.12.117-"
    )
    assert entry.release == f"6.12.117-pemove-debug-{entry.key[:8]}"
    assert entry.objects == 6  # five CC lines and one CC [M]; LD is not an object
    assert entry.bzimage_bytes == 4096
    assert cache.read_stamp(entry.path) == entry
    assert make_calls(env) == ["allnoconfig", "olddefconfig", "all"]
    assert any("objects" in s for s in said)
    assert "make" in (entry.path / cache.LOG).read_text()
    fragment = (entry.path / "pemove.config").read_text()
    assert (
        "CONFIG_KASAN=y" in fragment
        and 'CONFIG_LOCALVERSION="-pemove-debug-' in fragment
    )

    again, reused = build.build(request(env), say=said.append)
    assert reused and again == entry
    assert make_calls(env) == ["allnoconfig", "olddefconfig", "all"]  # no new make


def test_flavours_and_configs_get_their_own_directory(env: dict[str, Path]) -> None:
    debug, _ = build.build(request(env), say=lambda s: None)
    base, _ = build.build(request(env, debug=False), say=lambda s: None)
    assert base.path != debug.path and base.flavour == "base"
    assert base.path.name.startswith("base-6.12.117-")
    (env["configs"] / "debug.config").write_text("CONFIG_KASAN=y\nCONFIG_UBSAN=y\n")
    changed, reused = build.build(request(env), say=lambda s: None)
    assert not reused and changed.path != debug.path
    assert changed.config_digest != debug.config_digest


def test_dropped_option_fails_with_the_list(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DROP", "CONFIG_KASAN")
    with pytest.raises(build.BuildError) as info:
        build.build(request(env), say=lambda s: None)
    msg = str(info.value)
    assert "CONFIG_KASAN: wanted =y, got not set" in msg
    assert "debug.config:1" in msg
    assert make_calls(env) == ["allnoconfig", "olddefconfig"]  # never built
    assert cache.entries(env["root"]) == []


def test_failed_build_leaves_no_stamp_and_names_the_log(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_FAIL", "1")
    with pytest.raises(build.BuildError, match=r"make exit 2.*build\.log") as info:
        build.build(request(env), say=lambda s: None)
    assert "error: boom" in str(info.value)
    assert cache.entries(env["root"]) == []
    monkeypatch.delenv("FAKE_FAIL")
    entry, reused = build.build(request(env), say=lambda s: None)
    assert not reused and cache.entries(env["root"]) == [entry]


def test_rebuild_runs_make_again(env: dict[str, Path]) -> None:
    first, _ = build.build(request(env), say=lambda s: None)
    second, reused = build.build(request(env, rebuild=True), say=lambda s: None)
    assert not reused and second.path == first.path
    assert make_calls(env).count("all") == 2


def test_progress_counts_objects_and_reports_periodically() -> None:
    now = [0.0]
    said: list[str] = []
    p = build.Progress(said.append, interval=5, expected=200, clock=lambda: now[0])
    for i in range(50):
        now[0] = i * 0.5
        p.feed(f"  CC      fs/ext4/f{i}.o")
    p.feed("  AR      fs/ext4/built-in.a")
    p.feed("fs/ext4/x.c:3: warning: unused")
    assert p.objects == 50
    assert len(said) == 4  # at 5, 10, 15 and 20 s
    assert said[-1] == "  0m20s  41/~200 objects (20%)  fs/ext4/f40.o"
    p = build.Progress(said.append, interval=5, tree=Path("/c/debug-1"))
    p.feed("  CC      /c/debug-1/tools/objtool/check.o")
    assert p.line().endswith("  1 objects  tools/objtool/check.o")


def test_cli_build_prints_where_the_kernel_is(
    env: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PEMOVE_SRC", str(env["configs"].parent))
    (env["configs"].parent / "kernel").mkdir()
    (env["configs"]).rename(env["configs"].parent / "kernel" / "configs")
    argv = ["build", "--source", str(env["tree"]), "--cache", str(env["root"])]
    assert cli.main(argv) == exitcodes.OK
    out = capsys.readouterr().out
    assert "built in" in out and "pemove vm --kernel debug-6.12" in out
    assert cli.main(argv) == exitcodes.OK
    assert "cached, not rebuilt" in capsys.readouterr().out
    assert cli.main(["list", "--cache", str(env["root"])]) == exitcodes.OK
    assert "debug-6.12" in capsys.readouterr().out
    assert cli.main(["path", "--cache", str(env["root"])]) == exitcodes.OK
    assert capsys.readouterr().out.strip().startswith(str(env["root"]))


def test_cli_build_failure_exit_code(
    env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["build", "--source", str(env["tree"] / "nope"), "--cache", str(env["root"])]
    assert cli.main(argv) == exitcodes.FAILED
    assert "no such directory" in capsys.readouterr().err
