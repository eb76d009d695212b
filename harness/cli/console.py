"""Where the commands print: results on stdout (``console``), progress and problems on stderr
(``err``), and the dimmed ``[harness] ...`` progress line (``report``) the image builds and the
swarm set-up call back with."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def report(message: str) -> None:
    err.print(f"[dim]\\[harness][/dim] {message}")
