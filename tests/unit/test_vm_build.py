"""The module build copies only sources into each kernel's build directory."""

from __future__ import annotations

import os
from pathlib import Path

from pemove.vm import build


def test_objects_left_in_kmod_do_not_reach_a_kernels_build(tmp_path: Path):
    src, dst = tmp_path / "kmod", tmp_path / "out"
    (src / "include" / "uapi" / "linux").mkdir(parents=True)
    for name in (
        "pemove_io.c",
        "pemove.h",
        "Kbuild",
        "Makefile",
        "include/uapi/linux/pemove.h",
    ):
        (src / name).write_text("x\n")
    # What an in-tree build for another kernel leaves behind.
    for name in (
        ".module-common.o",
        "pemove_io.o",
        "pemove.ko",
        "pemove.mod.c",
        ".pemove_io.o.cmd",
    ):
        (src / name).write_text("stale\n")
    build._sync(src, dst)
    got = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert got == [
        "Kbuild",
        "Makefile",
        "include/uapi/linux/pemove.h",
        "pemove.h",
        "pemove_io.c",
    ]


def test_only_sources_decide_whether_to_rebuild(tmp_path: Path):
    src = tmp_path / "kmod"
    src.mkdir()
    (src / "pemove_io.c").write_text("x\n")
    os.utime(src / "pemove_io.c", (100, 100))
    (src / "pemove_io.o").write_text("newer, but an object\n")
    os.utime(src / "pemove_io.o", (200, 200))
    assert build._newest_mtime(src) == 100
