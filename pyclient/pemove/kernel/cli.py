"""``pemove kernel``: build and find the guest kernels of the debug tier.

``pemove kernel build`` builds a kernel from Debian's ``linux-source-X.Y``
(or ``--source``) with the fragments in ``kernel/configs/`` into the cache;
``pemove vm --kernel debug-6.12`` then boots the newest build whose config
matches the fragments.  ``list`` shows the cache, ``path`` prints the tree a
SPEC resolves to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pemove import exitcodes
from pemove.kernel import build, cache, config, source, trigger

__all__ = ["main", "register"]

EPILOG = """\
examples:
  pemove kernel build                      debug kernel of 6.12 (about 15 min cold)
  pemove kernel build --series 6.1
  pemove kernel build --no-debug --source ~/src/linux
  pemove vm --kernel debug-6.12 -- python -m pytest tests/guest
  pemove kernel list
  pemove kernel path --series 6.1          the tree debug-6.1 boots

cache: $PEMOVE_KERNEL_CACHE, else ~/.cache/pemove/kernels (one directory per
source version and config; a complete one is reused, never rebuilt).
"""


def _err(msg: str) -> None:
    print(f"pemove kernel: {msg}", file=sys.stderr)


def _jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _add_common(
    p: argparse.ArgumentParser, default_series: str | None, series_help: str
) -> None:
    p.add_argument(
        "--series",
        choices=source.SERIES,
        default=default_series,
        help=f"kernel series (default: {series_help})",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--debug",
        dest="debug",
        action="store_true",
        default=True,
        help="with the checkers of kernel/configs/debug.config (default)",
    )
    g.add_argument(
        "--no-debug",
        dest="debug",
        action="store_false",
        help="base config only: the trimmed guest kernel without checkers",
    )
    p.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="cache root (default: $PEMOVE_KERNEL_CACHE or ~/.cache/pemove/kernels)",
    )


def add_subcommands(kernel: argparse.ArgumentParser) -> None:
    """Add ``build``, ``list`` and ``path`` under the ``kernel`` parser."""
    sub = kernel.add_subparsers(dest="kernel_command", metavar="ACTION", required=True)
    b = sub.add_parser(
        "build",
        help="build a guest kernel into the cache (reused when already there)",
        description="Build a guest kernel from Debian's kernel source into the cache.",
        epilog=exitcodes.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(b, None, "6.12, or the series of --source")
    b.add_argument(
        "--source",
        type=Path,
        metavar="DIR",
        help="a kernel source directory or tarball instead of Debian's "
        "/usr/src/linux-source-X.Y.tar.xz",
    )
    b.add_argument(
        "--jobs",
        "-j",
        type=_jobs,
        metavar="N",
        help="parallel make jobs (default: CPUs)",
    )
    b.add_argument(
        "--rebuild",
        action="store_true",
        help="run make again even if the build is cached (incremental)",
    )
    b.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between progress lines (default: %(default)s)",
    )
    b.set_defaults(func=run_build)

    ls = sub.add_parser("list", help="list the cached kernels")
    ls.add_argument("--cache", type=Path, metavar="DIR", help="cache root")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)

    pa = sub.add_parser(
        "path",
        help="print the build tree that debug-X.Y (or base-X.Y) boots",
    )
    _add_common(pa, "6.12", "6.12")
    pa.set_defaults(func=run_path)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``kernel`` subcommand (for :mod:`pemove.cli`)."""
    p = subparsers.add_parser(
        "kernel",
        help="build and list debug guest kernels",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_subcommands(p)


def run_build(args: argparse.Namespace) -> int:
    """``pemove kernel build``."""
    series = args.series
    if series is None and args.source is None:
        series = "6.12"
    req = build.Request(
        series=series,
        debug=args.debug,
        source=args.source,
        jobs=args.jobs,
        root=args.cache,
        rebuild=args.rebuild,
    )
    started = time.monotonic()
    try:
        entry, reused = build.build(
            req, say=lambda s: print(s, flush=True), interval=args.progress_interval
        )
    except (build.BuildError, source.SourceError, config.ConfigError) as e:
        _err(str(e))
        return exitcodes.FAILED
    except KeyboardInterrupt:
        _err(
            "interrupted; the partial build is kept (without a stamp) and resumed next time"
        )
        return exitcodes.INTERRUPTED
    took = time.monotonic() - started
    if reused:
        print(f"pemove kernel: cached, not rebuilt ({took:.1f} s)")
    else:
        print(
            f"pemove kernel: built in {took / 60:.1f} min, {entry.objects} objects, "
            f"bzImage {entry.bzimage_bytes / 1e6:.1f} MB"
        )
    print(f"pemove kernel: {entry.release} in {entry.path}")
    if entry.flavour == "debug":
        _build_trigger(entry)
    print(f"pemove kernel: boot it with 'pemove vm --kernel {entry.spec} -- COMMAND'")
    return exitcodes.OK


def _build_trigger(entry: cache.Entry) -> None:
    """The test-only trigger module for this kernel (tests/guest/test_debug_judge)."""
    try:
        ko = trigger.build(entry.release, entry.path)
    except (trigger.TriggerError, OSError) as e:
        _err(f"warning: the trigger module of test_debug_judge did not build: {e}")
        return
    print(f"pemove kernel: test trigger module {ko}")


def run_list(args: argparse.Namespace) -> int:
    """``pemove kernel list``."""
    found = cache.entries(args.cache)
    if args.json:
        print(json.dumps([e.to_json() for e in found], indent=2))
        return exitcodes.OK
    if not found:
        print(f"no kernels cached in {args.cache or cache.cache_root()}")
        return exitcodes.OK
    for e in found:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.built_at))
        print(
            f"{e.spec:<11} {e.release:<38} {when}  {e.build_seconds / 60:5.1f} min  "
            f"{e.path}"
        )
    return exitcodes.OK


def run_path(args: argparse.Namespace) -> int:
    """``pemove kernel path``: what ``--kernel debug-X.Y`` resolves to."""
    from pemove.vm import kernels

    spec = f"{'debug' if args.debug else 'base'}-{args.series}"
    try:
        k = kernels.resolve(spec, cache_root=args.cache)
    except kernels.KernelNotFound as e:
        _err(str(e))
        return exitcodes.FAILED
    print(k.image)
    return exitcodes.OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pemove.kernel.cli``: the same as ``pemove kernel``."""
    from pemove import cli

    return cli.run_command("kernel", argv)


if __name__ == "__main__":
    sys.exit(main())
