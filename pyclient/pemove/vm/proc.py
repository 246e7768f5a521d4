"""Run a command tree (vng and the QEMU it forks) that can always be killed.

The child gets its own session, so one ``killpg`` reaches vng, QEMU and
virtiofsd alike.  Three ways the tree is ended:

- the timeout expires: :meth:`Group.wait` kills the group;
- this process exits or raises (Ctrl-C included): :meth:`Group.__exit__`;
- this process is killed outright (SIGKILL): a tiny reaper process holding
  the read end of a pipe sees EOF and kills the group.  PR_SET_PDEATHSIG on
  the child alone would not do, since QEMU is vng's child, not ours.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

__all__ = ["Group"]

_PR_SET_PDEATHSIG = 1

# Runs in the reaper: block until the parent's pipe closes, then kill.
_REAPER = (
    "import os, signal, sys\n"
    "sys.stdin.buffer.read()\n"
    "try:\n"
    "    os.killpg(int(sys.argv[1]), signal.SIGKILL)\n"
    "except ProcessLookupError:\n"
    "    pass\n"
)


# Loaded here, not in the forked child, so _die_with_parent() only makes
# one system call between fork and exec.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the child if the thread that forked it dies."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pump(src: IO[bytes], sinks: Sequence[IO[bytes]]) -> None:
    """Copy *src* to every sink as data arrives, until EOF."""
    fd = src.fileno()
    while True:
        data = os.read(fd, 65536)
        if not data:
            break
        for sink in sinks:
            sink.write(data)
            sink.flush()


class Group:
    """A child process in its own session, with streamed and logged output.

    :param argv: the command, as a list
    :param stdout: where the child's stdout is copied (besides *log*)
    :param stderr: where the child's stderr is copied (besides *log*)
    :param log: a binary file receiving both streams
    :param env: the child's environment (default: ours)
    :param cwd: the child's working directory (default: ours)
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        stdout: IO[bytes],
        stderr: IO[bytes],
        log: IO[bytes],
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._sinks = (stdout, stderr, log)
        self._env = env
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._pumps: list[threading.Thread] = []
        self.timed_out = False

    def __enter__(self) -> Group:
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
            cwd=self._cwd,
            start_new_session=True,
            # One prctl() between fork and exec: safe even with threads.
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        self._reaper = subprocess.Popen(
            [sys.executable, "-c", _REAPER, str(self._proc.pid)],
            stdin=subprocess.PIPE,
            start_new_session=True,
        )
        out, err, log = self._sinks
        assert self._proc.stdout is not None and self._proc.stderr is not None
        for src, sink in ((self._proc.stdout, out), (self._proc.stderr, err)):
            t = threading.Thread(target=_pump, args=(src, (sink, log)), daemon=True)
            t.start()
            self._pumps.append(t)
        return self

    def wait(self, deadline: float) -> int | None:
        """Wait until the child exits or *deadline* (time.monotonic()) passes.

        :returns: the child's exit status, or None if the deadline passed and
            the group was killed
        """
        assert self._proc is not None
        try:
            rc = self._proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.kill()
            return None
        self.kill()  # stragglers (virtiofsd) of a finished run
        return rc

    def kill(self) -> None:
        """SIGKILL the whole group and collect the child and the output."""
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait()
        for t in self._pumps:
            t.join(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.kill()
        if self._reaper is not None:
            assert self._reaper.stdin is not None
            self._reaper.stdin.close()  # the reaper finds an empty group and exits
            self._reaper.wait()
