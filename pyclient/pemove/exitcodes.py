"""Exit codes of the ``pemove`` command, which scripts may rely on."""

from __future__ import annotations

from pemove import errors

OK = 0
FAILED = 1  # the operation failed; the message says why and what to do
USAGE = 2  # bad command line (argparse uses 2 as well)
NO_MODULE = 3  # /dev/pemove-control is missing: the module is not loaded
PERMISSION = 4  # CAP_SYS_ADMIN is needed
VERIFY = 5  # a check failed: data lost, or an expected result not seen
VM_FAILED = 6  # the VM could not be built, booted, or reported a kernel problem
INTERRUPTED = 130
TIMEOUT = 124  # pemove vm: the timeout expired and the VM was killed

_DESCRIPTIONS = (
    (OK, "success"),
    (FAILED, "the operation failed (the message says why and what to do)"),
    (USAGE, "bad command line"),
    (NO_MODULE, "the pemove module is not loaded (/dev/pemove-control is missing)"),
    (PERMISSION, "permission denied: CAP_SYS_ADMIN is required"),
    (
        VERIFY,
        "verification failed: lost, stale or corrupt data, or the expected bug not seen",
    ),
    (
        VM_FAILED,
        "VM error: build or boot failed, or dmesg showed BUG/WARNING/Oops/lockdep/hung task",
    ),
    (TIMEOUT, "pemove vm: the timeout expired and the VM was killed"),
    (INTERRUPTED, "interrupted"),
)


def describe() -> str:
    """Return the exit-code table for ``--help``."""
    lines = ["exit codes:"]
    lines += [f"  {code:<4} {text}" for code, text in _DESCRIPTIONS]
    return "\n".join(lines)


def for_error(exc: BaseException) -> int:
    """The exit code for a failure: PERMISSION, NO_MODULE, or FAILED for the rest."""
    if isinstance(exc, errors.PermissionDenied):
        return PERMISSION
    if isinstance(exc, errors.ModuleNotLoaded):
        return NO_MODULE
    return FAILED
