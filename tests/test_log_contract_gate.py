"""A line the course's parser rejects fails the scenario that saw it: through the cluster's log hub,
``Cluster.__exit__`` and the pytest plugin's ``cluster`` fixture, without Docker (nothing is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster import Cluster
from harness.images import ImageSet
from harness.logs import LogContractError, assert_log_contract

pytest_plugins = ["pytester"]

STAMP = "2026-11-27T04:57:01.123456789Z"
BROKEN = f"{STAMP} 2026-11-27 04:57:01,123 INFO     action: close_connection | result: succes | ip: 172.18.0.4"
GOOD = f"{STAMP} 2026-11-27 04:57:01,124 INFO     action: shutdown | result: success"
IMAGES = ImageSet(server="server:never-run", client="client:never-run", base="base:never-run")


def never_started_cluster(tmp_path: Path) -> Cluster:
    """A cluster whose stack was never brought up: ``down()`` has nothing to do."""
    (tmp_path / "data").mkdir(parents=True)
    return Cluster(clients=1, data=tmp_path / "data", images=IMAGES, workdir=tmp_path / "work")


def test_the_hub_keeps_a_broken_line_and_the_contract_check_names_it(tmp_path: Path) -> None:
    cluster = never_started_cluster(tmp_path)
    cluster.hub.add_line("server", GOOD)
    assert_log_contract(cluster.events())
    cluster.hub.add_line("server", BROKEN)
    assert [event.action for event in cluster.events()] == ["shutdown"]  # never an odd-looking event
    with pytest.raises(LogContractError, match=r"1 log line\(s\) break the log contract") as caught:
        assert_log_contract(cluster.events())
    assert "server | 2026-11-27 04:57:01,123 INFO     action: close_connection | result: succes" in str(caught.value)
    assert "'succes'" in str(caught.value)


def test_a_cluster_block_that_ends_well_fails_on_a_broken_line(tmp_path: Path) -> None:
    cluster = never_started_cluster(tmp_path)
    cluster.hub.add_line("server", BROKEN)
    with pytest.raises(LogContractError, match="result: succes"):
        cluster.__exit__(None, None, None)
    clean = never_started_cluster(tmp_path / "clean")
    clean.hub.add_line("server", GOOD)
    clean.__exit__(None, None, None)  # nothing to say


def test_the_cluster_fixture_fails_a_passing_test_that_saw_a_broken_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from harness.images import ImageSet

        @pytest.fixture(scope="session")
        def harness_images():
            return ImageSet(server="s:never-run", client="c:never-run", base="b:never-run")
        """
    )
    pytester.makepyfile(
        f"""
        def test_broken(cluster, tmp_path):
            (tmp_path / "data").mkdir()
            made = cluster(clients=1, data=tmp_path / "data")
            made.hub.add_line("server", {BROKEN!r})

        def test_clean(cluster, tmp_path):
            (tmp_path / "data").mkdir()
            made = cluster(clients=1, data=tmp_path / "data")
            made.hub.add_line("server", {GOOD!r})
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_broken*", "*action: close_connection | result: succes*"])
