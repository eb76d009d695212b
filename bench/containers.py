"""Helpers of the container parts: images once, labelled clusters, event times, memory sampling."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from harness.data import Dataset
from harness.engine import docker_client, sweep
from harness.images import ImageSet, build_image, ensure_images
from harness.labels import (
    BENCH_LABEL,
    BENCH_OWNER_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    RUN_LABEL,
    SWARM_STACK_LABEL,
)
from harness.logs import Event
from harness.swarm.cluster import SwarmCluster
from harness.swarm.host import alive
from harness.swarm.stack import REPLICATED_CLIENT

SERVER_ROOT: Path | None = None  # another tree whose server/ goes into the server image (A/B runs)


@functools.cache
def images() -> ImageSet:
    """Built (or found cached) once per process, before any timing."""
    found = ensure_images()
    if SERVER_ROOT is None:
        return found
    return ImageSet(server=build_image("server", found.base, root=SERVER_ROOT), client=found.client, base=found.base)


@contextlib.contextmanager
def bench_cluster(clients: int, data: Dataset | Path, workdir: Path, **options: Any) -> Iterator[Cluster]:
    """A cluster labelled as the benchmark's; removed on the way out, Ctrl-C included. ``options``
    go to ``Cluster`` (e.g. ``backend="swarm"``)."""
    labels = {BENCH_LABEL: "1", BENCH_OWNER_LABEL: str(os.getpid())}
    cluster = Cluster(clients=clients, data=data, images=images(), workdir=workdir, labels=labels, **options)
    try:
        yield cluster
    finally:
        try:
            cluster.down(grace=5)
        finally:
            with contextlib.suppress(Exception):
                sweep({RUN_LABEL: cluster.run_id})
            cluster.cleanup()


def sweep_all() -> None:
    """Whatever a crashed earlier benchmark left: the clusters whose benchmark process is gone. A
    benchmark still running (another suite's, another terminal's) keeps its clusters."""
    with contextlib.suppress(Exception):
        client = docker_client()
        labelled = {"label": [f"{BENCH_LABEL}=1"]}
        found = [
            *client.containers.list(all=True, sparse=True, filters=labelled),
            *client.networks.list(filters=labelled),
        ]
        owners = {
            (item.attrs.get("Labels") or {}).get(RUN_LABEL): (item.attrs.get("Labels") or {}).get(BENCH_OWNER_LABEL)
            for item in found
        }
        for run, owner in owners.items():
            if run and not _process_alive(owner):
                sweep({RUN_LABEL: run})


def _process_alive(pid: str | None) -> bool:
    """False for a cluster made before clusters carried their owner: a leftover."""
    return pid is not None and pid.isdigit() and alive(int(pid))


def event_epoch(event: Event | None) -> float | None:
    """The event's log timestamp (container-local = UTC, ms resolution) as a Unix time."""
    if event is None or event.time is None:
        return None
    return event.time.replace(tzinfo=UTC).timestamp()


# -- memory -----------------------------------------------------------------------------


def _cgroup_v1(container_id: str) -> Path | None:
    for base in ("/sys/fs/cgroup/memory/docker", "/sys/fs/cgroup/memory/system.slice"):
        for name in (container_id, f"docker-{container_id}.scope"):
            path = Path(base) / name
            if (path / "memory.usage_in_bytes").exists():
                return path
    return None


def _cgroup_v2(container_id: str) -> Path | None:
    for base in ("/sys/fs/cgroup/system.slice", "/sys/fs/cgroup/docker"):
        for name in (f"docker-{container_id}.scope", container_id):
            path = Path(base) / name
            if (path / "memory.current").exists():
                return path
    return None


def _stat(path: Path) -> dict[str, int]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.isdigit():
            values[key] = int(value)
    return values


