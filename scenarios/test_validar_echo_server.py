"""Exercise 3, the course's script: ``validar-echo-server.sh`` says success for this repository's server
and for an echo server (the course's exercise-3 server, which the course checks the script against),
and fail for a server that answers garbage and for a stopped one. It prints exactly one verdict line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.engine import docker_client
from harness.labels import RUN_LABEL, role_label
from harness.logs import where
from harness.probe import ECHO, impostor_server

pytestmark = pytest.mark.scenario

SCRIPT = Path(__file__).resolve().parent.parent / "validar-echo-server.sh"
SUCCESS = "action: test_echo_server | result: success"
FAIL = "action: test_echo_server | result: fail"


def validar(container: str, probe_image: str) -> tuple[str, int]:
    environment = {**os.environ, "SERVER_CONTAINER": container, "PROBE_IMAGE": probe_image}  # the same engine
    result = subprocess.run([str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60, check=False)
    print(result.stderr)  # shown when the test fails: why the script said what it said
    return result.stdout.strip(), result.returncode


def impostor_name(run_id: str) -> str:
    found = docker_client().containers.list(
        ignore_removed=True, filters={"label": [f"{RUN_LABEL}={run_id}", f"{role_label('impostor')}=1"]}
    )
    assert len(found) == 1, found
    return found[0].name


def test_validar_echo_server_tells_working_servers_from_broken_ones(cluster, agency_data, harness_images):
    data = agency_data(agencies=1, bets=5)
    with cluster(clients=1, data=data) as c:
        c.wait_for(where("listen", "success", service="server"), timeout=30)
        server = c.container("server").name

        assert validar(server, harness_images.client) == (SUCCESS, 0)

        with impostor_server(c.run_id, alias="echo", answer=ECHO):
            assert validar(impostor_name(c.run_id), harness_images.client) == (SUCCESS, 0)

        with impostor_server(c.run_id, alias="garbage"):
            assert validar(impostor_name(c.run_id), harness_images.client) == (FAIL, 1)

        c.stop("server")
        c.wait_for(where("shutdown", "success", service="server"), timeout=10)
        assert validar(server, harness_images.client) == (FAIL, 1)
        assert validar("no-such-container-here", harness_images.client) == (FAIL, 1)
