"""What a test runs on: the images, the system under test of the contract checks and their
context, generated and real agency data, edited copies of the config files."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import data as datasets
from harness.check.context import CheckContext
from harness.check.sut import Sut
from harness.images import REPO_ROOT, ImageSet, ensure_images
from harness.labels import SESSION_LABEL
from harness.plugin.session import SESSION_ID, clusters_made, harness_lines


@pytest.fixture(scope="session")
def harness_images(pytestconfig: pytest.Config) -> ImageSet:
    """The server and client images, built once per session (cached by content across sessions)."""
    return ensure_images(pytestconfig.getoption("--harness-base-image"), harness_lines(pytestconfig))


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
    artifacts = request.config.getoption("--harness-artifacts")
    counter = iter(range(1_000_000))

    def make(sut: Sut, exercise: str) -> CheckContext:
        clusters_made.append(f"check-{exercise}")
        return CheckContext(
            sut=sut,
            exercise=exercise,
            workdir=tmp_path / f"check-{next(counter)}",
            artifacts=Path(artifacts) / request.node.name if artifacts else None,
            report=harness_lines(request.config),
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
