"""Kernel sources: version from the Makefile, unpacking Debian's tarball once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pemove.kernel import source

MAKEFILE = "VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\nNAME = Baby\n"


def fake_tree(path: Path, makefile: str = MAKEFILE) -> Path:
    path.mkdir(parents=True)
    (path / "Makefile").write_text(makefile)
    (path / "Kconfig").write_text('mainmenu "Linux"\n')
    return path


@pytest.fixture
def usr_src(tmp_path: Path) -> Path:
    """A fake /usr/src with linux-source-6.12.tar.xz."""
    d = tmp_path / "usr-src"
    fake_tree(d / "linux-source-6.12")
    subprocess.run(
        [
            "tar",
            "-cJf",
            str(d / "linux-source-6.12.tar.xz"),
            "-C",
            str(d),
            "linux-source-6.12",
        ],
        check=True,
    )
    return d


def test_kernel_version_from_makefile(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "a")
    assert source.kernel_version(tree) == "6.12.117"
    rc = fake_tree(tmp_path / "b", MAKEFILE.replace("SUBLEVEL = 117", "SUBLEVEL = 0")
                   .replace("EXTRAVERSION =", "EXTRAVERSION = -rc3"))  # fmt: skip
    assert source.kernel_version(rc) == "6.12.0-rc3"
    assert source.series_of("6.12.0-rc3") == "6.12"
    with pytest.raises(source.SourceError, match="not a kernel source"):
        source.kernel_version(tmp_path / "missing")


def test_debian_tarball_unpacked_once(
    usr_src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "package_version", lambda pkg: "6.12.117-1~deb12u1")
    root = tmp_path / "cache"
    src = source.locate("6.12", root=root, usr_src=usr_src)
    assert src.tree == root / "src" / "linux-source-6.12_6.12.117-1_deb12u1"
    assert (src.kernel_version, src.version, src.series) == (
        "6.12.117",
        "6.12.117-1~deb12u1",
        "6.12",
    )
    marker = src.tree / "built-here"
    marker.write_text("")
    again = source.locate("6.12", root=root, usr_src=usr_src)
    assert again == src and marker.exists()  # not unpacked again
    assert [p.name for p in (root / "src").iterdir() if p.is_dir()] == [src.tree.name]


def test_missing_tarball_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(source.SourceError, match=r"apt-get install linux-source-6\.1'"):
        source.locate("6.1", root=tmp_path, usr_src=tmp_path)


def test_given_tree_is_used_in_place(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "linux")
    src = source.locate(None, tree, root=tmp_path / "cache")
    assert src.tree == tree.resolve() and src.series == "6.12"
    assert not (tmp_path / "cache").exists()
    with pytest.raises(source.SourceError, match="not series 6.1"):
        source.locate("6.1", tree, root=tmp_path / "cache")
    (tree / ".config").write_text("")
    with pytest.raises(source.SourceError, match="make mrproper"):
        source.locate(None, tree, root=tmp_path / "cache")


def test_given_tarball_is_unpacked(usr_src: Path, tmp_path: Path) -> None:
    src = source.locate(None, usr_src / "linux-source-6.12.tar.xz", root=tmp_path)
    assert src.kernel_version == "6.12.117"
    assert src.tree.parent == tmp_path / "src"


def test_not_a_source(tmp_path: Path) -> None:
    with pytest.raises(source.SourceError, match="no such directory"):
        source.locate(None, tmp_path / "nope", root=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(source.SourceError, match="no Kconfig"):
        source.locate(None, tmp_path / "empty", root=tmp_path)
