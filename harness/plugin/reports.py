"""Each test's outcome as the plugin keeps it (its reports, its first failure), where its
artifacts go, and the timeline report.html of each of its clusters (linked from the junit XML
as the ``harness_report`` property, its path in the failure's section)."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.plugin.options import CI_ARTIFACTS
from harness.plugin.session import FAILURE, REPORTS, TIMELINES, harness_lines
from harness.report import Failure, write_cluster_report

REPORT_PROPERTY = "harness_report"
MAX_FAILURE_TEXT = 6000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    if report.failed and call.excinfo is not None and FAILURE not in item.stash:
        message = call.excinfo.exconly()
        if len(message) > MAX_FAILURE_TEXT:
            message = message[:MAX_FAILURE_TEXT] + "\n[... cut; the whole message is in pytest's output]"
        item.stash[FAILURE] = Failure(message, call.stop)
    timelines = item.stash.get(TIMELINES, [])
    if report.when == "call" and report.failed and timelines:
        # The report is written when the fixture tears down (after the cluster's down); its path
        # goes into this failure's section now, where the user reads the failure.
        report.sections.append(("harness report", "\n".join(f"{path}" for _, path in timelines)))
    return report


def artifacts_dir(config: pytest.Config) -> Path | None:
    """``--harness-artifacts`` (default build/artifacts when CI=true, or with ``--harness-report``)."""
    chosen = config.getoption("--harness-artifacts")
    if chosen is None and config.getoption("--harness-report"):
        chosen = CI_ARTIFACTS
    return Path(chosen).resolve() if chosen else None


def write_timeline(
    request: pytest.FixtureRequest, made: Cluster, path: Path, failed: bool, contract_error: str | None = None
) -> Path | None:
    """The cluster's report.html (its logs saved beside it), linked from the junit XML."""
    node = request.node
    failure = node.stash.get(FAILURE, None) if failed else None
    if failure is not None and made.failure is not None:  # the moment the ``with`` block was left
        failure = Failure(failure.message, made.failure[0])
    if failure is None and contract_error is not None:
        failure = Failure(f"a line breaks the log contract: {contract_error}")
    seed = node.funcargs.get("harness_seed") if isinstance(node, pytest.Function) else None
    several = len(node.stash.get(TIMELINES, [])) > 1
    try:
        written = write_cluster_report(
            path,
            made,
            title=node.nodeid + (f" ({made.project})" if several else ""),
            outcome="failed" if failure is not None else "passed",
            failure=failure,
            seed=seed if isinstance(seed, int) else None,
            logs_dir=path.parent,
        )
    except Exception as exc:  # a report must never hide the test's own outcome
        harness_lines(request.config)(f"report of {made.project} not written: {type(exc).__name__}: {exc}")
        return None
    node.user_properties.append((REPORT_PROPERTY, str(written)))
    return written
