"""The randomized trials' settings (how many, the first seed) and the reliability figures the
tests report (``harness_figures``), printed at the end of the session and written as JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


class Figures:
    """Counts the reliability tests report (``harness_figures.add("faults survived", 3)``); printed
    at the end of the session and written to ``--harness-figures`` (one process: not merged across
    xdist workers)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


_figures = Figures()


@pytest.fixture(scope="session")
def harness_figures() -> Figures:
    """The session's reliability figures: ``harness_figures.add("faults survived", 3)``."""
    return _figures


@pytest.fixture(scope="session")
def harness_trials(pytestconfig: pytest.Config) -> int:
    """How many randomized trials to run (``--harness-trials`` / HARNESS_TRIALS, default 20)."""
    return max(1, int(pytestconfig.getoption("--harness-trials")))


@pytest.fixture(scope="session")
def harness_seed(pytestconfig: pytest.Config) -> int:
    """The first seed of the randomized trials (``--harness-seed`` / HARNESS_SEED, else fresh)."""
    seed = pytestconfig.getoption("--harness-seed")
    return int(seed) if seed is not None else int.from_bytes(os.urandom(4), "big")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _figures.counts:
        return
    terminalreporter.section("lottery-harness reliability figures")
    for name, value in sorted(_figures.counts.items()):
        terminalreporter.write_line(f"{name}: {value}")
    target = config.getoption("--harness-figures")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(_figures.counts, indent=2, sort_keys=True) + "\n", encoding="utf-8")
