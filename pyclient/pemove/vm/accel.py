"""KVM or TCG: probe once with a bounded boot, remember the answer.

``/dev/kvm`` can exist while nested KVM is broken: QEMU then aborts
("failed to set MSR") or the guest hangs right after decompression.  So the
probe boots the real kernel under ``-accel kvm`` with no root file system and
waits, for a bounded time, for the panic that ends such a boot ("VFS: Unable
to mount root fs").  Reaching it proves KVM runs a kernel to the end of init.

The answer is cached per host kernel release and QEMU version, since either
changing can change it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["CACHE", "cache_key", "choose", "probe_kvm"]

CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "pemove"
    / "accel.json"
)
QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 60.0

# A kernel booted with no root fs panics at the end of init; seeing that
# means the CPU emulation under KVM works.
_BOOTED = re.compile(rb"VFS: Unable to mount root fs|Kernel panic - not syncing")


def qemu_version(qemu: str = QEMU) -> str:
    """Return QEMU's version line, or "" if QEMU is not installed."""
    path = shutil.which(qemu)
    if path is None:
        return ""
    out = subprocess.run(
        [path, "--version"], capture_output=True, text=True, check=False
    )
    return out.stdout.splitlines()[0] if out.stdout else ""


def cache_key(host_release: str | None = None, qemu: str | None = None) -> str:
    """Key under which a probe answer is valid: host kernel and QEMU version."""
    host_release = host_release if host_release is not None else platform.release()
    qemu = qemu if qemu is not None else qemu_version()
    return f"{host_release}|{qemu}"


def _load(cache: Path) -> dict[str, object]:
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached(key: str, cache: Path = CACHE) -> tuple[str, str] | None:
    """Return the cached (answer, reason) for *key*, if any."""
    value = _load(cache).get(key)
    if not isinstance(value, dict) or value.get("accel") not in ("kvm", "tcg"):
        return None
    return value["accel"], str(value.get("reason", ""))


def store(key: str, answer: str, reason: str = "", cache: Path = CACHE) -> None:
    """Remember *answer* and *reason* for *key* (atomically; other keys kept)."""
    data = _load(cache)
    data[key] = {"accel": answer, "reason": reason}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False) as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(f.name, cache)


def probe_argv(image: Path, qemu: str = QEMU) -> list[str]:
    """QEMU command line of the probe boot of *image* under KVM."""
    return [
        qemu,
        "-accel", "kvm",
        "-cpu", "host",
        "-m", "256",
        "-smp", "1",
        "-nodefaults",
        "-display", "none",
        "-serial", "stdio",
        "-no-reboot",
        "-kernel", str(image),
        "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent",
    ]  # fmt: skip


def probe_kvm(image: Path, timeout: float = PROBE_TIMEOUT) -> tuple[bool, str]:
    """Boot *image* under KVM, bounded by *timeout* seconds.

    :returns: (works, reason); reason says why KVM was judged broken
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is absent or not accessible"
    if shutil.which(QEMU) is None:
        return False, f"{QEMU} is not installed"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            probe_argv(image),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        booted = False
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            log.seek(0)
            if _BOOTED.search(log.read()):
                booted = True
                break
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.seek(0)
        output = log.read()
    if booted or _BOOTED.search(output):
        return True, ""
    lines = [ln for ln in output.decode(errors="replace").splitlines() if ln.strip()]
    if proc.returncode not in (None, 0) and lines and "qemu" in lines[-1].lower():
        return False, f"QEMU failed under KVM: {lines[-1].strip()}"
    return False, f"the kernel did not finish booting under KVM within {timeout:.0f} s"


def choose(requested: str, image: Path, cache: Path = CACHE) -> str:
    """Return "kvm" or "tcg" for *requested* ("auto", "kvm" or "tcg").

    For "auto", a cached answer is used if there is one; otherwise KVM is
    probed with a bounded boot of *image*.  Falling back to TCG is announced
    in one line on stderr.
    """
    if requested in ("kvm", "tcg"):
        return requested
    if not os.path.exists("/dev/kvm"):
        return "tcg"
    key = cache_key()
    hit = cached(key, cache)
    if hit is None:
        works, reason = probe_kvm(image)
        answer = "kvm" if works else "tcg"
        store(key, answer, reason, cache)
        source = "probed"
    else:
        (answer, reason), source = hit, f"cached in {cache}"
    if answer == "tcg":
        print(
            f"pemove vm: KVM unusable ({reason}; {source}), using TCG: slower. "
            "--accel kvm forces KVM.",
            file=sys.stderr,
        )
    return answer
