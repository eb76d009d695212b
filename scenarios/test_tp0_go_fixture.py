"""The second TP0 implementation (tests/fixtures/tp0-go: Go client, stdlib Python server) run the
course's way: its own ``generar-compose.sh``, its Dockerfiles built through the offline stand-ins,
``docker compose up``; then the contract's log lines and the engine's exit codes are checked.

The compose file is made safe the way ``harness check`` does it: a unique project name, no fixed
container names or subnet, the harness's labels, the images built here.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from docker.errors import ImageNotFound
from docker.models.containers import Container

from harness import data as datasets
from harness.engine import docker_client, sweep
from harness.labels import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL, LABEL, RUN_LABEL
from harness.logs import Event, EventLog, parse_lines
from harness.standins import ensure_from_images

pytestmark = pytest.mark.scenario

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tp0-go"
COMPOSE_TIMEOUT = 120
EXIT_TIMEOUT = 120
GRACE = 10


@pytest.fixture(scope="module")
def fixture_images() -> Iterator[dict[str, str]]:
    """{"server:latest": tag, "client:latest": tag}: the fixture's images, built through the stand-ins."""
    ensure_from_images([FIXTURE / "server" / "Dockerfile", FIXTURE / "client" / "Dockerfile"])
    suffix = uuid.uuid4().hex[:8]
    built = {}
    for name in ("server", "client"):
        tag = f"tp0-go-fixture/{name}:{suffix}"
        docker_client().images.build(
            path=str(FIXTURE), dockerfile=f"{name}/Dockerfile", tag=tag, rm=True, forcerm=True, timeout=600
        )
        built[f"{name}:latest"] = tag
    yield built
    for tag in built.values():
        with contextlib.suppress(ImageNotFound):
            docker_client().images.remove(tag)