def working_set(container_id: str) -> int | None:
    """What ``docker stats`` shows as MEM USAGE: usage minus inactive file cache, in bytes."""
    with contextlib.suppress(OSError, ValueError):
        v1 = _cgroup_v1(container_id)
        if v1 is not None:
            usage = int((v1 / "memory.usage_in_bytes").read_text())
            inactive = _stat(v1 / "memory.stat").get("total_inactive_file", 0)
            return max(0, usage - inactive)
        v2 = _cgroup_v2(container_id)
        if v2 is not None:
            usage = int((v2 / "memory.current").read_text())
            inactive = _stat(v2 / "memory.stat").get("inactive_file", 0)
            return max(0, usage - inactive)
    return None


SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"  # Swarm's own: <stack>_<service>
SWARM_TASK_LABEL = "com.docker.swarm.task.name"  # <stack>_<service>.<slot>.<task id> (replicated)


def service_of(labels: Mapping[str, str], project: str) -> str | None:
    """The cluster's name for a container (``server``, ``client7``) from its labels alone: compose's
    service label, or for a swarm task its service, with the task slot for the replicated
    ``client`` service (its tasks are agencies ``client1``..``clientN``)."""
    if COMPOSE_SERVICE_LABEL in labels:
        return labels[COMPOSE_SERVICE_LABEL]
    service = labels.get(SWARM_SERVICE_LABEL, "").removeprefix(f"{project}_")
    if not service:
        return None
    if service == REPLICATED_CLIENT:
        slot = labels.get(SWARM_TASK_LABEL, "").removeprefix(f"{project}_").split(".")
        return f"{service}{slot[1]}" if len(slot) >= 2 and slot[1].isdigit() else None
    return service


def container_ids(cluster: Cluster) -> dict[str, str]:
    """service -> container id, from one container listing per engine: no container is inspected
    (inspecting each of 500 swarm tasks through the nodes' engines, at load ~250, did not finish
    within the run, and the sampler then had nothing to sample)."""
    if isinstance(cluster, SwarmCluster):
        swarm = cluster.swarm
        engines = list({id(c): c for c in [swarm.manager, *swarm.node_clients.values()]}.values())
        selector = f"{SWARM_STACK_LABEL}={cluster.project}"
    else:
        engines = [docker_client()]
        selector = f"{COMPOSE_PROJECT_LABEL}={cluster.project}"
    found: dict[str, str] = {}
    for engine in engines:
        for summary in engine.api.containers(all=True, filters={"label": selector}):
            service = service_of(summary.get("Labels") or {}, cluster.project)
            if service is not None:
                found[service] = summary["Id"]
    return found


class MemorySampler(threading.Thread):
    """Samples each container's working set every ``interval`` s (cgroup files, else ``docker stats``)."""

    def __init__(self, cluster: Cluster, interval: float = 0.1, max_seconds: float = 900) -> None:
        super().__init__(name="bench-memory", daemon=True)
        self.cluster = cluster
        self.interval = interval
        self.max_seconds = max_seconds
        self.peaks: dict[str, int] = {}
        self.source = "cgroup"
        self._halt = threading.Event()

    def run(self) -> None:
        ids = container_ids(self.cluster)
        deadline = time.monotonic() + self.max_seconds
        if ids and working_set(next(iter(ids.values()))) is None:
            self.source = "docker stats"
            self._docker_stats(ids, deadline)
            return
        while not self._halt.is_set() and time.monotonic() < deadline:
            for service, container_id in ids.items():
                value = working_set(container_id)
                if value is not None and value > self.peaks.get(service, 0):
                    self.peaks[service] = value
            self._halt.wait(self.interval)

    def _docker_stats(self, ids: dict[str, str], deadline: float) -> None:
        server = self.cluster.container("server")
        with contextlib.suppress(Exception):
            for sample in server.stats(stream=True, decode=True):
                memory = sample.get("memory_stats", {})
                stats = memory.get("stats", {})
                usage = memory.get("usage", 0) - stats.get("total_inactive_file", stats.get("inactive_file", 0))
                self.peaks["server"] = max(self.peaks.get("server", 0), usage)
                if self._halt.is_set() or time.monotonic() > deadline:
                    return

    def stop(self) -> dict[str, int]:
        self._halt.set()
        self.join(timeout=5)
        return dict(self.peaks)
