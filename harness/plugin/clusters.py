"""The ``cluster`` fixture (every cluster down when its test ends, its log checked against the
contract, its artifacts and report on failure), the session's swarms, and the sweep that removes
whatever the session labelled and left."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError

from harness.backends import COMPOSE, SWARM
from harness.cluster import Cluster
from harness.engine import EngineUnavailable, sweep
from harness.images import ImageSet
from harness.labels import SESSION_LABEL
from harness.logs import LogContractError, assert_log_contract
from harness.plugin.reports import artifacts_dir, write_timeline
from harness.plugin.session import SESSION_ID, TIMELINES, clusters_made, failed, harness_lines
from harness.report import write_index


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove whatever this session labelled and left (Ctrl-C included), unless asked to keep it."""
    if clusters_made and not session.config.getoption("--harness-keep"):
        try:
            sweep({SESSION_LABEL: SESSION_ID})
        except EngineUnavailable:
            pass
        except APIError as error:  # said, not raised: a crash here would also lose the junit XML
            harness_lines(session.config)(f"left on the engine by this session: {error.explanation or error}")


@pytest.fixture
def cluster(
    request: pytest.FixtureRequest, harness_images: ImageSet, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """Factory: ``cluster(clients=5, data=dataset, server_env=..., client_env=...)`` -> Cluster.

    Also ``per_client_env={1: {...}}``, ``server_config=``/``client_config=`` (paths, e.g. from
    ``server_config_file``) and ``deferred=["client2"]`` (created, started later with ``c.start``).

    Use the result as a context manager. Whatever happens, every cluster is taken
    down when the test ends; on failure its artifacts go to ``--harness-artifacts``.
    """
    config = request.config
    keep = bool(config.getoption("--harness-keep"))
    created: list[Cluster] = []
    artifacts = artifacts_dir(config)
    timelines = request.node.stash.setdefault(TIMELINES, [])
    backend = config.getoption("--harness-backend")

    def make(**options: Any) -> Cluster:
        if backend != COMPOSE:
            options.setdefault("backend", backend)
        if options.get("backend") == SWARM:  # one swarm for the session, not one per cluster
            options.setdefault("swarm", request.getfixturevalue("harness_swarm"))
        labels = {SESSION_LABEL: SESSION_ID, **options.pop("labels", {})}
        workdir = tmp_path / f"cluster-{len(created)}"
        made = Cluster(images=harness_images, labels=labels, workdir=workdir, keep_on_failure=keep, **options)
        created.append(made)
        clusters_made.append(made.project)
        folder = (artifacts / request.node.name if artifacts else tmp_path / "harness-report") / made.project
        timelines.append((made, folder / "report.html"))
        return made

    yield make

    test_failed = failed(request.node)
    say = harness_lines(config)

    broken = []
    for made, report_path in timelines:
        contract_error = None
        if test_failed and keep:
            made.kept = True
            # the host's swarm stays up for the kept stack, until `harness down` (local nodes stay anyway)
            if made.backend == SWARM and not config.getoption("--harness-swarm-nodes"):
                from harness.swarm.engines import acquire_local_swarm

                acquire_local_swarm(f"run-{made.run_id}")
            say(made.how_to_reach())
        else:
            made.down()
            if not test_failed:
                try:
                    assert_log_contract(made.events())
                except LogContractError as error:
                    contract_error = f"{made.project}: {error}"
                    broken.append(contract_error)
        written = None
        if test_failed or contract_error or config.getoption("--harness-report"):
            written = write_timeline(request, made, report_path, test_failed, contract_error)
            if written is not None:
                say(f"report of {made.project}: {written}")
        if test_failed and artifacts:  # the report, when written, saved each service's log beside it
            saved = made.save_artifacts(report_path.parent.parent, logs=written is None)
            say(f"artifacts of {made.project}: {saved}")
    if artifacts and any(path.exists() for _, path in timelines):
        write_index(artifacts)
    if broken:  # the test passed, but a line the course's parser rejects fails the run
        pytest.fail("\n".join(broken), pytrace=False)


@pytest.fixture(scope="session")
def harness_swarm(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The swarm of the session's swarm clusters (a ``SwarmEngine``): with ``--harness-swarm-nodes``,
    the local node swarm (``harness_swarm_nodes``); else this engine as a one-node swarm,
    initialised if inactive and left (``swarm leave --force``) at the end only if the harness
    initialised it."""
    if request.config.getoption("--harness-swarm-nodes"):
        yield request.getfixturevalue("harness_swarm_nodes").engine()
        return
    from harness.swarm.engines import local_swarm

    engine = local_swarm(f"pytest-{SESSION_ID}-{os.getpid()}", os.getpid())
    try:
        yield engine
    finally:
        engine.release()


@pytest.fixture(scope="session")
def harness_swarm_nodes(pytestconfig: pytest.Config, harness_images: ImageSet) -> Iterator[Any]:
    """``--harness-swarm-nodes N`` local swarm nodes (``LocalSwarmNodes``) with the session's images:
    the ones ``harness swarm up`` left (kept), else started now and removed at the end."""
    from harness.swarm.nodes import LocalSwarmNodes, nodes_up

    count = pytestconfig.getoption("--harness-swarm-nodes")
    if not count:
        pytest.skip("multi-node swarm scenarios need --harness-swarm-nodes N (make test-slow)")
    images = [harness_images.server, harness_images.client]
    existing = LocalSwarmNodes.load()
    if existing is not None:
        existing.load_missing_images(images)
        yield existing
        return
    nodes = nodes_up(count, images)
    try:
        yield nodes
    finally:
        problems = nodes.down()
        if problems:
            pytest.fail(f"local swarm nodes were not all removed: {problems}", pytrace=False)
