"""Build the module for one kernel, in that kernel's own build directory.

``kmod/`` is copied to ``build/kmod/<release>/`` and built there with
``make -C KDIR M=<dir> modules``, so the objects of different kernels never
mix.  Nothing is rebuilt when no source is newer than the module.

Run as ``python -m pemove.vm.build --kernel SPEC`` to build from make.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pemove import exitcodes
from pemove.vm import kernels

__all__ = ["BuildError", "build_module", "make_modules", "module_dir", "repo_root"]

MODULE_NAME = "pemove"


class BuildError(Exception):
    """The module did not build; the message carries the compiler output."""


def repo_root() -> Path:
    """Return the checkout this package runs from (``$PEMOVE_SRC`` overrides)."""
    env = os.environ.get("PEMOVE_SRC")
    root = Path(env) if env else Path(__file__).resolve().parents[3]
    if not (root / "kmod").is_dir():
        raise BuildError(
            f"no kmod/ directory under {root}: pemove vm needs a source checkout; "
            "install with 'pip install -e .' or set PEMOVE_SRC to the checkout"
        )
    return root


def release_version(root: Path) -> str:
    """The project's release version: the one line of ``VERSION`` in ``root``."""
    try:
        return (root / "VERSION").read_text(encoding="ascii").strip() or "unknown"
    except FileNotFoundError:
        return "unknown"


def module_dir(release: str, root: Path | None = None) -> Path:
    """Return the build directory of the module for *release*."""
    return (root or repo_root()) / "build" / "kmod" / release


#: What the module's sources are; anything else in kmod/ (objects, .cmd
#: files, a .module-common.o an in-tree build left) is the product of some
#: other kernel's build and must not reach this one's tree: 6.12's
#: .module-common.o carries the vermagic, so a stale one links a module
#: that the kernel refuses (ENOEXEC).
SOURCE_SUFFIXES = frozenset({".c", ".h"})
SOURCE_NAMES = frozenset({"Kbuild", "Makefile", "dkms.conf"})


def _is_source(path: Path) -> bool:
    return path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_NAMES


def _sources(tree: Path) -> list[Path]:
    return [
        p
        for p in tree.rglob("*")
        if p.is_file()
        and _is_source(p)
        and not p.name.startswith(".")
        and not p.name.endswith(".mod.c")
    ]


def _newest_mtime(tree: Path) -> float:
    return max((p.stat().st_mtime for p in _sources(tree)), default=0.0)


def _sync(src: Path, dst: Path) -> None:
    """Copy the sources of *src* into *dst*, keeping mtimes so make sees what changed."""
    for path in _sources(src):
        target = dst / path.relative_to(src)
        if target.exists() and target.stat().st_mtime == path.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def make_modules(kdir: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``make -C KDIR M=OUT ARGS... modules`` with no stdin; stdout and stderr captured as one."""
    return subprocess.run(
        ["make", "-C", str(kdir), f"M={out}", *args, "modules"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def build_module(
    kernel: kernels.Kernel,
    *,
    root: Path | None = None,
    jobs: int | None = None,
    verbose: bool = False,
) -> Path:
    """Build ``kmod/`` for *kernel* unless the result is newer than every source.

    :returns: the path of ``pemove.ko`` for *kernel*
    :raises BuildError: make failed; the message contains its output
    """
    root = root or repo_root()
    out = module_dir(kernel.release, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Two runs for the same kernel (parallel test sessions) build one at a time.
    with open(out.parent / f"{kernel.release}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(kernel, root / "kmod", out, jobs, verbose)


def _build_locked(
    kernel: kernels.Kernel, src: Path, out: Path, jobs: int | None, verbose: bool
) -> Path:
    ko = out / f"{MODULE_NAME}.ko"
    if ko.exists() and ko.stat().st_mtime >= _newest_mtime(src):
        return ko
    out.mkdir(parents=True, exist_ok=True)
    _sync(src, out)
    result = make_modules(
        kernel.build_dir,
        out,
        f"-j{jobs or os.cpu_count() or 1}",
        # The copy in build/ has no ../VERSION; the checkout's is the one.
        f"PEMOVE_RELEASE={release_version(src.parent)}",
    )
    if verbose or result.returncode != 0:
        sys.stderr.write(result.stdout)
    if result.returncode != 0:
        raise BuildError(
            f"building the module for {kernel.release} failed "
            f"(exit {result.returncode}): {' '.join(result.args)}\n{result.stdout.strip()}"
        )
    if not ko.exists():
        raise BuildError(f"make succeeded but {ko} was not produced; check kmod/Kbuild")
    return ko


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.vm.build``: build the module for one or all kernels."""
    parser = argparse.ArgumentParser(
        prog="python -m pemove.vm.build", description=__doc__
    )
    parser.add_argument(
        "--kernel", default=None, help="SPEC (default %(default)s: 6.1)"
    )
    parser.add_argument("--all", action="store_true", help="every installed kernel")
    parser.add_argument("-v", "--verbose", action="store_true", help="show make output")
    args = parser.parse_args(argv)
    try:
        targets = (
            kernels.newest_per_series(kernels.installed_kernels())
            if args.all
            else [kernels.resolve(args.kernel)]
        )
        for kernel in targets:
            print(build_module(kernel, verbose=args.verbose))
    except (kernels.KernelNotFound, BuildError) as e:
        print(f"pemove: {e}", file=sys.stderr)
        return exitcodes.FAILED
    return exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
