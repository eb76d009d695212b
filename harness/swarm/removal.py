"""Removing a deployed stack, waited for (``docker stack rm`` returns before its tasks are gone,
and a network is only removable once they are)."""

from __future__ import annotations

import contextlib
import time

from docker.errors import APIError, NotFound

from harness.cluster_errors import ClusterError
from harness.labels import SWARM_STACK_LABEL
from harness.swarm.engines import SwarmEngine
from harness.swarm.tasks import TASK_POLL

REMOVE_TIMEOUT = 60  # seconds for a removed stack's tasks, networks and configs to go


def remove_stack(swarm: SwarmEngine, project: str, timeout: float = REMOVE_TIMEOUT) -> dict[str, int]:
    """``docker stack rm``, waited for: the services, then (once their tasks are gone) the
    networks and configs of the stack. Counts what went."""
    manager = swarm.manager
    selector = {"label": f"{SWARM_STACK_LABEL}={project}"}
    removed = {"services": 0, "networks": 0, "configs": 0}
    services = manager.services.list(filters=selector)
    for service in services:
        with contextlib.suppress(NotFound):
            service.remove()
            removed["services"] += 1
    deadline = time.monotonic() + timeout
    service_ids = {service.id for service in services}
    while service_ids & {task["ServiceID"] for task in manager.api.tasks()}:
        if time.monotonic() > deadline:
            raise ClusterError(f"the tasks of stack {project} were still there {timeout}s after its removal")
        time.sleep(TASK_POLL)
    for config in manager.configs.list(filters=selector):
        with contextlib.suppress(NotFound):
            config.remove()
            removed["configs"] += 1
    for network in manager.networks.list(filters=selector):
        while True:
            try:
                network.remove()
                removed["networks"] += 1
                break
            except NotFound:
                break
            except APIError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"network {network.name} of stack {project}: {exc}") from None
            time.sleep(TASK_POLL)
    return removed
