"""A running cluster: the server and N agencies, driven through compose and the docker SDK.

``DockerCompose`` (testcontainers) brings the stack up and down; everything that
needs a grace period, a signal or a live log goes through the docker SDK.
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from testcontainers.compose import DockerCompose

from harness import compose
from harness.data import Dataset
from harness.engine import docker_client
from harness.images import REPO_ROOT, ImageSet
from harness.logs import Event, EventLog
from harness.logstream import ContainerLogReader, EventPredicate, LogHub

LABEL = "lottery-harness"
RUN_LABEL = "lottery-harness.run"
SESSION_LABEL = "lottery-harness.session"
COMPOSE_TIMEOUT = 180
SERVER = "server"


class ClusterError(RuntimeError):
    pass


class WaitTimeout(ClusterError, TimeoutError):
    pass


class _Compose(DockerCompose):
    """testcontainers' DockerCompose, with a timeout on every compose command."""

    def _run_command(self, cmd: str | list[str], context: str | None = None) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                cmd,
                capture_output=True,
                check=True,
                cwd=context or str(self.context),
                timeout=COMPOSE_TIMEOUT,
            )
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()
            raise ClusterError(f"`{' '.join(exc.cmd)}` failed (exit {exc.returncode}): {detail}") from None
        except subprocess.TimeoutExpired:
            raise ClusterError(f"`{' '.join(cmd)}` did not finish within {COMPOSE_TIMEOUT}s") from None


@dataclass(frozen=True)
class StoredBet:
    agency: int
    first_name: str
    last_name: str
    document: str
    birthdate: str
    number: int


def new_run_id() -> str:
    return secrets.token_hex(4)


