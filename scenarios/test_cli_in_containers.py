"""The `harness` CLI end to end, in real containers: run, up/logs/probe/down, nothing left behind."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.engine import docker_client
from harness.labels import CLI_LABEL, COMPOSE_SERVICE_LABEL, RUN_LABEL

pytestmark = pytest.mark.scenario


def harness(*args: str, state: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HARNESS_STATE_DIR": str(state)}
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def resources_of(run_id: str) -> list[str]:
    """The containers and networks the CLI's run ``run_id`` left (only its own: other runs may be up)."""
    client = docker_client()
    labelled = {"label": [f"{CLI_LABEL}=1", f"{RUN_LABEL}={run_id}"]}
    return [c.name for c in client.containers.list(ignore_removed=True, all=True, filters=labelled)] + [
        n.name for n in client.networks.list(filters=labelled)
    ]


def run_of(result: subprocess.CompletedProcess[str]) -> str:
    """The run id of a ``harness run``, from its "cluster lottery-RUN up" line."""
    found = re.search(r"cluster lottery-(\S+) up in", result.stderr)
    assert found, f"no 'cluster ... up' line:\n{result.stdout}{result.stderr}"
    return found.group(1)


@pytest.fixture
def state(tmp_path: Path, harness_images):
    """A state folder for the CLI; whatever a failing test left up is taken down."""
    yield tmp_path / "state"
    harness("down", "--all", state=tmp_path / "state")


def test_run_three_agencies_prints_the_table_and_cleans_up(state):
    result = harness("run", "--clients", "3", "--bets", "30", state=state)
    assert result.returncode == 0, result.stdout + result.stderr
    for agency in ("1", "2", "3"):
        assert any(line.strip().startswith(f"│      {agency} │") for line in result.stdout.splitlines())
    assert "stored: 90 bets; draws: 1" in result.stdout
    assert "OK in" in result.stdout
    assert resources_of(run_of(result)) == []
    assert not state.exists() or not any(state.iterdir())


def test_up_logs_probe_down(state):
    up = harness("up", "--clients", "2", "--bets", "10", state=state)
    assert up.returncode == 0, up.stderr
    run_id = next(line.split("--run ")[1] for line in up.stdout.splitlines() if "harness down --run" in line)

    healthy = harness("probe", "--run", run_id, state=state)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "action: test_echo_server | result: success" in healthy.stdout

    logs = harness("logs", "server", "--run", run_id, state=state)
    assert logs.returncode == 0
    assert "action: config | result: success" in logs.stdout

    server = docker_client().containers.list(
        ignore_removed=True, filters={"label": [f"{RUN_LABEL}={run_id}", f"{COMPOSE_SERVICE_LABEL}=server"]}
    )[0]
    server.stop(timeout=10)
    unhealthy = harness("probe", "--run", run_id, state=state)
    assert unhealthy.returncode == 1
    assert "action: test_echo_server | result: fail" in unhealthy.stdout

    down = harness("down", "--run", run_id, state=state)
    assert down.returncode == 0, down.stderr
    assert resources_of(run_id) == []
    assert not (state / run_id).exists()


def test_run_reports_a_failed_agency_instead_of_hanging(state, tmp_path):
    data = tmp_path / "broken"
    data.mkdir()
    (data / "agency-1.csv").write_text("Ana,Gómez,123,not-a-date,7574\n")
    result = harness("run", "--clients", "1", "--data", str(data), "--timeout", "60", state=state)
    assert result.returncode == 1
    assert "clients exited non-zero" in result.stderr
    assert resources_of(run_of(result)) == []
