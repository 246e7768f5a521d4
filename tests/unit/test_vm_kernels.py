"""Kernel SPEC resolution against a fake /boot and /lib/modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pemove.vm import kernels

RELEASES = ["6.1.0-9-amd64", "6.1.0-56-amd64", "6.12.117+deb12-amd64", "6.10.3-amd64"]


@pytest.fixture
def fake_root(tmp_path: Path) -> tuple[Path, Path]:
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    boot.mkdir()
    for rel in RELEASES:
        (boot / f"vmlinuz-{rel}").write_text("")
        (modules / rel / "build").mkdir(parents=True)
        (modules / rel / "build" / "Makefile").write_text("")
    # An image whose headers are missing is not usable.
    (boot / "vmlinuz-6.1.0-99-amd64").write_text("")
    return boot, modules


def resolve(spec: str | None, root: tuple[Path, Path]) -> kernels.Kernel:
    return kernels.resolve(spec, boot=root[0], modules=root[1])


def test_short_form_picks_newest_of_series(fake_root):
    assert resolve("6.1", fake_root).release == "6.1.0-56-amd64"  # not -9, not 6.12
    assert resolve("6.12", fake_root).release == "6.12.117+deb12-amd64"
    assert resolve("6.10", fake_root).release == "6.10.3-amd64"


def test_default_is_debian_6_1(fake_root):
    assert resolve(None, fake_root).release == "6.1.0-56-amd64"


def test_exact_release(fake_root):
    k = resolve("6.1.0-9-amd64", fake_root)
    assert k.image == fake_root[0] / "vmlinuz-6.1.0-9-amd64"
    assert k.build_dir == fake_root[1] / "6.1.0-9-amd64" / "build"
    assert not k.is_tree


def test_release_without_headers_is_refused(fake_root):
    with pytest.raises(kernels.KernelNotFound, match="installed: 6.1.0-9-amd64"):
        resolve("6.1.0-99-amd64", fake_root)


def test_unknown_spec_lists_what_is_there(fake_root):
    with pytest.raises(kernels.KernelNotFound, match=r"'5\.10'.*6\.12\.117"):
        resolve("5.10", fake_root)


def test_installed_sorted_numerically(fake_root):
    got = [k.release for k in kernels.installed_kernels(*fake_root)]
    assert got == [
        "6.1.0-9-amd64",
        "6.1.0-56-amd64",
        "6.10.3-amd64",
        "6.12.117+deb12-amd64",
    ]
    newest = kernels.newest_per_series(kernels.installed_kernels(*fake_root))
    assert [k.release for k in newest] == [
        "6.1.0-56-amd64",
        "6.10.3-amd64",
        "6.12.117+deb12-amd64",
    ]


def test_build_tree(tmp_path):
    tree = tmp_path / "linux"
    (tree / "arch/x86/boot").mkdir(parents=True)
    (tree / "arch/x86/boot/bzImage").write_text("")
    (tree / "include/config").mkdir(parents=True)
    (tree / "include/config/kernel.release").write_text("6.13.0-rc1+\n")
    k = kernels.resolve(str(tree))
    assert (k.release, k.image, k.build_dir, k.is_tree) == (
        "6.13.0-rc1+",
        tree,
        tree,
        True,
    )


def test_unbuilt_tree_says_what_to_do(tmp_path):
    with pytest.raises(kernels.KernelNotFound, match="make"):
        kernels.resolve(str(tmp_path))
