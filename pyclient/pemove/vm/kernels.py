"""Which kernel to boot: resolve a SPEC to an image and a build directory.

A SPEC is one of:

- a short form, ``6.1`` or ``6.12``: the newest release installed under
  /boot whose version starts with it (``6.1`` does not match ``6.12``);
- an exact release installed under /boot, e.g. ``6.1.0-56-amd64``;
- a path to a kernel build tree (``make`` run in it): the image is
  ``arch/x86/boot/bzImage`` and the module is built against the tree;
- ``debug-6.1`` or ``debug-6.12`` (``base-X.Y`` likewise): the newest
  kernel built by ``pemove kernel build`` for that series whose config
  matches the fragments in ``kernel/configs/`` now (see
  :mod:`pemove.kernel`); a build tree in the cache.

An installed release is usable only with its headers,
``/lib/modules/<release>/build``, since the module is built against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_SPEC",
    "Kernel",
    "KernelNotFound",
    "build_command",
    "installed_kernels",
    "resolve",
]

#: Debian 12's own kernel series; the default when no --kernel is given.
DEFAULT_SPEC = "6.1"

BOOT = Path("/boot")
MODULES = Path("/lib/modules")

#: ``debug-6.12``, ``base-6.1``: a kernel built by ``pemove kernel build``.
_CACHED_SPEC = re.compile(r"^(debug|base)-(\d+\.\d+)$")


class KernelNotFound(Exception):
    """The SPEC names no usable kernel; the message lists what is there."""


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel and what the module is built against.

    :ivar release: ``uname -r`` of the kernel
    :ivar image: the file or tree handed to ``vng --run``
    :ivar build_dir: KDIR for ``make -C KDIR M=... modules``
    :ivar is_tree: True for a kernel build tree
    """

    release: str
    image: Path
    build_dir: Path
    is_tree: bool = False


def _version_key(release: str) -> tuple[tuple[int, object], ...]:
    """Order releases numerically: 6.1.0-9 < 6.1.0-56 < 6.12.1."""
    parts = re.split(r"[.\-+~]", release)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def installed_kernels(boot: Path = BOOT, modules: Path = MODULES) -> list[Kernel]:
    """Return the kernels in *boot* that have headers in *modules*, oldest first."""
    found = []
    for image in boot.glob("vmlinuz-*"):
        release = image.name[len("vmlinuz-") :]
        build = modules / release / "build"
        if (build / "Makefile").exists():
            found.append(Kernel(release, image, build))
    return sorted(found, key=lambda k: _version_key(k.release))


def newest_per_series(kernels: list[Kernel]) -> list[Kernel]:
    """Keep only the newest kernel of each major.minor series (6.1, 6.12, ...)."""
    best: dict[str, Kernel] = {}
    for k in kernels:
        series = ".".join(k.release.split(".")[:2]).split("-")[0]
        best[series] = k  # kernels are sorted oldest first
    return list(best.values())


def _from_tree(tree: Path) -> Kernel:
    image = tree / "arch" / "x86" / "boot" / "bzImage"
    release_file = tree / "include" / "config" / "kernel.release"
    if not image.exists() or not release_file.exists():
        raise KernelNotFound(
            f"{tree} is not a built kernel tree: it needs arch/x86/boot/bzImage and "
            "include/config/kernel.release; run 'make -j$(nproc)' in it first"
        )
    release = release_file.read_text().strip()
    return Kernel(release, tree.resolve(), tree.resolve(), is_tree=True)


def _matches_short(release: str, spec: str) -> bool:
    # "6.1" matches "6.1.0-56-amd64" and "6.1-rc1", not "6.12.117+deb12-amd64".
    return release == spec or (
        release.startswith(spec) and not release[len(spec)].isdigit()
    )


def build_command(flavour: str, series: str) -> str:
    """The command that builds the kernel ``<flavour>-<series>`` resolves to."""
    if flavour == "debug":
        return f"make kernel-debug SERIES={series}"
    return f".venv/bin/python -m pemove.kernel.cli build --series {series} --no-debug"


def _from_cache(
    flavour: str, series: str, cache_root: Path | None, configs: Path | None
) -> Kernel:
    """The newest cached *flavour* build of *series* matching today's fragments."""
    from pemove.kernel import build as kbuild
    from pemove.kernel import cache, config

    root = cache.cache_root() if cache_root is None else cache_root
    try:
        digest = kbuild.compose_for(series, flavour == "debug", configs).digest()
    except config.ConfigError as e:
        raise KernelNotFound(
            f"cannot tell which {flavour}-{series} kernel to use: {e}"
        ) from None
    found = cache.entries(root)
    of_series = cache.matching(found, flavour, series)
    current = [
        e for e in cache.matching(found, flavour, series, digest) if _usable(e.path)
    ]
    if current:
        return _from_tree(current[0].path)
    stale = (
        f" ({len(of_series)} cached build(s) of {flavour}-{series} have an older config)"
        if of_series
        else ""
    )
    raise KernelNotFound(
        f"no {flavour} kernel for {series} in {root} matches the config fragments in "
        f"kernel/configs{stale}; build it (about 15 min) with "
        f"'{build_command(flavour, series)}' in the checkout"
    )


def _usable(tree: Path) -> bool:
    return (tree / "arch/x86/boot/bzImage").exists() and (
        tree / "include/config/kernel.release"
    ).exists()


def resolve(
    spec: str | None = None,
    boot: Path = BOOT,
    modules: Path = MODULES,
    *,
    cache_root: Path | None = None,
    configs: Path | None = None,
) -> Kernel:
    """Resolve *spec* (see the module docstring) to a :class:`Kernel`.

    :param cache_root: where ``debug-X.Y`` looks (default: the kernel cache)
    :param configs: the fragments ``debug-X.Y`` must match (default:
        ``kernel/configs`` of the checkout)
    :raises KernelNotFound: nothing matches; the message says what is installed
    """
    spec = spec or DEFAULT_SPEC
    if "/" in spec or spec.startswith("."):
        return _from_tree(Path(spec))
    cached = _CACHED_SPEC.match(spec)
    if cached:
        return _from_cache(cached.group(1), cached.group(2), cache_root, configs)
    kernels = installed_kernels(boot, modules)
    exact = [k for k in kernels if k.release == spec]
    if exact:
        return exact[0]
    matching = [k for k in kernels if _matches_short(k.release, spec)]
    if matching:
        return matching[-1]
    have = ", ".join(k.release for k in kernels) or "none"
    raise KernelNotFound(
        f"no installed kernel matches {spec!r} (with headers in {modules}/<release>/build); "
        f"installed: {have}. Install one (e.g. 'apt-get install linux-image-amd64 "
        "linux-headers-amd64') or pass a kernel build tree path"
    )
