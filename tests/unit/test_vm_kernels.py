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


# --- debug-X.Y: kernels built by pemove kernel build ---------------------------


@pytest.fixture
def kernel_cache(tmp_path: Path) -> dict[str, Path]:
    """A fake cache root and a fake kernel/configs directory."""
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "base.config").write_text("CONFIG_MODULES=y\n")
    (configs / "debug.config").write_text("CONFIG_KASAN=y\n")
    return {"root": tmp_path / "cache", "configs": configs}


def cached_build(
    kc: dict[str, Path],
    name: str,
    *,
    series: str = "6.12",
    version: str = "6.12.117",
    built_at: float = 1000.0,
    digest: str | None = None,
) -> Path:
    from pemove.kernel import build, cache

    tree = kc["root"] / name
    (tree / "arch/x86/boot").mkdir(parents=True)
    (tree / "arch/x86/boot/bzImage").write_text("")
    (tree / "include/config").mkdir(parents=True)
    release = f"{version}-pemove-debug-{name[-8:]}"
    (tree / "include/config/kernel.release").write_text(release + "\n")
    if digest is None:
        digest = build.compose_for(series, True, kc["configs"]).digest()
    cache.write_stamp(
        cache.Entry(
            path=tree,
            flavour="debug",
            series=series,
            kernel_version=version,
            source_version=f"{version}-1",
            config_digest=digest,
            key=name,
            release=release,
            built_at=built_at,
        )
    )
    return tree


def resolve_cached(spec: str, kc: dict[str, Path]) -> kernels.Kernel:
    return kernels.resolve(spec, cache_root=kc["root"], configs=kc["configs"])


def test_debug_spec_resolves_to_the_cached_tree(kernel_cache):
    tree = cached_build(kernel_cache, "debug-6.12.117-aaaaaaaaaaaa")
    k = resolve_cached("debug-6.12", kernel_cache)
    assert (k.image, k.build_dir, k.is_tree) == (tree, tree, True)
    assert k.release == "6.12.117-pemove-debug-aaaaaaaa"


def test_debug_spec_picks_the_newest_matching_build(kernel_cache):
    cached_build(kernel_cache, "debug-6.12.100-aaaaaaaaaaaa", version="6.12.100")
    newest = cached_build(kernel_cache, "debug-6.12.117-bbbbbbbbbbbb", built_at=10.0)
    cached_build(
        kernel_cache, "debug-6.12.117-cccccccccccc", digest="0" * 64, built_at=99.0
    )
    cached_build(
        kernel_cache, "debug-6.1.192-dddddddddddd", series="6.1", version="6.1.192"
    )
    assert resolve_cached("debug-6.12", kernel_cache).image == newest
    assert resolve_cached("debug-6.1", kernel_cache).release.startswith("6.1.192-")


def test_debug_spec_without_a_build_names_the_command(kernel_cache):
    with pytest.raises(
        kernels.KernelNotFound, match=r"'make kernel-debug SERIES=6\.1'"
    ):
        resolve_cached("debug-6.1", kernel_cache)


def test_debug_spec_ignores_builds_of_an_older_config(kernel_cache):
    cached_build(kernel_cache, "debug-6.12.117-aaaaaaaaaaaa")
    (kernel_cache["configs"] / "debug.config").write_text(
        "CONFIG_KASAN=y\nCONFIG_UBSAN=y\n"
    )
    with pytest.raises(kernels.KernelNotFound, match="have an older config") as info:
        resolve_cached("debug-6.12", kernel_cache)
    assert "make kernel-debug SERIES=6.12" in str(info.value)


def test_incomplete_build_is_not_used(kernel_cache):
    from pemove.kernel import cache

    tree = cached_build(kernel_cache, "debug-6.12.117-aaaaaaaaaaaa")
    cache.remove_stamp(tree)  # e.g. interrupted, or being rebuilt
    with pytest.raises(kernels.KernelNotFound, match="no debug kernel for 6.12"):
        resolve_cached("debug-6.12", kernel_cache)


def test_base_spec_and_installed_specs_still_work(kernel_cache, fake_root):
    with pytest.raises(kernels.KernelNotFound, match="--no-debug"):
        resolve_cached("base-6.12", kernel_cache)
    assert resolve("6.12", fake_root).release == "6.12.117+deb12-amd64"
