"""pytest plugin (entry point ``pytest11``): images, datasets and clusters as fixtures.

Every fixture is thin; the same ``Cluster`` works from the CLI and plain Python.
Override a fixture (``harness_images``, ``agency_data``...) to change its setting.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Generator, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import data as datasets
from harness.backends import BACKENDS, COMPOSE, SWARM, NotSupportedOnBackend
from harness.check.context import CheckContext
from harness.check.sut import Sut
from harness.cluster import Cluster, new_run_id, sweep
from harness.engine import EngineUnavailable, docker_client
from harness.images import REPO_ROOT, ImageSet, ensure_images
from harness.labels import SESSION_LABEL
from harness.logs import LogContractError, assert_log_contract
from harness.report import Failure, write_cluster_report, write_index

SESSION_ID = new_run_id()
_clusters_made: list[str] = []
_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_timeline_key = pytest.StashKey[list[tuple[Cluster, Path]]]()  # each cluster of a test, its report's path
_failure_key = pytest.StashKey[Failure]()
CI_ARTIFACTS = "build/artifacts"
REPORT_PROPERTY = "harness_report"
MAX_FAILURE_TEXT = 6000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lottery-harness")
    group.addoption("--harness-keep", action="store_true", help="leave a failed test's cluster running")
    group.addoption(
        "--harness-artifacts",
        metavar="DIR",
        default=CI_ARTIFACTS if os.environ.get("CI", "").lower() == "true" else None,
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
        default=os.environ.get("CI", "").lower() == "true",
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--harness-require-docker") or not any(i.get_closest_marker("scenario") for i in items):
        return
    try:
        docker_client()
    except EngineUnavailable as exc:
        skip = pytest.mark.skip(reason=str(exc))
        for item in items:
            if item.get_closest_marker("scenario"):
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """What the backend cannot do skips the scenario, with the backend's reason."""
    try:
        return (yield)
    except NotSupportedOnBackend as exc:
        pytest.skip(str(exc))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    item.stash.setdefault(_report_key, {})[report.when] = report
    if report.failed and call.excinfo is not None and _failure_key not in item.stash:
        message = call.excinfo.exconly()
        if len(message) > MAX_FAILURE_TEXT:
            message = message[:MAX_FAILURE_TEXT] + "\n[... cut; the whole message is in pytest's output]"
        item.stash[_failure_key] = Failure(message, call.stop)
    timelines = item.stash.get(_timeline_key, [])
    if report.when == "call" and report.failed and timelines:
        # The report is written when the fixture tears down (after the cluster's down); its path
        # goes into this failure's section now, where the user reads the failure.
        report.sections.append(("harness report", "\n".join(f"{path}" for _, path in timelines)))
    return report


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove whatever this session labelled and left (Ctrl-C included), unless asked to keep it."""
    if _clusters_made and not session.config.getoption("--harness-keep"):
        with contextlib.suppress(EngineUnavailable):
            sweep({SESSION_LABEL: SESSION_ID})


def _failed(node: pytest.Item) -> bool:
    return any(report.failed for report in node.stash.get(_report_key, {}).values())


@pytest.fixture(scope="session")
def harness_images(pytestconfig: pytest.Config) -> ImageSet:
    """The server and client images, built once per session (cached by content across sessions)."""
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")

    def report(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[harness] {message}")

    return ensure_images(pytestconfig.getoption("--harness-base-image"), report)


@pytest.fixture(scope="session")
def harness_sut(pytestconfig: pytest.Config) -> Sut:
    """The system the contract checks run on: ``--harness-sut PATH`` (``--harness-sut-ref``), else
    this repository's checked-out tree."""
    path = pytestconfig.getoption("--harness-sut")
    return Sut.at(path or REPO_ROOT, pytestconfig.getoption("--harness-sut-ref"))


@pytest.fixture
def check_context(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Sut, str], CheckContext]:
    """Factory: ``check_context(sut, "ej6")`` -> the context ``harness.check.runner.run_check`` needs;
    its clusters carry the session label (swept at the end), logs go to ``--harness-artifacts``."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    artifacts = request.config.getoption("--harness-artifacts")
    counter = iter(range(1_000_000))

    def report(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[harness] {message}")

    def make(sut: Sut, exercise: str) -> CheckContext:
        _clusters_made.append(f"check-{exercise}")
        return CheckContext(
            sut=sut,
            exercise=exercise,
            workdir=tmp_path / f"check-{next(counter)}",
            artifacts=Path(artifacts) / request.node.name if artifacts else None,
            report=report,
            labels={SESSION_LABEL: SESSION_ID},
        )

    return make


@pytest.fixture
def agency_data(tmp_path: Path) -> Callable[..., datasets.Dataset]:
    """``agency_data(agencies=5, bets=60, winners={1: 1}, seed=0, long_names=False)`` -> Dataset."""
    counter = iter(range(1_000_000))

    def make(**options: Any) -> datasets.Dataset:
        return datasets.generate(tmp_path / f"data-{next(counter)}", **options)

    return make


@pytest.fixture
def server_config_file(tmp_path: Path) -> Callable[..., Path]:
    """``server_config_file(LOGGING_LEVEL="DEBUG", SERVER_LISTEN_BACKLOG=50)`` -> a copy of
    server/config.ini under tmp_path with those ``[DEFAULT]`` keys set (the rest byte for byte);
    pass it as ``cluster(server_config=...)``. The repository's file is never touched."""
    counter = iter(range(1_000_000))

    def make(values: Mapping[str, object] | None = None, **more: object) -> Path:
        text = (REPO_ROOT / "server" / "config.ini").read_text(encoding="utf-8")
        for key, value in {**(values or {}), **more}.items():
            line = f"{key} = {value}"
            text, found = re.subn(rf"^{re.escape(key)}\s*=.*$", partial(_literal, line), text, flags=re.M)
            if not found:
                text = text.rstrip("\n") + f"\n{line}\n"
        path = tmp_path / f"server-config-{next(counter)}" / "config.ini"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _literal(text: str, _match: re.Match[str]) -> str:
    """A ``re.sub`` replacement that inserts ``text`` as it is (no backslash escapes)."""
    return text


