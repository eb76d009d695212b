"""One compose project on the local engine, as ``Cluster`` drives it: brought up from its compose
file (the compose command testcontainers' ``DockerCompose`` spells, run by ``run_compose`` with a
timeout; some services only created, to be started later), its containers by service, each
container's log followed into a ``LogHub`` from its start, and its removal through the engine API
(``docker compose down`` is several times slower for a hundred containers).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from docker.errors import APIError
from docker.models.containers import Container
from testcontainers.compose import DockerCompose

from harness import engine
from harness.cluster_events import LastLine
from harness.compose_command import COMPOSE_TIMEOUT, COMPOSE_TIMEOUT_PER_SERVICE, run_compose
from harness.labels import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL
from harness.logstream import ContainerLogReader, LogHub

READ_TO_END_TIMEOUT = 5.0  # seconds for an ended container's log to be read to its end


class ComposeStack:
    """The compose project ``project`` of the file ``workdir/compose.yaml``; logs go to ``hub``."""

    def __init__(self, project: str, workdir: Path, hub: LogHub) -> None:
        self.project = project
        self.workdir = workdir
        self.hub = hub
        self._readers: dict[str, ContainerLogReader] = {}

    def follow(self, service: str, container: Container) -> None:
        """Follow the log of ``service``'s (started) container, from where its previous run's ended."""
        since = self.hub.last_docker_timestamp(service)
        reader = ContainerLogReader(self.hub, service, container, since=since)
        self._readers[service] = reader
        reader.start()

    def read_to_end(self, service: str | None = None) -> None:
        """Wait (``READ_TO_END_TIMEOUT`` each) for the followed log of ended ``service`` (all) to end."""
        readers = self._readers.values() if service is None else filter(None, [self._readers.get(service)])
        for reader in list(readers):
            reader.join(timeout=READ_TO_END_TIMEOUT)

    def up(self, services: Sequence[str], deferred: Sequence[str]) -> dict[str, Container]:
        """Create every service and start those not ``deferred``, in the order of ``services`` when
        some are deferred (``up -d`` otherwise), each log followed; the started containers."""
        # testcontainers spells the compose command; ``run_compose`` runs it with a timeout (which
        # DockerCompose.start has not) and raises with compose's own output.
        command = DockerCompose(context=str(self.workdir), compose_file_name="compose.yaml").docker_compose_command()
        timeout = COMPOSE_TIMEOUT + COMPOSE_TIMEOUT_PER_SERVICE * len(services)
        if not deferred:
            run_compose([*command, "up", "--detach"], self.workdir, timeout)
            started = self.containers()
        else:  # created, not started
            run_compose([*command, "up", "--no-start"], self.workdir, timeout)
            containers = self.containers()
            started = {}
            for service in services:
                if service not in deferred:
                    containers[service].start()
                    started[service] = containers[service]
                    self.follow(service, containers[service])
            return started
        for service, container in started.items():
            self.follow(service, container)
        return started

    def start(self, containers: Mapping[str, Container], previous_run: Callable[[str, Container], None]) -> None:
        """Start (again) ``containers`` by service, all at once; ``previous_run(service, container)``
        first, with its previous run's log read to the end; each new log followed."""

        def start_one(service: str) -> None:
            self.read_to_end(service)
            previous_run(service, containers[service])
            containers[service].start()
            self.follow(service, containers[service])

        with ThreadPoolExecutor(max_workers=min(engine.STOP_THREADS, len(containers) or 1)) as pool:
            list(pool.map(start_one, containers))

    def last_lines(self, besides: Iterable[str]) -> dict[str, LastLine]:
        """service -> a reader of its log's last line, for each container running or paused (but
        ``besides``) whose log is still followed; from one listing."""
        client = engine.docker_client()
        selector = engine.label_selector({COMPOSE_PROJECT_LABEL: self.project})
        found: dict[str, LastLine] = {}
        for summary in client.api.containers(filters={"label": selector, "status": ["running", "paused"]}):
            service = (summary.get("Labels") or {}).get(COMPOSE_SERVICE_LABEL, "")
            reader = self._readers.get(service)
            if service not in besides and reader is not None and reader.is_alive():
                found[service] = functools.partial(
                    client.api.logs, summary["Id"], stdout=True, stderr=True, timestamps=True, tail=1
                )
        return found

    def containers(self) -> dict[str, Container]:
        """service -> container, as the engine sees them now (one listing, the inspections in parallel)."""
        found = engine.inspect_all({COMPOSE_PROJECT_LABEL: self.project})
        return {c.labels[COMPOSE_SERVICE_LABEL]: c for c in found}

    def container(self, service: str) -> Container | None:
        found = engine.inspect_all({COMPOSE_PROJECT_LABEL: self.project, COMPOSE_SERVICE_LABEL: service})
        return found[0] if found else None

    def stop_and_remove(self, grace: float, stopped: Callable[[str, Container], None]) -> None:
        """Each container stopped (``engine.stop_quietly``), ``stopped(service, container)``, then
        removed at once, all in parallel; then the rest of what ``docker compose down --volumes``
        removes (networks, volumes). Through the API: a fraction of compose's time."""
        containers = self.containers()

        def stop_one(service: str) -> None:
            engine.stop_quietly(containers[service], grace)
            stopped(service, containers[service])
            with contextlib.suppress(APIError):  # the sweep below tries again
                engine.remove_container(containers[service].id)

        with ThreadPoolExecutor(max_workers=min(engine.STOP_THREADS, len(containers) or 1)) as pool:
            list(pool.map(stop_one, containers))
        self.read_to_end()
        engine.sweep({COMPOSE_PROJECT_LABEL: self.project})
