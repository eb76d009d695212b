"""The pytest plugin as a user's pytest sees it: one ``pytest11`` entry point gives every fixture
and option of its modules, and disabling it (``-p no:lottery_harness``) takes them all away."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

FIXTURES = {
    "harness_images": "fixtures",
    "harness_sut": "fixtures",
    "check_context": "fixtures",
    "agency_data": "fixtures",
    "server_config_file": "fixtures",
    "client_config_file": "fixtures",
    "real_dataset": "fixtures",
    "cluster": "clusters",
    "harness_swarm": "clusters",
    "harness_swarm_nodes": "clusters",
    "harness_figures": "trials",
    "harness_trials": "trials",
    "harness_seed": "trials",
}
# Accepted only when the plugin's options module is registered (pytest refuses unknown options).
OPTIONS = ("--harness-keep", "--harness-report", "--harness-trials", "3", "--harness-backend", "compose")


def pytest_in(folder: Path, *arguments: str) -> str:
    """pytest's output in an empty folder (no conftest, no configuration): the plugin alone."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_every_fixture_and_option_comes_from_the_one_entry_point(tmp_path: Path) -> None:
    listed = pytest_in(tmp_path, *OPTIONS, "--fixtures")
    found = dict(re.findall(r"^(\w+)(?: \[session scope\])? -- .*harness/plugin/(\w+)\.py:\d+$", listed, flags=re.M))
    assert {name: found.get(name) for name in FIXTURES} == FIXTURES
    assert "PytestAssertRewriteWarning" not in listed


def test_disabling_the_entry_point_disables_every_module(tmp_path: Path) -> None:
    listed = pytest_in(tmp_path, "-p", "no:lottery_harness", "--fixtures")
    assert "harness/plugin/" not in listed
    assert "tmp_path" in listed  # pytest's own are listed: the listing itself worked
