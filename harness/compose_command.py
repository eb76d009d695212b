"""One ``docker compose`` command: an argument list, a timeout, and compose's own output in the error.

testcontainers' ``DockerCompose`` runs its commands without a timeout; the cluster routes them,
and the few commands ``DockerCompose`` has no method for (``up --no-start``), through here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

COMPOSE_TIMEOUT = 180.0
# more seconds per container `up` creates and starts (500 on 2 cores under load took over 180 s)
COMPOSE_TIMEOUT_PER_SERVICE = 1.0


class ComposeCommandError(RuntimeError):
    """A compose command failed or did not finish; the message holds the command and its output."""


def run_compose(
    command: Sequence[str], cwd: Path | str, timeout: float = COMPOSE_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` (``["docker", "compose", ...]``) in ``cwd``; its result, or ``ComposeCommandError``."""
    shown = " ".join(command)
    try:
        return subprocess.run(list(command), capture_output=True, check=True, cwd=str(cwd), timeout=timeout)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip() or exc.stdout.decode(errors="replace").strip()
        raise ComposeCommandError(f"`{shown}` failed (exit {exc.returncode}): {detail}") from None
    except subprocess.TimeoutExpired:
        raise ComposeCommandError(f"`{shown}` did not finish within {timeout:g}s") from None
    except OSError as exc:
        raise ComposeCommandError(f"`{shown}` could not run: {exc.strerror or exc}") from None
