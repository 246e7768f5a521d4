"""Which kernel to boot: resolve a SPEC to an image and a build directory.

A SPEC is one of:

- a short form, ``6.1`` or ``6.12``: the newest release installed under
  /boot whose version starts with it (``6.1`` does not match ``6.12``);
- an exact release installed under /boot, e.g. ``6.1.0-56-amd64``;
- a path to a kernel build tree (``make`` run in it): the image is
  ``arch/x86/boot/bzImage`` and the module is built against the tree.

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
    "installed_kernels",
    "resolve",
]

#: Debian 12's own kernel series; the default when no --kernel is given.
DEFAULT_SPEC = "6.1"

BOOT = Path("/boot")
MODULES = Path("/lib/modules")


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


def resolve(
    spec: str | None = None, boot: Path = BOOT, modules: Path = MODULES
) -> Kernel:
    """Resolve *spec* (see the module docstring) to a :class:`Kernel`.

    :raises KernelNotFound: nothing matches; the message says what is installed
    """
    spec = spec or DEFAULT_SPEC
    if "/" in spec or spec.startswith("."):
        return _from_tree(Path(spec))
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
