"""Scenarios skipped, saying why: all of them when no Docker engine answers (unless
``--harness-require-docker``), one when it asks what its backend cannot do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.backends import NotSupportedOnBackend
from harness.engine import EngineUnavailable, docker_client


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
