"""Write, on the host, the bytecode a guest command will read.

The guest sees the checkout read-only, so a guest Python writes no
bytecode: every boot compiled each pemove module again, and pytest rewrote
the asserts of every test module again.  Under TCG that was most of
pytest's start: collecting tests/guest took 33 to 55 s in a 6.12 guest
and 185 s in a debug one, against 16 s once the caches written here exist.
The host runs the same interpreter (the guest uses the host's root file
system), writes both caches in a second or two, and the guest reads them:
Python and pytest check each cache against its source's mtime and size.

This is only a speed-up.  A cache that cannot be written is skipped, and
the guest compiles as before.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["pytest_paths", "prime"]

#: Seconds the host's collection may take (2 to 3 s for tests/guest here).
COLLECT_TIMEOUT = 120.0

#: pytest options whose value is the next argument, never a test path.
_VALUE_OPTIONS = frozenset(
    {"-k", "-m", "-p", "-o", "-c", "--deselect", "--ignore", "--junitxml"}
    | {"--rootdir", "--basetemp", "--durations", "--maxfail", "--timeout"}
)


def pytest_paths(command: Sequence[str], cwd: Path) -> list[str] | None:
    """The test paths of a pytest run in *command*, or None if it runs no pytest.

    Both ``python -m pytest ...`` and ``pytest ...`` count, behind an ``env``
    prefix too.  Only arguments that name an existing file or directory
    (a ``::test`` suffix dropped) are paths; the options are left to the guest.
    """
    args = list(command)
    for i, arg in enumerate(args):
        # "-m pytest" and a pytest executable alike end in that name.
        if Path(arg).name in ("pytest", "py.test"):
            rest = args[i + 1 :]
            break
    else:
        return None
    paths: list[str] = []
    skip = False
    for arg in rest:
        if skip or arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
            continue
        path = arg.split("::", 1)[0]
        if (cwd / path).exists() and path not in paths:
            paths.append(path)
    return paths


def prime(command: Sequence[str], cwd: Path, package: Path) -> None:
    """Compile *package* and, if *command* runs pytest, its test modules' rewrites.

    :param command: the guest command
    :param cwd: where it will run (the guest sees the same path)
    :param package: the directory of the ``pemove`` package's parent
        (pyclient/), which the guest imports through PYTHONPATH
    """
    # py_compile writes whatever PYTHONDONTWRITEBYTECODE says.
    compileall.compile_dir(str(package), quiet=2, workers=1)
    paths = pytest_paths(command, cwd)
    if paths is None:
        return
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # pytest honours it; here it must write
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q"]
    argv += ["-p", "no:cacheprovider", *paths]
    try:
        subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=COLLECT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass  # the guest then rewrites them itself, as before