class Stack:
    """A scratch copy of the fixture and its compose project."""

    def __init__(self, workdir: Path, images: Mapping[str, str]) -> None:
        self.repo = workdir / "tp0-go"
        shutil.copytree(FIXTURE, self.repo)
        self.images = images
        self.run_id = uuid.uuid4().hex[:10]
        self.project = f"tp0go-{self.run_id}"
        self.compose_file = self.repo / "docker-compose-dev.yaml"

    def generate(self, agencies: int, env: Mapping[str, Mapping[str, str]] | None = None) -> None:
        subprocess.run(
            ["./generar-compose.sh", self.compose_file.name, str(agencies)],
            cwd=self.repo,
            check=True,
            capture_output=True,
            timeout=30,
        )
        spec: dict[str, Any] = yaml.safe_load(self.compose_file.read_text())
        spec.pop("name", None)
        labels = {LABEL: "1", RUN_LABEL: self.run_id}
        for service_name, service in spec["services"].items():
            service.pop("container_name", None)
            service["image"] = self.images[service["image"]]
            service["labels"] = labels
            service["environment"] = [*service.get("environment", []), *_env_list((env or {}).get(service_name, {}))]
        spec["networks"] = {name: {"labels": labels} for name in spec.get("networks", {})}
        self.compose_file.write_text(yaml.safe_dump(spec, sort_keys=False))

    def compose(self, *args: str) -> None:
        command = ["docker", "compose", "-p", self.project, "-f", str(self.compose_file), *args]
        subprocess.run(command, cwd=self.repo, check=True, capture_output=True, timeout=COMPOSE_TIMEOUT)

    def container(self, service: str) -> Container:
        found = docker_client().containers.list(
            ignore_removed=True,
            all=True,
            filters={"label": [f"{COMPOSE_PROJECT_LABEL}={self.project}", f"{COMPOSE_SERVICE_LABEL}={service}"]},
        )
        assert len(found) == 1, f"expected one container of service {service}, found {len(found)}"
        return found[0]

    def events(self, service: str) -> EventLog:
        """The contract reads from ``action:`` on; what the implementation writes before it is its own."""
        text = self.container(service).logs().decode("utf-8", errors="replace")
        return parse_lines([line[line.index("action:") :] for line in text.splitlines() if "action:" in line], service)

    def wait_event(self, service: str, action: str, result: str, timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events(service).first(action, result)
            if event is not None:
                return event
            if time.monotonic() > deadline:
                tail = self.container(service).logs(tail=10).decode(errors="replace")
                raise AssertionError(
                    f"{service}: no `{action} | result: {result}` within {timeout}s; last lines:\n{tail}"
                )
            time.sleep(0.2)  # polling the engine's log, bounded by the deadline

    def wait_exit(self, service: str, timeout: float = EXIT_TIMEOUT) -> int:
        return int(self.container(service).wait(timeout=timeout)["StatusCode"])

    def stop(self, service: str) -> tuple[int, float]:
        """SIGTERM, SIGKILL after GRACE seconds: the exit code and how long it took."""
        container = self.container(service)
        started = time.monotonic()
        container.stop(timeout=GRACE)
        return self.wait_exit(service, timeout=GRACE + 10), time.monotonic() - started

    def down(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.compose("down", "--volumes", "--timeout", "5")
        sweep({COMPOSE_PROJECT_LABEL: self.project})


def _env_list(env: Mapping[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in env.items()]


@pytest.fixture
def stack(tmp_path: Path, fixture_images: dict[str, str]) -> Iterator[Stack]:
    made = Stack(tmp_path, fixture_images)
    try:
        yield made
    finally:
        made.down()


def _assert_no_failures(stack: Stack, services: list[str]) -> None:
    for service in services:
        failures = stack.events(service).filter(result="fail")
        assert not list(failures), f"{service} logged failures: {[e.raw for e in failures]}"


def test_three_agencies_batches_and_winners(stack: Stack):
    data = datasets.generate(stack.repo / ".data", 3, {1: 250, 2: 101, 3: 40}, winners={1: 3, 2: 1, 3: 0})
    crlf = data.path(2)
    crlf.write_bytes(crlf.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))  # the course's files
    stack.generate(3)
    stack.compose("up", "--detach")

    clients = ["client1", "client2", "client3"]
    assert {client: stack.wait_exit(client) for client in clients} == dict.fromkeys(clients, 0)
    server = stack.events("server")
    batches = [event.int_field("cantidad") or 0 for event in server.filter("apuesta_recibida", "success")]
    assert sum(batches) == data.total_bets
    assert sorted(batches) == sorted([100, 100, 50, 100, 1, 40])  # batch.maxAmount is 100
    assert server.count("sorteo", "success") == 1
    for agency, client in enumerate(clients, 1):
        answer = stack.events(client).first("consulta_ganadores", "success")
        assert answer is not None, f"{client} logged no consulta_ganadores"
        assert answer.int_field("cant_ganadores") == len(data.expected_winners[agency]), client

    code, took = stack.stop("server")
    last = stack.events("server").last()
    assert last is not None and (code, last.action) == (0, "shutdown"), f"server: exit {code}, last event {last}"
    assert took < GRACE
    _assert_no_failures(stack, ["server", *clients])


def test_env_bet_then_sigterm_while_waiting_for_the_draw(stack: Stack):
    bet = {"NOMBRE": "María José", "APELLIDO": "Núñez", "DOCUMENTO": "30904465", "NACIMIENTO": "1999-03-17"}
    # Two agencies expected, one started: agency 1 sends its env bet, finishes and waits for a draw
    # that never comes; SIGTERM then finds it mid-conversation and the server with a client.
    stack.generate(2, env={"client1": {**bet, "NUMERO": "7574"}})
    stack.compose("up", "--detach", "--no-deps", "server", "client1")

    sent = stack.wait_event("client1", "apuesta_enviada", "success", timeout=60)
    stored = stack.events("server").first("apuesta_almacenada", "success")
    assert stored is not None
    assert (sent.get("dni"), sent.get("numero")) == (stored.get("dni"), stored.get("numero")) == ("30904465", "7574")
    stack.wait_event("client1", "finalizado", "success", timeout=30)

    for service in ("client1", "server"):
        code, took = stack.stop(service)
        last = stack.events(service).last()
        assert last is not None and (code, last.action, last.result) == (0, "shutdown", "success"), (
            f"{service}: exit {code}, last event {last}"
        )
        assert took < GRACE
    assert stack.events("server").count("sorteo", "success") == 0
    _assert_no_failures(stack, ["server", "client1"])
