"""The timeline report of a real failed scenario, as its user gets it and sees it.

A scenario with a fault (the server paused while agency 2 sends) and an assertion that fails is
run by pytest in a subprocess, as a user runs it: the report's path must be in the failure's
section and in the junit XML, the artifacts folder must have an index, and the page, opened in
headless Chromium, must draw every lane, the fault window and the failed assertion without a
script error. The screenshot goes to build/report-scenario.png for a person to look at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from harness.cluster import stop_run
from harness.engine import docker_client
from harness.images import REPO_ROOT
from harness.labels import LABEL, RUN_LABEL
from harness.report.browser import find_chromium, screenshot, visit

pytestmark = pytest.mark.scenario

FAILING_SCENARIO = """
import pytest
from harness.faults import Pause
from harness.logs import where

pytestmark = pytest.mark.scenario
SLOW_AGENCY = {"CLI_BATCH_MAXAMOUNT": "5", "CLI_READ_TIMEOUT": "1", "CLI_BACKOFF_MAX": "0.5"}


def test_pause_then_a_wrong_expectation(cluster, agency_data):
    # Agency 2 starts once the cluster is up (a slow `up` would let it finish first) and sends 6,000
    # batches of 5 (~2 s): it is still sending when the pause (its 3rd ack, then the engine) lands.
    data = agency_data(agencies=2, bets={1: 10, 2: 30000}, winners={1: 1, 2: 1})
    with cluster(clients=2, data=data, per_client_env={2: SLOW_AGENCY}, deferred=["client2"]) as c:
        mark = c.mark()
        c.start("client2")
        with c.inject(Pause("server"), after=where("lote_confirmado", "success", service="client2", lote=3)):
            c.wait_for(where("connect", "fail", service="client2"), timeout=20, since=mark)
        c.wait_exit_all_clients(timeout=90)
        draws = c.events().count("sorteo", "success")
        assert draws == 2, f"deliberately wrong: expected 2 draws, the server made {draws}"


def test_two_agencies_that_pass(cluster, agency_data):
    data = agency_data(agencies=2, bets=10, winners={1: 1, 2: 0})
    with cluster(clients=2, data=data) as c:
        c.wait_exit_all_clients(timeout=180)  # generous: the machine may run another suite
"""


def _remove_clusters_under(folder: Path) -> None:
    """Whatever the inner session left (it was killed, say), found by its compose folder."""
    # Summaries only: inspecting each container races with other sessions removing theirs.
    for summary in docker_client().api.containers(all=True, filters={"label": LABEL}):
        labels = summary.get("Labels") or {}
        if labels.get("com.docker.compose.project.working_dir", "").startswith(str(folder)) and RUN_LABEL in labels:
            stop_run(labels[RUN_LABEL], grace=1)


def test_a_failed_scenario_gets_a_report_a_person_can_read(tmp_path: Path, harness_images, pytestconfig) -> None:
    scenario = tmp_path / "test_failing_scenario.py"
    scenario.write_text(FAILING_SCENARIO, encoding="utf-8")
    artifacts, junit = tmp_path / "artifacts", tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(scenario),
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "--basetemp",
        str(tmp_path / "inner"),
        "--harness-artifacts",
        str(artifacts),
        "--harness-report",  # the passing scenario gets one too
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit1",
    ]
    base = pytestconfig.getoption("--harness-base-image")
    if base:
        command.append(f"--harness-base-image={base}")
    env = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true", "CI": ""}
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, check=False, cwd=tmp_path)
    finally:
        _remove_clusters_under(tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output  # the scenario failed, as written
    assert "deliberately wrong: expected 2 draws, the server made 1" in output, output[-4000:]

    section = re.search(r"-+ harness report -+\n(?P<paths>(?:\S+report\.html\n)+)", run.stdout)
    assert section is not None, f"no report path in the failure's section:\n{run.stdout}"
    report = Path(section.group("paths").split()[0])
    assert report.is_file() and report.is_relative_to(artifacts)

    linked = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ElementTree.parse(junit).iter("testcase")
    }
    assert linked["test_pause_then_a_wrong_expectation"] == {"harness_report": str(report)}
    assert "1 failed, 1 passed" in run.stdout, output[-4000:]  # the other scenario did pass
    passed = Path(linked["test_two_agencies_that_pass"]["harness_report"] or "")
    assert passed.is_file() and 'class="badge passed"' in passed.read_text(encoding="utf-8")
    index = (artifacts / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-outcome="(\w+)">.*?<a href="([^"]+)"', index)
    assert sorted(rows) == sorted(
        [("failed", str(report.relative_to(artifacts))), ("passed", str(passed.relative_to(artifacts)))]
    )
    for service in ("server", "client1", "client2", "harness"):
        assert (report.parent / f"{service}.log").stat().st_size > 0

    page = report.read_text(encoding="utf-8")
    assert "deliberately wrong" in page and len(page) < 2_000_000
    if find_chromium() is None:
        pytest.skip("the report was written and linked; no Chromium to look at it (scripts/provision-chromium.sh)")
    seen = visit(report)
    assert seen.console == [], "the page logged to the console"
    assert re.search(r'<html[^>]*data-selfcheck="ok"', seen.dom), seen.dom[-1500:]
    drawn = re.sub(r"<script.*?</script>", "", seen.dom, flags=re.S)
    for lane in ("harness", "server", "client1", "client2"):
        assert f'<g class="lane" data-lane="{lane}">' in drawn
    assert len(re.findall(r'<rect class="fault-window hit" data-fault="pause:server"', drawn)) == 1
    assert '<line class="failure-pin"' in drawn
    assert screenshot(report, REPO_ROOT / "build" / "report-scenario.png").stat().st_size > 10_000


def test_harness_run_writes_the_report_it_is_asked_for(tmp_path: Path) -> None:
    state, report = tmp_path / "state", tmp_path / "out" / "run.html"
    env = {**os.environ, "HARNESS_STATE_DIR": str(state), "TESTCONTAINERS_RYUK_DISABLED": "true"}
    command = [sys.executable, "-m", "harness", "run", "--clients", "2", "--bets", "30", "--report", str(report)]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)
    finally:
        _remove_clusters_under(state)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"report: {report}" in " ".join(run.stderr.split())
    page = report.read_text(encoding="utf-8")
    assert 'class="badge passed"' in page and "harness run --clients 2" in page
    for service in ("server", "client1", "client2"):
        log = report.parent / "run-logs" / f"{service}.log"
        assert "action: shutdown | result: success" in log.read_text(encoding="utf-8")
    assert re.search(r"<td>client2</td>(?:<td class=\"num\">\d+</td>){5}", page) is not None
