"""The kernel source to build: Debian's ``linux-source-X.Y`` or a given tree.

Debian ships the patched source of each kernel series as
``/usr/src/linux-source-X.Y.tar.xz`` (package ``linux-source-X.Y``).  It is
unpacked once into ``<cache>/src/linux-source-X.Y_<package version>/`` and
shared by every build of that version; a half-unpacked copy is never used,
since the tree is moved into place only when tar has finished.

``--source`` names either a kernel source directory (used in place, never
modified: the build is out of tree) or another tarball (unpacked like
Debian's).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pemove.kernel import cache

__all__ = [
    "SERIES",
    "Source",
    "SourceError",
    "kernel_version",
    "locate",
    "series_of",
]

#: The series Debian 12 ships as linux-source-X.Y packages.
SERIES = ("6.1", "6.12")
USR_SRC = Path("/usr/src")


class SourceError(Exception):
    """No usable kernel source; the message says what to install or pass."""


@dataclasses.dataclass(frozen=True)
class Source:
    """An unpacked kernel source tree.

    :ivar tree: the directory with the top-level Makefile and Kconfig
    :ivar kernel_version: e.g. ``6.12.117``
    :ivar version: what identifies this source for the cache key: the
        Debian package version, or a description of a user-given source
    :ivar series: ``6.12`` for ``6.12.117``
    """

    tree: Path
    kernel_version: str
    version: str
    series: str


def kernel_version(tree: Path) -> str:
    """``make kernelversion`` of *tree*, read from its Makefile."""
    try:
        text = (tree / "Makefile").read_text(errors="replace")
    except OSError as e:
        raise SourceError(f"{tree} is not a kernel source tree: {e}") from None
    fields = {}
    for name in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{name}\s*=[ \t]*(\S*)", text, re.MULTILINE)
        fields[name] = m.group(1) if m else ""
    if not fields["VERSION"].isdigit() or not fields["PATCHLEVEL"].isdigit():
        raise SourceError(f"{tree}/Makefile has no VERSION/PATCHLEVEL")
    version = f"{fields['VERSION']}.{fields['PATCHLEVEL']}"
    if fields["SUBLEVEL"]:
        version += f".{fields['SUBLEVEL']}"
    return version + fields["EXTRAVERSION"]


def series_of(version: str) -> str:
    """``6.12`` for ``6.12.117`` or ``6.12.0-rc1``."""
    m = re.match(r"^(\d+\.\d+)", version)
    if not m:
        raise SourceError(f"cannot tell the series of kernel version {version!r}")
    return m.group(1)


def package_version(package: str) -> str | None:
    """The installed version of Debian *package*, or None."""
    if shutil.which("dpkg-query") is None:
        return None
    res = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def _file_identity(path: Path) -> str:
    st = path.stat()
    digest = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def _unpack(tarball: Path, dest: Path) -> Path:
    """Unpack *tarball* so that its single top directory becomes *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest.parent) as tmp:
        res = subprocess.run(
            ["tar", "-xf", str(tarball), "-C", tmp],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            raise SourceError(
                f"unpacking {tarball} failed (tar exit {res.returncode}): "
                f"{res.stderr.strip()[-2000:]}"
            )
        tops = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(tops) != 1 or not (tops[0] / "Kconfig").exists():
            raise SourceError(
                f"{tarball} does not hold one kernel source directory at its top"
            )
        tops[0].rename(dest)
    return dest


def _unpacked(tarball: Path, name: str, root: Path, say: Callable[[str], None]) -> Path:
    """The unpacked copy of *tarball* under ``<root>/src/<name>``, made once."""
    dest = root / "src" / name
    if (dest / "Makefile").exists():
        return dest
    with cache.locked(dest):
        if (dest / "Makefile").exists():  # another process unpacked it meanwhile
            return dest
        say(f"pemove kernel: unpacking {tarball} into {dest} (once; about a minute)")
        return _unpack(tarball, dest)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def debian_tarball(series: str, usr_src: Path = USR_SRC) -> Path:
    """``/usr/src/linux-source-<series>.tar.xz``, or why it is not there."""
    tarball = usr_src / f"linux-source-{series}.tar.xz"
    if not tarball.exists():
        raise SourceError(
            f"{tarball} is missing: install Debian's kernel source with "
            f"'apt-get install linux-source-{series}', or pass --source DIR"
        )
    return tarball


def locate(
    series: str | None,
    given: Path | None = None,
    root: Path | None = None,
    usr_src: Path = USR_SRC,
    say: Callable[[str], None] = lambda _: None,
) -> Source:
    """Find (and unpack if needed) the source for *series* or *given*.

    :param series: ``6.1`` or ``6.12``; with *given*, None means "whatever
        it is" and anything else must match
    :param given: a source directory or tarball (``--source``)
    :param root: the cache root (default :func:`cache.cache_root`)
    :param say: prints progress (unpacking takes a while)
    :raises SourceError: nothing usable; the message says what to do
    """
    root = cache.cache_root() if root is None else root
    if given is None:
        if series is None:
            raise SourceError("no --series and no --source given")
        tarball = debian_tarball(series, usr_src)
        package = f"linux-source-{series}"
        pkg_version = package_version(package)
        version = pkg_version or f"tarball-{_file_identity(tarball)}"
        tree = _unpacked(tarball, f"{package}_{_safe(version)}", root, say)
        found = Source(tree, kernel_version(tree), version, series)
    elif given.is_dir():
        tree = given.resolve()
        if not (tree / "Kconfig").exists():
            raise SourceError(f"{given} has no Kconfig: not a kernel source tree")
        if (tree / ".config").exists():
            raise SourceError(
                f"{tree} has been configured in place (.config): an out-of-tree "
                "build needs a clean source; run 'make mrproper' in it first"
            )
        kver = kernel_version(tree)
        found = Source(tree, kver, f"tree {tree}", series_of(kver))
    elif given.is_file():
        name = f"{_safe(given.name)}_{_file_identity(given)}"
        tree = _unpacked(given, name, root, say)
        kver = kernel_version(tree)
        found = Source(tree, kver, f"tarball {name}", series_of(kver))
    else:
        raise SourceError(f"--source {given}: no such directory or tarball")
    if series is not None and found.series != series:
        raise SourceError(
            f"the source in {found.tree} is Linux {found.kernel_version}, "
            f"not series {series}; drop --series or pass a {series} source"
        )
    return found
