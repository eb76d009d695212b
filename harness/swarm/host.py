"""The host side of the local swarm nodes: commands run with a timeout (``NodeError`` names the
command and its stderr), whether a process is alive, and removing what a stopped dockerd left
under its roots without ever deleting through a mount point."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

COMMAND_TIMEOUT = 120.0


class NodeError(RuntimeError):
    pass


def run(command: Sequence[str], timeout: float = COMMAND_TIMEOUT, check: bool = True) -> str:
    try:
        completed = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise NodeError(f"`{' '.join(command)}` did not finish within {timeout}s") from None
    if check and completed.returncode != 0:
        raise NodeError(f"`{' '.join(command)}` failed (exit {completed.returncode}): {completed.stderr.strip()}")
    return completed.stdout


def undo(problems: list[str], command: Sequence[str]) -> None:
    try:
        run(command)
    except NodeError as exc:
        problems.append(str(exc))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    # a zombie (our own child) counts as gone
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split(" ")[1].encode().decode("unicode_escape")
        if target == str(root) or target.startswith(prefix):
            found.append(target)
    return found


def remove_root(root: Path) -> str | None:
    """Unmount what a stopped dockerd left under ``root`` (deepest first), then delete it; never
    deletes through a mount point."""
    if not root.exists():
        return None
    for target in sorted(_mounts_under(root), key=len, reverse=True):
        run(["umount", "-l", target], check=False)
    left = _mounts_under(root)
    if left:
        return f"{root}: still mounted {left[:3]}; not removed"
    shutil.rmtree(root, ignore_errors=True)
    return f"{root} could not be removed" if root.exists() else None