class Cluster:
    """The server and ``clients`` agencies on a network of their own.

    Use as a context manager (``with Cluster(...) as c:``): ``up()`` on enter,
    ``down()`` on exit, also when the block raises. Logs stay readable after
    ``down()``; ``cleanup()`` removes the working directory.
    """

    def __init__(
        self,
        *,
        clients: int,
        data: Dataset | Path,
        images: ImageSet,
        server_env: Mapping[str, str] | None = None,
        client_env: Mapping[str, str] | None = None,
        per_client_env: Mapping[int, Mapping[str, str]] | None = None,
        server_config: Path | None = None,
        client_config: Path | None = None,
        workdir: Path | None = None,
        labels: Mapping[str, str] | None = None,
        run_id: str | None = None,
        keep_on_failure: bool = False,
    ) -> None:
        self.run_id = run_id or new_run_id()
        self.project = f"lottery-{self.run_id}"
        self.clients = clients
        self.data = data
        self.images = images
        self.keep_on_failure = keep_on_failure
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"{self.project}-"))
        self.storage_dir = self.workdir / "storage"
        self.compose_file = self.workdir / "compose.yaml"
        data_dir = data.directory if isinstance(data, Dataset) else Path(data)
        self.spec = compose.ComposeSpec(
            project=self.project,
            clients=clients,
            server_image=images.server,
            client_image=images.client,
            data_dir=data_dir.resolve(),
            storage_dir=self.storage_dir.resolve(),
            server_config=(server_config or REPO_ROOT / "server" / "config.ini").resolve(),
            client_config=(client_config or REPO_ROOT / "client" / "config.yaml").resolve(),
            labels={LABEL: "1", RUN_LABEL: self.run_id, **(labels or {})},
            server_env=dict(server_env or {}),
            client_env=dict(client_env or {}),
            per_client_env={i: dict(env) for i, env in (per_client_env or {}).items()},
            user=None if os.geteuid() == 0 else f"{os.getuid()}:{os.getgid()}",
        )
        self.hub = LogHub()
        self._readers: dict[str, ContainerLogReader] = {}
        self._compose: _Compose | None = None
        self._started = False
        self.kept = False

    # -- lifecycle ---------------------------------------------------------------------

    def render(self) -> Path:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        return compose.write(self.spec, self.compose_file)

    def up(self) -> Cluster:
        self.render()
        self._compose = _Compose(context=str(self.workdir), compose_file_name="compose.yaml", wait=False)
        self._started = True
        self._compose.start()
        for service, container in self.containers().items():
            self._attach(service, container)
        return self

    def down(self, grace: float = 10) -> None:
        """Stop every container within ``grace`` seconds (SIGTERM, then SIGKILL), then remove all."""
        if not self._started:
            return
        self._started = False
        containers = list(self.containers().values())
        with ThreadPoolExecutor(max_workers=min(16, len(containers) or 1)) as pool:
            list(pool.map(lambda c: _stop_quietly(c, grace), containers))
        for reader in self._readers.values():
            reader.join(timeout=5)
        try:
            if self._compose is not None:
                self._compose.stop(down=True)
        finally:
            sweep({RUN_LABEL: self.run_id})

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        try:
            return self.up()
        except BaseException:
            self.down(grace=0)
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and self.keep_on_failure and not issubclass(exc_type, KeyboardInterrupt):
            self.kept = True
            return
        self.down()

    # -- containers --------------------------------------------------------------------

    def containers(self) -> dict[str, Container]:
        """service -> container, as the engine sees them now (one API call)."""
        found = docker_client().containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {c.labels["com.docker.compose.service"]: c for c in found}

    def container(self, service: str) -> Container:
        try:
            return self.containers()[service]
        except KeyError:
            raise ClusterError(f"no service {service!r} in cluster {self.project}") from None

    @property
    def client_services(self) -> list[str]:
        return [f"client{i}" for i in range(1, self.clients + 1)]

    def _attach(self, service: str, container: Container) -> None:
        since = self.hub.last_docker_timestamp(service)
        reader = ContainerLogReader(self.hub, service, container, since=since)
        self._readers[service] = reader
        reader.start()

    def status(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return str(container.status)

    # -- events ------------------------------------------------------------------------

    def events(self, service: str | None = None) -> EventLog:
        """The cluster's events: the live log (it grows), or a snapshot of one service's."""
        return self.hub.log if service is None else self.hub.log.filter(service=service)

    def stream(self, timeout: float = 30, from_start: bool = True) -> Iterator[Event]:
        """Live events as they arrive; ends after ``timeout`` seconds without one."""
        return self.hub.follow(timeout, start=0 if from_start else len(self.hub))

    def wait_for(self, predicate: EventPredicate, timeout: float, description: str = "") -> Event:
        """The first event (since the cluster started) that matches ``predicate``."""
        event = self.hub.wait_for(predicate, timeout)
        if event is None:
            raise WaitTimeout(self._explain(f"no event {description or predicate} within {timeout}s"))
        return event

    def _explain(self, what: str) -> str:
        states = []
        for service, container in sorted(self.containers().items()):
            state = container.attrs.get("State", {})
            states.append(f"{service}={state.get('Status')}(exit {state.get('ExitCode')})")
        tail = "\n".join(self.hub.tail(5))
        return f"{what}\ncontainers: {', '.join(states)}\nlast log lines:\n{tail}"

    # -- exits -------------------------------------------------------------------------

    def wait_exit(self, service: str, timeout: float) -> int:
        """The exit code of ``service``, waiting at most ``timeout`` seconds for it to end."""
        container = self.container(service)
        try:
            result = container.wait(timeout=max(timeout, 0.01))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            raise WaitTimeout(self._explain(f"{service} did not exit within {timeout}s")) from None
        reader = self._readers.get(service)
        if reader is not None:
            reader.join(timeout=5)
        return int(result["StatusCode"])

    def wait_exit_all_clients(self, timeout: float, expect: int | None = 0) -> dict[str, int]:
        """Wait for every client to end; with ``expect``, any other exit code is an error."""
        deadline = time.monotonic() + timeout
        codes = {s: self.wait_exit(s, deadline - time.monotonic()) for s in self.client_services}
        unexpected = {s: code for s, code in codes.items() if expect is not None and code != expect}
        if unexpected:
            tails = "\n".join(line for s in unexpected for line in self.hub.tail(8, s))
            raise ClusterError(f"clients exited with {unexpected}, expected {expect}:\n{tails}")
        return codes

    # -- signals and faults ------------------------------------------------------------

    def signal(self, service: str, signal: str = "SIGTERM") -> None:
        self.container(service).kill(signal=signal)

    def stop(self, service: str, grace: float = 10) -> None:
        self.container(service).stop(timeout=grace)

    def kill(self, service: str) -> None:
        self.container(service).kill(signal="SIGKILL")

    def start(self, service: str) -> None:
        """Start a stopped service again; its log is followed on from where it ended."""
        container = self.container(service)
        previous = self._readers.get(service)
        if previous is not None:
            previous.join(timeout=5)
        container.start()
        self._attach(service, container)

    def restart(self, service: str, grace: float = 10) -> None:
        self.stop(service, grace)
        self.start(service)

    def pause(self, service: str) -> None:
        self.container(service).pause()

    def unpause(self, service: str) -> None:
        self.container(service).unpause()

    def _network(self) -> Any:
        networks = docker_client().networks.list(filters={"label": f"{RUN_LABEL}={self.run_id}"})
        if len(networks) != 1:
            raise ClusterError(f"expected one network labelled {RUN_LABEL}={self.run_id}, found {len(networks)}")
        return networks[0]

    def disconnect(self, service: str) -> None:
        self._network().disconnect(self.container(service), force=True)

    def reconnect(self, service: str) -> None:
        self._network().connect(self.container(service), aliases=[service])

    # -- results -----------------------------------------------------------------------

    @property
    def store_path(self) -> Path:
        return self.storage_dir / "bets.csv"

    def read_store(self) -> list[StoredBet]:
        """Every row of the server's bets.csv, in order."""
        if not self.store_path.exists():
            return []
        with self.store_path.open(newline="", encoding="utf-8") as file:
            return [
                StoredBet(int(agency), first, last, document, birthdate, int(number))
                for agency, first, last, document, birthdate, number in csv.reader(file)
            ]

    def save_artifacts(self, directory: Path) -> Path:
        """Each service's log, the compose file and the stored bets, under ``directory/project``."""
        target = Path(directory) / self.project
        target.mkdir(parents=True, exist_ok=True)
        for service in self.hub.services():
            (target / f"{service}.log").write_text("\n".join(self.hub.lines(service)) + "\n", encoding="utf-8")
        if self.compose_file.exists():
            shutil.copy2(self.compose_file, target / "compose.yaml")
        if self.storage_dir.exists():
            shutil.copytree(self.storage_dir, target / "storage", dirs_exist_ok=True)
        return target

    def how_to_reach(self) -> str:
        return (
            f"cluster {self.project} left running (compose file {self.compose_file}).\n"
            f"  logs:  docker compose -f {self.compose_file} logs -f\n"
            f"  down:  harness down --run {self.run_id}"
        )


def _stop_quietly(container: Container, grace: float) -> None:
    try:
        container.reload()
        if container.status in ("running", "paused", "restarting"):
            if container.status == "paused":
                container.unpause()
            container.stop(timeout=int(grace))
    except (NotFound, APIError):
        pass


def sweep(labels: Mapping[str, str]) -> dict[str, int]:
    """Remove every container, network and volume carrying all ``labels``; counts what went."""
    client = docker_client()
    selector = [f"{key}={value}" for key, value in labels.items()]
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    for container in client.containers.list(all=True, filters={"label": selector}):
        try:
            container.remove(force=True)
            removed["containers"] += 1
        except NotFound:
            pass
    for network in client.networks.list(filters={"label": selector}):
        try:
            network.remove()
            removed["networks"] += 1
        except NotFound:
            pass
    for volume in client.volumes.list(filters={"label": selector}):
        try:
            volume.remove(force=True)
            removed["volumes"] += 1
        except NotFound:
            pass
    return removed


def stop_run(run_id: str, grace: float = 10) -> dict[str, int]:
    """Take down a cluster known only by its run id (e.g. one `harness up` left running)."""
    client = docker_client()
    containers = client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    with ThreadPoolExecutor(max_workers=min(16, len(containers) or 1)) as pool:
        list(pool.map(lambda c: _stop_quietly(c, grace), containers))
    return sweep({RUN_LABEL: run_id})
