"""The course's own procedure, replayed on a fresh copy of this repository (exercises 4-8).

What the course does to a submission, step by step: ``./generar-compose.sh docker-compose-dev.yaml N``,
``docker build`` of both Dockerfiles as ``server:latest`` / ``client:latest``, config files written,
agency files under ``.data/``, ``docker compose up -d``, the logs followed, ``docker compose down``.
Its line rules are strict: every ``action:`` line has a result of success, fail or in_progress, and a
happy run has no ``result: fail`` at all.

The procedure uses the course's fixed names (containers ``server``, ``client1``...; network
``testing_net`` on 172.25.125.0/24): a second harness run on this machine waits for them (``host_lock``),
and these tests refuse to start, rather than remove anything, when such containers exist anyway.
Exit codes come from the engine, never from compose's text.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import NotFound

from harness import data as datasets
from harness.assertions import (
    assert_full_batches,
    assert_no_failures,
    assert_one_draw_before_winners,
    assert_server_answered_winners,
    assert_winners,
)
from harness.compose import COURSE_SUBNET
from harness.engine import docker_client
from harness.hostlock import host_lock
from harness.logs import EventLog, assert_log_contract, parse_lines
from harness.standins import ensure_from_images

pytestmark = pytest.mark.scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = "docker-compose-dev.yaml"
COMMAND_TIMEOUT = 300
RUN_TIMEOUT = 120
GRACE = 5
COURSE_NAMES_WAIT = 900  # another run's whole course module, on a loaded machine


def fresh_copy(target: Path) -> Path:
    """What a clone of the working tree holds: the tracked files (as edited), nothing ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, check=True, capture_output=True, timeout=60
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def run(command: list[str], cwd: Path) -> str:
    completed = subprocess.run(command, cwd=cwd, check=False, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    assert completed.returncode == 0, f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}"
    return completed.stdout


@dataclass
class CourseRepo:
    root: Path
    engine: docker.DockerClient

    def compose(self, *arguments: str) -> str:
        return run(["docker", "compose", "-f", COMPOSE_FILE, *arguments], self.root)

    def up(self) -> None:
        """``docker compose up -d``, once the course's subnet is free (another stack may hold it)."""
        taken = [
            network.name
            for network in self.engine.networks.list()
            if any(config.get("Subnet") == COURSE_SUBNET for config in network.attrs["IPAM"]["Config"] or [])
        ]
        if taken:
            pytest.fail(
                f"the course's subnet {COURSE_SUBNET} is taken by network(s) {taken}: one course stack at a time"
            )
        self.compose("up", "-d")

    def generate(self, clients: int) -> None:
        run(["./generar-compose.sh", COMPOSE_FILE, str(clients)], self.root)

    def set_batch_size(self, max_amount: int) -> None:
        config = self.root / "client" / "config.yaml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("maxAmount: 100", f"maxAmount: {max_amount}"), encoding="utf-8")

    def remove_agency_files(self) -> None:
        for old in (self.root / ".data").glob("agency-*.csv"):
            old.unlink()

    def agency_files(self, agencies: int, bets: dict[int, int], **options: object) -> datasets.Dataset:
        self.remove_agency_files()
        return datasets.generate(self.root / ".data", agencies, bets, **options)  # type: ignore[arg-type]

    def exit_code(self, name: str, timeout: float = RUN_TIMEOUT) -> int:
        try:
            result = self.engine.containers.get(name).wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout, or the engine's error
            pytest.fail(f"container {name} did not exit within {timeout}s ({type(exc).__name__}): {self.tail()}")
        return int(result["StatusCode"])

    def tail(self) -> str:
        return "\n".join(self.compose("logs", "--no-color").splitlines()[-20:])

    def events(self) -> EventLog:
        events = parse_lines(self.compose("logs", "--no-color"))
        assert_log_contract(events)  # the course's parser: one broken line rejects the whole log
        return events

    def down(self) -> None:
        self.compose("down", "-t", str(GRACE), "--remove-orphans")


@pytest.fixture(scope="module")
def course_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CourseRepo]:
    engine = docker_client()
    root = fresh_copy(tmp_path_factory.mktemp("fresh-clone"))
    assert (root / ".data").is_dir(), ".data/ must exist in a fresh clone"
    ensure_from_images([root / "server" / "Dockerfile", root / "client" / "Dockerfile"])
    # The course's names and image tags are the machine's, not this run's: one course module at a time.
    with host_lock("course-layout", COURSE_NAMES_WAIT, "the course's container names and server:latest"):
        names = ["server", *(f"client{number}" for number in range(1, 11))]
        taken = [
            container.name
            for container in engine.containers.list(ignore_removed=True, all=True)
            if container.name in names
        ]
        if taken:
            pytest.fail(f"containers {taken} exist on this engine: the course's procedure needs those names free")
        run(["docker", "build", "-q", "-f", "./server/Dockerfile", "-t", "server:latest", "."], root)
        run(["docker", "build", "-q", "-f", "./client/Dockerfile", "-t", "client:latest", "."], root)
        repo = CourseRepo(root, engine)
        try:
            yield repo
        finally:
            if (root / COMPOSE_FILE).exists():
                repo.down()


