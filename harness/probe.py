"""The in-network health probe: a throwaway container on the cluster's network PINGs the server.

No port is published on the host: the probe runs ``python3 -m client.probe`` in the
client image, attached to the cluster's own network, and reports its verdict line.
"""

from __future__ import annotations

import contextlib

import requests
from docker.errors import NotFound

from harness.cluster import RUN_LABEL, ClusterError
from harness.engine import docker_client

PROBE_TIMEOUT = 20


def run_probe(run_id: str, address: str = "server:12345", timeout: float = PROBE_TIMEOUT) -> tuple[str, bool]:
    """(the probe's ``test_echo_server`` line, whether it succeeded) for the cluster ``run_id``."""
    client = docker_client()
    networks = client.networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
    if len(networks) != 1:
        raise ClusterError(f"run {run_id}: expected one network, found {len(networks)}")
    clients = client.containers.list(
        all=True, filters={"label": [f"{RUN_LABEL}={run_id}", "com.docker.compose.service=client1"]}
    )
    if not clients:
        raise ClusterError(f"run {run_id}: no client container to take the image from")
    container = client.containers.run(
        clients[0].image.id,
        entrypoint=["python3", "-m", "client.probe", address],
        network=networks[0].name,
        labels={RUN_LABEL: run_id, "lottery-harness": "1", "lottery-harness.probe": "1"},
        detach=True,
    )
    try:
        try:
            result = container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return f"action: test_echo_server | result: fail | error: probe did not finish within {timeout}s", False
        output = container.logs().decode(errors="replace").strip().splitlines()
        line = next((entry for entry in reversed(output) if "test_echo_server" in entry), None)
        if line is None:
            line = "action: test_echo_server | result: fail | error: " + (output[-1] if output else "no output")
        return line, result["StatusCode"] == 0
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)
