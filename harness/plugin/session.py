"""What the plugin's modules share within one pytest session: its id (every cluster carries it as
a label; the sweep at the end removes by it), whether it made any cluster, the stash keys of a
test's reports and timelines, and the one writer of ``[harness] ...`` lines on the terminal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cluster import Cluster, new_run_id
from harness.report import Failure

SESSION_ID = new_run_id()
clusters_made: list[str] = []  # projects (and checks) started this session: the sweep runs only if any
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()  # a test's reports by phase (setup, call...)
TIMELINES = pytest.StashKey[list[tuple[Cluster, Path]]]()  # each cluster of a test, its report's path
FAILURE = pytest.StashKey[Failure]()  # a test's first failure: its message and when


def harness_lines(config: pytest.Config) -> Callable[[str], None]:
    """A function writing ``[harness] MESSAGE`` lines on pytest's terminal (nothing without one)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def write(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[harness] {message}")

    return write


def failed(node: pytest.Item) -> bool:
    """Whether any phase of the test failed so far."""
    return any(report.failed for report in node.stash.get(REPORTS, {}).values())
