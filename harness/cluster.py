"""``Cluster``, the scenario-facing API of a run: the server and N agencies, up and down, their
services, signals, network faults, waits, events and results.

The rooms it is built from: ``harness.compose_stack`` brings the compose project up (testcontainers'
``DockerCompose``; it does not bring it down) and follows each container's log; ``harness.engine``
holds the plain engine operations (by label or id, no domain) behind teardown (stop with a grace
period, then remove everything labelled), signals and networks, through the docker SDK: several
times faster than compose for a hundred containers. ``harness.cluster_events`` is the events side
(read, wait, follow, annotate), ``harness.exits`` says what an agency's exit means.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from harness import compose, engine
from harness.backends import COMPOSE, SWARM, check_backend
from harness.cluster_errors import ClusterError, WaitTimeout
from harness.cluster_events import ClusterEvents
from harness.compose_command import ComposeCommandError
from harness.compose_stack import ComposeStack
from harness.data import Dataset
from harness.exits import unexpected_exit
from harness.faults import FAULT_ACTION, Fault, Faults, inject_after
from harness.images import REPO_ROOT, ImageSet
from harness.labels import LABEL, RUN_LABEL
from harness.lifecycle import ExitRecord, Lifecycle
from harness.logs import assert_log_contract, domain_state
from harness.logstream import EventPredicate, LogHub
from harness.store import STORE_FILE, StoredBet, read_store
from logline import SUCCESS
from logline.actions import SIGNAL


def new_run_id() -> str:
    return secrets.token_hex(4)


def project_name(run_id: str) -> str:
    """The compose project of the cluster ``run_id``."""
    return f"lottery-{run_id}"


class Cluster(ClusterEvents):
    """The server and ``clients`` agencies on a network of their own.

    Use as a context manager (``with Cluster(...) as c:``): ``up()`` on enter,
    ``down()`` on exit, also when the block raises. Logs stay readable after
    ``down()``; ``cleanup()`` removes the working directory.

    ``deferred`` services are created by ``up()`` but not started: ``start(*services)`` runs
    them when the scenario says so (e.g. agencies that join after a signal or a draw).

    ``compose_file``: a ready compose file used instead of rendering one (e.g. a student's,
    made safe by harness.check.safecompose): its project must be ``project_name(run_id)``, its
    services ``server`` and ``client1..N``, its containers and network labelled with the run.

    ``backend="swarm"`` gives a ``harness.swarm.cluster.SwarmCluster`` (same methods, on Docker
    Swarm; it also takes ``shape=`` and ``swarm=``); the default is ``compose``.
    """

    backend = COMPOSE

    def __new__(cls, *args: Any, backend: str = COMPOSE, **options: Any) -> Cluster:
        if cls is Cluster and check_backend(backend) == SWARM:
            from harness.swarm.cluster import SwarmCluster

            return super().__new__(SwarmCluster)
        return super().__new__(cls)

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
        deferred: Sequence[str] = (),
        compose_file: Path | None = None,
        backend: str = COMPOSE,
    ) -> None:
        self.run_id = run_id or new_run_id()
        self.project = project_name(self.run_id)
        self.ready_compose_file = compose_file
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
        unknown = sorted(set(deferred) - set(compose.services(self.spec)))
        if unknown:
            raise ValueError(f"deferred names services {unknown} that the cluster does not have")
        self.deferred = tuple(deferred)  # created by up() but left stopped: start() them later
        self.hub = LogHub()
        self.faults = Faults()  # every fault injected; the active ones are healed by down()
        self.lifecycle = Lifecycle()  # exit records and up/down times, for the timeline report
        self.failure: tuple[float, BaseException] | None = None  # when and what left the ``with`` block
        self._compose = ComposeStack(self.project, self.workdir, self.hub)
        self._started = False
        self.kept = False

    # -- lifecycle ---------------------------------------------------------------------

    def render(self) -> Path:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.ready_compose_file is not None:
            if self.ready_compose_file.resolve() != self.compose_file.resolve():
                shutil.copyfile(self.ready_compose_file, self.compose_file)
            return self.compose_file
        return compose.write(self.spec, self.compose_file)

    def up(self) -> Cluster:
        """Start the stack; ``deferred`` services are only created (``start()`` runs them later)."""
        self.lifecycle.begin("up")
        self.render()
        self._started = True
        try:  # the server first, as compose would
            self._compose.up(compose.services(self.spec), self.deferred)
        except ComposeCommandError as exc:
            raise ClusterError(str(exc)) from None
        self.lifecycle.end("up")
        return self

    def down(self, grace: float = 10) -> None:
        """Stop every container within ``grace`` seconds (SIGTERM, then SIGKILL), then remove all,
        also anything else labelled with the run."""
        if not self._started:
            return
        self._started = False
        self.lifecycle.begin("down")
        for error in self.faults.teardown():
            self.note(FAULT_ACTION, "fail", phase="teardown", error=error)
        try:
            self._compose.stop_and_remove(grace, self._ended)
        finally:
            engine.sweep({RUN_LABEL: self.run_id})
            self.lifecycle.end("down")

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
        if exc is not None:
            self.failure = (time.time(), exc)
        if exc_type is not None and self.keep_on_failure and not issubclass(exc_type, KeyboardInterrupt):
            self.kept = True
            return
        self.down()
        if exc_type is None:
            assert_log_contract(self.events())  # a line the course's parser rejects fails the run

    # -- containers --------------------------------------------------------------------

    def containers(self) -> dict[str, Container]:
        """service -> container, as the engine sees them now."""
        return self._compose.containers()

    def container(self, service: str) -> Container:
        found = self._compose.container(service)
        if found is None:
            raise ClusterError(f"no service {service!r} in cluster {self.project}")
        return found

    @property
    def client_services(self) -> list[str]:
        return [f"client{i}" for i in range(1, self.clients + 1)]

    def _record_run(self, service: str, container: Container) -> None:
        """Keep what ``container``'s last inspection says of its run (started, ended, exit code)."""
        self.lifecycle.record(service, container.attrs.get("State"))

    def _ended(self, service: str, container: Container) -> None:
        """``service`` has ended: its exit recorded, its log read to the end."""
        with contextlib.suppress(NotFound, APIError, requests.exceptions.RequestException):
            container.reload()
            self._record_run(service, container)
        self._compose.read_to_end(service)

    def exit_records(self) -> list[ExitRecord]:
        """Each container run so far: start, end and exit code (the running ones inspected now)."""
        if self._started:
            with contextlib.suppress(APIError, requests.exceptions.RequestException):
                for service, container in self.containers().items():
                    self._record_run(service, container)
        return self.lifecycle.exits()

    def status(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        return str(container.status)

    # -- events (the rest: harness.cluster_events) ------------------------------

    def inject(
        self, fault: Fault, *, after: EventPredicate | None = None, timeout: float = 60, since: int = 0
    ) -> Fault:
        """Inject ``fault`` (see harness.faults), once an event matches ``after`` if given. The
        fault is healed by ``fault.undo()``, by leaving its ``with`` block, or at ``down()``."""
        return inject_after(self, fault, after, timeout, since)

    def _explain(self, what: str) -> str:
        states = []
        for service, container in sorted(self.containers().items()):
            state = container.attrs.get("State", {})
            states.append(f"{service}={state.get('Status')}(exit {state.get('ExitCode')})")
        tail = "\n".join(self.hub.tail(5))
        lottery = domain_state(self.events())
        return f"{what}\nlottery: {lottery}\ncontainers: {', '.join(states)}\nlast log lines:\n{tail}"

    # -- exits -------------------------------------------------------------------------

    def wait_exit(self, service: str, timeout: float) -> int:
        """The exit code of ``service``, waiting at most ``timeout`` seconds for it to end. Like
        ``wait_exit_all_clients``, it returns with every line logged before the exit in the hub: the
        ended container's and, as far as the engine had them, the running ones' (at most
        ``LOG_REACH_TIMEOUT`` s more; a log that does not arrive raises ``WaitTimeout`` naming it)."""
        return self._wait_containers({service: self.container(service)}, timeout, expect=None)[service]

    def wait_exit_all_clients(self, timeout: float, expect: int | None = 0) -> dict[str, int]:
        """Wait for every client to end; with ``expect``, any other exit code is an error, raised as
        soon as that client ends: an agency that dies never sends FINISHED, so the draw cannot
        happen and the other clients would wait for their winners until the timeout."""
        containers = self.containers()
        missing = [service for service in self.client_services if service not in containers]
        if missing:
            raise ClusterError(f"no service {missing[0]!r} in cluster {self.project}")
        return self._wait_containers(
            {service: containers[service] for service in self.client_services}, timeout, expect
        )

    def _wait_containers(self, containers: dict[str, Container], timeout: float, expect: int | None) -> dict[str, int]:
        for service, container in containers.items():
            if container.status == "created":  # the engine would answer at once, with exit code 0
                raise ClusterError(f"{service} was never started (deferred?): it has no exit code to wait for")
        codes: dict[str, int] = {}
        for service, code in engine.wait_exits(containers, timeout, then=self._ended):
            if code is None:
                pending = [s for s in containers if s not in codes]
                raise WaitTimeout(self._explain(f"{', '.join(pending)} did not exit within {timeout}s"))
            codes[service] = code
            if expect is not None and code != expect:
                waiting = [s for s in containers if s not in codes]
                tail = self.hub.tail(8, service)
                raise ClusterError(unexpected_exit(service, code, expect, self.events(), waiting, tail))
        with contextlib.suppress(APIError, requests.exceptions.RequestException):
            self._wait_logs_reached_hub(self._compose.last_lines(besides=containers))
        return codes

    # -- signals and faults ------------------------------------------------------------

    def signal(self, service: str, signal: str = "SIGTERM") -> None:
        container = self.container(service)
        sent = datetime.now(UTC)
        container.kill(signal=signal)
        self.note(SIGNAL, SUCCESS, at=sent, service=service, signal=signal)

    def stop(self, service: str, grace: float = 10) -> None:
        self.container(service).stop(timeout=grace)

    def kill(self, service: str) -> None:
        self.signal(service, "SIGKILL")

    def start(self, *services: str) -> None:
        """Start stopped (or ``deferred``) services, several at once; each log is followed on
        from where it ended."""
        containers = self.containers()
        missing = sorted(set(services) - set(containers))
        if missing:
            raise ClusterError(f"no services {missing} in cluster {self.project}")

        self._compose.start({service: containers[service] for service in services}, self._record_run)

    def restart(self, service: str, grace: float = 10) -> None:
        self.stop(service, grace)
        self.start(service)

    def pause(self, service: str) -> None:
        self.container(service).pause()

    def unpause(self, service: str) -> None:
        self.container(service).unpause()

    def _network(self) -> Any:
        networks = engine.networks({RUN_LABEL: self.run_id})
        if len(networks) != 1:
            raise ClusterError(f"expected one network labelled {RUN_LABEL}={self.run_id}, found {len(networks)}")
        return networks[0]

    def address(self, service: str) -> str:
        """The service's IP address on the cluster's network (the host reaches it directly on Linux)."""
        network = self._network()
        address = engine.address_on(self.container(service), network.id)
        if address is None:
            raise ClusterError(f"{service} has no address on {network.name}")
        return address

    def disconnect(self, service: str) -> None:
        self._network().disconnect(self.container(service), force=True)

    def reconnect(self, service: str) -> None:
        self._network().connect(self.container(service), aliases=[service])

    # -- results -----------------------------------------------------------------------

    @property
    def store_path(self) -> Path:
        return self.storage_dir / STORE_FILE

    def read_store(self) -> list[StoredBet]:
        """Every row of the server's bets.csv, in order."""
        return read_store(self.store_path)

    def save_artifacts(self, directory: Path, logs: bool = True) -> Path:
        """Each service's log (unless ``logs`` is false: a report beside them wrote them), the compose
        file and the stored bets, under ``directory/project``."""
        target = Path(directory) / self.project
        target.mkdir(parents=True, exist_ok=True)
        for service in self.hub.services() if logs else ():
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


def stop_run(run_id: str, grace: float = 10) -> dict[str, int]:
    """Take down a cluster known only by its run id (e.g. one `harness up` left running)."""
    return engine.stop_and_sweep({RUN_LABEL: run_id}, grace)
