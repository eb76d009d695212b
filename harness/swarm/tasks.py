"""The tasks of a deployed stack, by the names scenarios use (``server``, ``client3``...): the
newest task of each, its container (through the engine of the node it runs on), where it runs,
and which task states mean started, ended or never ran. Swarm has no task-state event stream:
whoever waits on a state polls these every ``TASK_POLL`` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from docker.errors import NotFound
from docker.models.containers import Container

from harness.cluster_errors import ClusterError
from harness.swarm import stack
from harness.swarm.engines import SwarmEngine

TASK_POLL = 0.2  # seconds between task listings
TERMINAL_STATES = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
STARTED_STATES = {"running"} | TERMINAL_STATES
NEVER_RAN_STATES = {"rejected", "orphaned"}

Task = dict[str, Any]  # a task as the manager's API returns it


class StackTasks:
    """The tasks of the stack of ``spec``; ``swarm()`` gives the swarm it is deployed on."""

    def __init__(self, spec: stack.StackSpec, swarm: Callable[[], SwarmEngine]) -> None:
        self.spec = spec
        self.project = spec.compose.project
        self.client_services = [f"client{i}" for i in range(1, spec.compose.clients + 1)]
        self._swarm = swarm
        self.service_ids: dict[str, str] = {}  # stack service -> its swarm service id, once deployed
        self._slots: dict[str, int] = {}  # task id -> slot (replicated clients)

    def full_name(self, service: str) -> str:
        return f"{self.project}_{service}"

    def stack_service_of(self, service: str) -> tuple[str, int | None]:
        """(stack service, task slot or None) for a service name as scenarios use it."""
        if self.spec.shape == stack.REPLICATED and service in self.client_services:
            return stack.REPLICATED_CLIENT, int(service.removeprefix("client"))
        if service not in stack.services(self.spec):
            raise ClusterError(f"no service {service!r} in cluster {self.project}")
        return service, None

    def stack_names(self, names: Iterable[str]) -> set[str]:
        return {self.stack_service_of(name)[0] for name in names}

    def listed(self, services: Iterable[str]) -> list[Task]:
        """Every task (also ended ones) of the stack ``services``."""
        ids = [self.service_ids[s] for s in services if s in self.service_ids]
        if not ids:
            return []
        return list(self._swarm().manager.api.tasks(filters={"service": ids}))

    def _name_of(self, task: Task, service: str) -> str:
        if service == stack.REPLICATED_CLIENT and self.spec.shape == stack.REPLICATED:
            return f"client{task.get('Slot', 0)}"
        return service

    def current(self, services: Iterable[str] | None = None) -> dict[str, Task]:
        """name (``server``, ``client3``...) -> its newest task, of the stack ``services`` (all)."""
        by_id = {service_id: service for service, service_id in self.service_ids.items()}
        current: dict[str, Task] = {}
        for task in self.listed(self.service_ids if services is None else services):
            name = self._name_of(task, by_id[task["ServiceID"]])
            self._slots[task["ID"]] = int(task.get("Slot", 0))
            if name not in current or task["CreatedAt"] > current[name]["CreatedAt"]:
                current[name] = task
        return current

    def task(self, service: str) -> Task | None:
        stack_service, _ = self.stack_service_of(service)
        return self.current([stack_service]).get(service)

    def slot(self, task_id: str, service: str) -> int:
        """The slot of task ``task_id`` of stack service ``service`` (0 if it is not known)."""
        if task_id not in self._slots:
            self.current([service])
        return self._slots.get(task_id, 0)

    def container(self, task: Task | None, service: str) -> Container:
        """The container of ``task``, from the engine of its node."""
        container_id = ((task or {}).get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        if not task or not container_id:
            raise ClusterError(f"{service} has no container (not started, or deferred)")
        try:
            return self._swarm().node_client(task.get("NodeID", "")).containers.get(container_id)
        except NotFound:
            raise ClusterError(f"{service}'s container {container_id[:12]} is gone") from None

    def containers(self) -> dict[str, Container]:
        """name -> the container of its newest task, for those that have one."""
        found = {}
        for service, task in self.current().items():
            with contextlib.suppress(ClusterError):
                found[service] = self.container(task, service)
        return found

    def placement(self) -> dict[str, str]:
        """name -> the node its newest task runs on (the ``lottery-harness.node`` label or host name)."""
        names = self._swarm().node_names()
        return {
            service: names.get(task.get("NodeID", ""), str(task.get("NodeID", "?")))
            for service, task in sorted(self.current().items())
        }
