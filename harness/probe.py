"""The in-network health probe: a throwaway container on the cluster's network PINGs the server.

No port is published on the host: the probe runs ``python3 -m client.probe`` in the
client image, attached to the cluster's own network, and reports its verdict line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import requests
from docker.errors import NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from harness.cluster_errors import ClusterError
from harness.engine import docker_client
from harness.labels import COMPOSE_SERVICE_LABEL, LABEL, RUN_LABEL, role_label
from logline import FAIL, format_event
from logline.actions import TEST_ECHO_SERVER

PROBE_TIMEOUT = 20
IMPOSTOR_READY_TIMEOUT = 20
# An HTTP server's answer: bytes on the right port that are not the protocol.
GARBAGE_ANSWER = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
ECHO = None  # ``impostor_server(answer=ECHO)``: an echo server, as the course's exercise 3 has
_IMPOSTOR_SCRIPT = """
import socket, sys
answer = None if sys.argv[2] == "echo" else bytes.fromhex(sys.argv[2])
listener = socket.create_server(("0.0.0.0", int(sys.argv[1])))
print("listening", flush=True)
while True:
    connection, _ = listener.accept()
    with connection:
        connection.settimeout(2)
        try:
            received = connection.recv(8192)
            connection.sendall(answer if answer is not None else received.rstrip() + b"\\n")
        except OSError:
            pass
"""


def _network(run_id: str) -> Network:
    networks = docker_client().networks.list(filters={"label": f"{RUN_LABEL}={run_id}"})
    if len(networks) != 1:
        raise ClusterError(f"run {run_id}: expected one network, found {len(networks)}")
    return networks[0]


def _network_and_image(run_id: str) -> tuple[Network, str]:
    """The cluster's network and the client image (taken from client1, running or not)."""
    client = docker_client()
    network = _network(run_id)
    clients = client.containers.list(
        ignore_removed=True, all=True, filters={"label": [f"{RUN_LABEL}={run_id}", f"{COMPOSE_SERVICE_LABEL}=client1"]}
    )
    if not clients:
        raise ClusterError(f"run {run_id}: no client container to take the image from")
    return network, clients[0].image.id


def _labels(run_id: str, role: str) -> dict[str, str]:
    return {RUN_LABEL: run_id, LABEL: "1", role_label(role): "1"}


def run_probe(run_id: str, address: str = "server:12345", timeout: float = PROBE_TIMEOUT) -> tuple[str, bool]:
    """(the probe's ``test_echo_server`` line, whether it succeeded) for the cluster ``run_id``."""
    network, image = _network_and_image(run_id)
    container = docker_client().containers.run(
        image,
        entrypoint=["python3", "-m", "client.probe", address],
        network=network.name,
        labels=_labels(run_id, "probe"),
        detach=True,
    )
    try:
        try:
            result = container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return format_event(TEST_ECHO_SERVER, FAIL, error=f"probe did not finish within {timeout}s"), False
        output = container.logs().decode(errors="replace").strip().splitlines()
        line = next((entry for entry in reversed(output) if TEST_ECHO_SERVER in entry), None)
        if line is None:
            line = format_event(TEST_ECHO_SERVER, FAIL, error=output[-1] if output else "no output")
        return line, result["StatusCode"] == 0
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)


@contextlib.contextmanager
def impostor_server(
    run_id: str,
    alias: str = "impostor",
    port: int = 12345,
    answer: bytes | None = GARBAGE_ANSWER,
    image: str | None = None,
    name: str | None = None,
) -> Iterator[str]:
    """A server that speaks something else: on the cluster's network as ``alias``, it answers
    every connection with ``answer`` (with ``ECHO``: what it read, as a line) and closes it. Yields
    its ``host:port`` once it listens; removed on exit (it carries the run's label, so ``sweep``
    removes it too). ``image``: one with ``python3`` (default: the cluster's client image);
    ``name``: the container's name."""
    if image is None:
        network, image = _network_and_image(run_id)
    else:
        network = _network(run_id)
    client = docker_client()
    container = client.containers.run(
        image,
        name=name,
        entrypoint=["python3", "-c", _IMPOSTOR_SCRIPT, str(port), "echo" if answer is None else answer.hex()],
        network=network.name,
        networking_config={network.name: client.api.create_endpoint_config(aliases=[alias])},
        labels=_labels(run_id, "impostor"),
        detach=True,
    )
    try:
        _wait_until_listening(container)
        yield f"{alias}:{port}"
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True)


def _wait_until_listening(container: Container, timeout: float = IMPOSTOR_READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while b"listening" not in container.logs():
        container.reload()
        if container.status not in ("created", "running"):
            raise ClusterError(f"the impostor server ended: {container.logs().decode(errors='replace')[-500:]}")
        if time.monotonic() > deadline:
            raise ClusterError(f"the impostor server did not listen within {timeout}s")
        time.sleep(0.05)