@pytest.fixture
def course(course_repo: CourseRepo) -> Iterator[CourseRepo]:
    """Each test generates its compose file and starts from no containers; ``down`` also on failure."""
    yield course_repo
    course_repo.down()
    for name in ("server", "client1"):
        with pytest.raises(NotFound):
            course_repo.engine.containers.get(name)


def test_ej5_the_bet_of_the_environment(course: CourseRepo) -> None:
    course.generate(3)
    course.remove_agency_files()  # no agency file: each client sends the compose's bet
    course.up()
    assert [course.exit_code(f"client{n}") for n in (1, 2, 3)] == [0, 0, 0]
    events = course.events()
    for number in (1, 2, 3):
        sent = events.filter(service=f"client{number}", action="apuesta_enviada", result="success")
        assert [(e.get("dni"), e.get("numero")) for e in sent] == [("30904465", "7574")]
    stored = events.filter(service="server", action="apuesta_almacenada", result="success")
    assert [(e.get("dni"), e.get("numero")) for e in stored] == [("30904465", "7574")] * 3
    assert_no_failures(events)


@pytest.mark.parametrize("run_number", [1, 2], ids=["first-run", "second-run"])
def test_ej6_ej7_ej8_batches_and_winners(course: CourseRepo, run_number: int) -> None:
    """Twice in a row, with other agency files the second time: no earlier run's bets or winners."""
    course.generate(5)
    course.set_batch_size(7)
    bets = {1: 1, 2: 6, 3: 7, 4: 8, 5: 300 + run_number}  # 1, maxAmount +-1, several full batches
    data = course.agency_files(agencies=5, bets=bets, winners={1: 1, 2: 0, 3: 2, 4: 3, 5: run_number}, seed=run_number)
    course.up()
    assert [course.exit_code(f"client{n}") for n in range(1, 6)] == [0] * 5
    events = course.events()
    received = events.filter(service="server", action="apuesta_recibida", result="success")
    assert sum(int(e.get("cantidad") or 0) for e in received) == data.total_bets
    assert_full_batches(events, 7)
    assert_winners(events, data.expected_winners)
    assert_server_answered_winners(events, data.expected_winners)
    assert assert_one_draw_before_winners(events).int_field("ganadores") == data.total_winners
    assert_no_failures(events)


def test_ej4_sigterm_mid_run_and_a_server_alone(course: CourseRepo) -> None:
    course.generate(2)
    course.set_batch_size(1)
    course.agency_files(agencies=2, bets={1: 20_000, 2: 20_000})
    course.up()
    client1 = course.engine.containers.get("client1")
    deadline = time.monotonic() + RUN_TIMEOUT  # stop it mid-run: once its first batch was confirmed
    while b"action: lote_confirmado | result: success" not in client1.logs():
        assert time.monotonic() < deadline, f"client1 confirmed no batch within {RUN_TIMEOUT}s:\n{course.tail()}"
        client1.reload()
        assert client1.status == "running", f"client1 ended before its first confirmed batch:\n{course.tail()}"
        time.sleep(0.1)
    client1.stop(timeout=GRACE)
    assert course.exit_code("client1") == 0
    course.compose("stop", "-t", str(GRACE))  # the rest: the server with a client still mid-run
    assert course.exit_code("server") == 0 and course.exit_code("client2") == 0
    events = course.events()
    assert events.filter(service="client1", action="shutdown", result="success")[-1].get("reason") == "SIGTERM"
    assert_no_failures(events)
    course.down()

    course.generate(0)  # the server alone: starts, answers the probe, stops gracefully
    course.up()
    probe = subprocess.run(
        ["./validar-echo-server.sh"], cwd=course.root, check=False, capture_output=True, text=True, timeout=60
    )
    assert probe.stdout.strip() == "action: test_echo_server | result: success", probe.stderr
    course.engine.containers.get("server").stop(timeout=GRACE)
    assert course.exit_code("server") == 0
    events = course.events()
    assert events.count("sorteo") == 0
    assert_no_failures(events)
