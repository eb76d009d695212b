"""The plugin's command-line options (``--harness-*``, each with its environment default) and the
markers it defines."""

from __future__ import annotations

import os

import pytest

from harness.backends import BACKENDS, COMPOSE

CI_ARTIFACTS = "build/artifacts"


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lottery-harness")
    group.addoption("--harness-keep", action="store_true", help="leave a failed test's cluster running")
    group.addoption(
        "--harness-artifacts",
        metavar="DIR",
        default=CI_ARTIFACTS if _under_ci() else None,
        help="on failure, save each container's log, compose file, stored bets and report.html, "
        f"with an index.html of every report (default: {CI_ARTIFACTS} when CI=true)",
    )
    group.addoption(
        "--harness-report",
        action="store_true",
        help="write the timeline report.html of every scenario, passed ones too (into --harness-artifacts, "
        f"default {CI_ARTIFACTS})",
    )
    group.addoption("--harness-base-image", metavar="IMAGE", help="base image for the server and client images")
    group.addoption(
        "--harness-require-docker",
        action="store_true",
        default=_under_ci(),
        help="fail scenario tests instead of skipping them when no engine answers (default: CI=true)",
    )
    group.addoption(
        "--harness-trials",
        type=int,
        default=int(os.environ.get("HARNESS_TRIALS", "20")),
        metavar="N",
        help="trials of the randomized fault scenarios (default: env HARNESS_TRIALS or 20)",
    )
    group.addoption(
        "--harness-seed",
        type=int,
        default=int(os.environ["HARNESS_SEED"]) if os.environ.get("HARNESS_SEED") else None,
        metavar="SEED",
        help="first seed of the randomized trials (default: env HARNESS_SEED, else a fresh one, printed)",
    )
    group.addoption(
        "--harness-sut",
        metavar="PATH",
        help="the TP0 repository the contract checks (-m contract) run on (default: this repository)",
    )
    group.addoption("--harness-sut-ref", metavar="REF", help="the git ref of --harness-sut to check")
    group.addoption(
        "--harness-backend",
        choices=BACKENDS,
        default=os.environ.get("HARNESS_BACKEND", COMPOSE),
        help="where the `cluster` fixture runs: compose (default) or swarm (a one-node swarm of this engine,"
        " initialised if inactive and left as found; env HARNESS_BACKEND)",
    )
    group.addoption(
        "--harness-swarm-nodes",
        type=int,
        default=0,
        metavar="N",
        help="with --harness-backend swarm: run on N local swarm nodes (one dockerd each; root;"
        " docs/scaling.md) instead of this engine alone; the multi-node scenarios need it (make test-slow)",
    )
    group.addoption(
        "--harness-figures",
        metavar="FILE",
        help="write the session's reliability figures (faults survived, inputs tried...) as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: needs a Docker engine; runs the system in real containers")
    config.addinivalue_line("markers", "slow: long-running (randomized trials, large datasets)")
    config.addinivalue_line("markers", "contract: a course-contract check of a TP0 implementation (harness check)")
