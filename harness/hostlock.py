"""Locks shared by every process on this machine: what two harness runs at once must not do together.

Two ``make test`` on one engine, a CI job beside a developer, parallel ``harness check`` workers: each
is its own process, so a ``threading.Lock`` does not reach them. ``host_lock`` is an exclusive
``flock`` on a file of ``LOCK_DIRECTORY``; the kernel drops it when the holder dies, so a killed run
never leaves a lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

# Fixed, not TMPDIR's: two runs with different TMPDIRs share the engine, so they must share the locks.
LOCK_DIRECTORY = Path(os.environ.get("HARNESS_LOCK_DIR", "/tmp/lottery-harness-locks"))
POLL_INTERVAL = 0.2  # flock has no timeout of its own


class HostLockTimeout(TimeoutError):
    """Another process held the lock for longer than the caller would wait."""


@contextlib.contextmanager
def host_lock(name: str, timeout: float, purpose: str) -> Iterator[None]:
    """Hold the machine-wide lock ``name`` for the block; wait at most ``timeout`` seconds for it.

    ``purpose`` says in words what the lock guards; it is in the timeout's message."""
    path = LOCK_DIRECTORY / f"{name}.lock"
    deadline = time.monotonic() + timeout
    with _lock_file(path) as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise HostLockTimeout(
                        f"waited {timeout:g}s for {purpose} ({path}): another process on this machine holds it"
                    ) from None
                time.sleep(POLL_INTERVAL)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _lock_file(path: Path) -> Iterator[int]:
    """The lock file, made usable by every user of the machine (flock needs only a read handle)."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # another user made it meanwhile
            path.parent.chmod(0o1777)
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        yield descriptor
    finally:
        os.close(descriptor)
