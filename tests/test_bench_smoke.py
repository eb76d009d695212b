"""The docker-free benchmark parts run end to end at tiny sizes (figures recorded, never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import cli
from bench.common import BenchError, PartResult, failure, median_row, percentile
from bench.profiling import fold
from bench.scale import slope


def test_ingest_and_profile_parts_run_and_write_their_tables(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    results = tmp_path / "bench.json"
    markdown = tmp_path / "bench.md"
    code = cli.main(["--quick", "--parts", "ingest,profile", "--json", str(results), "--markdown", str(markdown)])
    assert code == 0, capsys.readouterr().err
    parts = json.loads(results.read_text())["parts"]
    ingest = parts["ingest"]["rows"]
    assert {(row["agencies"], row["receiver"]) for row in ingest} == {
        (1, "server"),
        (1, "baseline"),
        (2, "server"),
        (2, "baseline"),
    }
    assert all(row["bets_per_s"] > 0 and row["p99_ack_ms"] >= row["p50_ack_ms"] > 0 for row in ingest)
    assert all(row["ratio_to_baseline"] > 0 for row in ingest)
    assert parts["profile"]["rows"] and parts["profile"]["rows"][0]["samples_pct"] > 0
    text = markdown.read_text()
    assert "| agencies | bets_each | receiver |" in text and "| kind | function | samples_pct |" in text
    assert "Server ingest over loopback" in capsys.readouterr().out


def test_unknown_part_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--parts", "ingest,nope"])
    assert exit_info.value.code == 2
    assert "unknown part" in capsys.readouterr().err


def test_harness_bench_hands_its_arguments_to_the_bench(capsys: pytest.CaptureFixture) -> None:
    from harness.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "usage: harness bench" in capsys.readouterr().out


def test_medians_percentiles_slopes_and_folded_stacks() -> None:
    runs = [{"k": 1, "x": 3.0}, {"k": 1, "x": 1.0}, {"k": 1, "x": 2.0}]
    assert median_row(runs, ["k"], ["x"]) == {"k": 1, "x": 2.0, "runs": 3}
    assert percentile([5, 1, 4, 2, 3], 0.5) == 3 and percentile(list(range(1, 101)), 0.99) == 99
    assert slope([(1, 2.0), (10, 11.0), (100, 101.0)]) == pytest.approx(1.0)
    own, total, samples = fold(
        "process 1:main;run (a/server/worker.py:10);decode (b/protocol/messages.py:5) 3\n"
        "process 1:main;run (a/server/worker.py:10) 1\n"
    )
    assert samples == 4
    assert own["decode (protocol/messages.py)"] == 3 and total["run (server/worker.py)"] == 4


def test_markdown_table_of_a_part() -> None:
    part = PartResult("x", "Title", ["a", "b"], rows=[{"a": 1, "b": 0.5, "runs": 3}], notes=["a note"])
    assert cli.markdown_table(part).splitlines()[:4] == ["**Title**", "", "| a | b | runs |", "| --- | --- | --- |"]


def test_the_memory_sampler_names_containers_from_their_labels_without_inspecting_them() -> None:
    from bench.containers import SWARM_SERVICE_LABEL, SWARM_TASK_LABEL, service_of
    from harness.labels import COMPOSE_SERVICE_LABEL

    project = "lottery-ab12"
    assert service_of({COMPOSE_SERVICE_LABEL: "client4"}, project) == "client4"
    server = {SWARM_SERVICE_LABEL: f"{project}_server", SWARM_TASK_LABEL: f"{project}_server.1.x9"}
    assert service_of(server, project) == "server"
    replica = {SWARM_SERVICE_LABEL: f"{project}_client", SWARM_TASK_LABEL: f"{project}_client.417.k2"}
    assert service_of(replica, project) == "client417"
    per_agency = {SWARM_SERVICE_LABEL: f"{project}_client3", SWARM_TASK_LABEL: f"{project}_client3.1.q"}
    assert service_of(per_agency, project) == "client3"
    assert service_of({SWARM_SERVICE_LABEL: f"{project}_client"}, project) is None  # no slot: not an agency
    assert service_of({}, project) is None


def test_a_failed_run_names_its_first_failure_before_the_teardown_error() -> None:
    def run_then_tear_down() -> None:
        try:
            raise TimeoutError("client7 did not exit within 60s")
        finally:
            raise RuntimeError("network lottery-1_lottery: has active endpoints")

    with pytest.raises(RuntimeError) as raised:
        run_then_tear_down()
    assert failure(raised.value) == (
        "TimeoutError: client7 did not exit within 60s\n"
        "(then, tearing down: RuntimeError: network lottery-1_lottery: has active endpoints)"
    )
    assert failure(ValueError("alone")) == "ValueError: alone"
    assert failure(BenchError("10 bets stored, 20 sent")) == "10 bets stored, 20 sent"
