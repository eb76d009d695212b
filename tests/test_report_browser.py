"""A report as a person sees it: opened from disk in headless Chromium (Debian's package), its
scripts run without an error, every lane and the fault window drawn, a screenshot in build/.
Skips, saying why, when Chromium is not installed (`make test` provisions it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reportutil import T0, faulty_run

from harness.images import REPO_ROOT
from harness.report import Failure, write_report
from harness.report.browser import find_chromium, screenshot, visit

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="no Chromium (Debian's `chromium`; scripts/provision-chromium.sh installs it)"
)


def test_the_report_draws_every_lane_the_fault_and_the_failure_without_errors(tmp_path: Path) -> None:
    hub, exits = faulty_run()
    page = write_report(
        tmp_path / "report.html",
        hub,
        title="tests/test_report_browser.py::synthetic pause of the server",
        outcome="failed",
        exits=exits,
        failure=Failure("AssertionError: agency 2: expected 2 winners, it reported 1", T0 + 6.4),
        phases={"up": (T0, T0 + 0.25), "run": (T0 + 0.25, T0 + 7), "down": (T0 + 7, T0 + 7.6)},
    )
    seen = visit(page)
    assert seen.console == [], "the page logged to the console"
    html = re.search(r"<html[^>]*>", seen.dom)
    assert html is not None and 'data-selfcheck="ok"' in html.group(0), seen.dom[-2000:]
    drawn = re.sub(r"<script.*?</script>", "", seen.dom, flags=re.S)  # what the scripts made, not their text
    for lane in ("harness", "server", "client1", "client2", "client3"):
        assert f'<g class="lane" data-lane="{lane}">' in drawn
    assert len(re.findall(r'<rect class="fault-window hit" data-fault="pause:server"', drawn)) == 1
    assert '<line class="failure-pin"' in drawn
    assert drawn.count('<path class="series"') == 3  # one line per agency in the chart
    assert 'id="report-errors" hidden=""' in drawn
    shot = screenshot(page, REPO_ROOT / "build" / "report-synthetic.png")
    assert shot.stat().st_size > 10_000


def test_a_view_can_be_linked(tmp_path: Path) -> None:
    hub, exits = faulty_run()
    page = write_report(tmp_path / "report.html", hub, title="linked view", outcome="passed", exits=exits)
    seen = visit(page, fragment="t=1.5,4.5")
    assert seen.console == []
    assert 'data-selfcheck="ok"' in seen.dom
    shown = re.search(r'<span id="range">([^<]*)</span>', seen.dom)
    assert shown is not None and shown.group(1) == "1.50\u20134.50 s of 7.30 s"  # the whole run starts at 0.2 s