@pytest.fixture
def client_config_file(tmp_path: Path) -> Callable[..., Path]:
    """``client_config_file({"log.level": "DEBUG", "batch.maxAmount": 7})`` -> a copy of
    client/config.yaml under tmp_path with those (dotted) keys set; pass it as
    ``cluster(client_config=...)``. The repository's file is never touched."""
    counter = iter(range(1_000_000))

    def make(values: Mapping[str, object]) -> Path:
        document = yaml.safe_load((REPO_ROOT / "client" / "config.yaml").read_text(encoding="utf-8")) or {}
        for dotted, value in values.items():
            *parents, leaf = dotted.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        path = tmp_path / f"client-config-{next(counter)}" / "config.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    return make


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> datasets.Dataset:
    """The course's dataset (5 agencies, 78,697 bets) from ../shared/data; skips when absent."""
    source = datasets.real_dataset_path()
    if source is None:
        pytest.skip("the course's dataset (../shared/data/tp0-dataset.zip) is not present")
    return datasets.load(source, tmp_path_factory.mktemp("real-dataset"))


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
    artifacts = _artifacts_dir(config)
    timelines = request.node.stash.setdefault(_timeline_key, [])
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
        _clusters_made.append(made.project)
        folder = (artifacts / request.node.name if artifacts else tmp_path / "harness-report") / made.project
        timelines.append((made, folder / "report.html"))
        return made

    yield make

    failed = _failed(request.node)
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[harness] {message}")

    broken = []
    for made, report_path in timelines:
        contract_error = None
        if failed and keep:
            made.kept = True
            # the host's swarm stays up for the kept stack, until `harness down` (local nodes stay anyway)
            if made.backend == SWARM and not config.getoption("--harness-swarm-nodes"):
                from harness.swarm.engines import acquire_local_swarm

                acquire_local_swarm(f"run-{made.run_id}")
            say(made.how_to_reach())
        else:
            made.down()
            if not failed:
                try:
                    assert_log_contract(made.events())
                except LogContractError as error:
                    contract_error = f"{made.project}: {error}"
                    broken.append(contract_error)
        if failed and artifacts:
            say(f"artifacts of {made.project}: {made.save_artifacts(report_path.parent.parent)}")
        if failed or contract_error or config.getoption("--harness-report"):
            written = _write_timeline(request, made, report_path, failed, contract_error)
            if written is not None:
                say(f"report of {made.project}: {written}")
    if artifacts and any(path.exists() for _, path in timelines):
        write_index(artifacts)
    if broken:  # the test passed, but a line the course's parser rejects fails the run
        pytest.fail("\n".join(broken), pytrace=False)


def _artifacts_dir(config: pytest.Config) -> Path | None:
    """``--harness-artifacts`` (default build/artifacts when CI=true, or with ``--harness-report``)."""
    chosen = config.getoption("--harness-artifacts")
    if chosen is None and config.getoption("--harness-report"):
        chosen = CI_ARTIFACTS
    return Path(chosen).resolve() if chosen else None


def _write_timeline(
    request: pytest.FixtureRequest, made: Cluster, path: Path, failed: bool, contract_error: str | None = None
) -> Path | None:
    """The cluster's report.html (its logs saved beside it), linked from the junit XML."""
    node = request.node
    failure = node.stash.get(_failure_key, None) if failed else None
    if failure is not None and made.failure is not None:  # the moment the ``with`` block was left
        failure = Failure(failure.message, made.failure[0])
    if failure is None and contract_error is not None:
        failure = Failure(f"a line breaks the log contract: {contract_error}")
    seed = node.funcargs.get("harness_seed") if isinstance(node, pytest.Function) else None
    several = len(node.stash.get(_timeline_key, [])) > 1
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
        say = request.config.pluginmanager.get_plugin("terminalreporter")
        if say is not None:
            say.write_line(f"[harness] report of {made.project} not written: {type(exc).__name__}: {exc}")
        return None
    node.user_properties.append((REPORT_PROPERTY, str(written)))
    return written


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
