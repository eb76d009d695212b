"""A swarm stack's logs into the cluster's ``LogHub``: each service's log followed through the
manager's service-log API (so tasks on any node are read), and each ended task's log read to its
end from its container. A line both bring is delivered once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from docker.errors import APIError, NotFound

from harness.engine import API_THREADS
from harness.logstream import LogHub
from harness.swarm import stack
from harness.swarm.engines import SwarmEngine
from harness.swarm.tasks import StackTasks, Task

TASK_ID_DETAIL = "com.docker.swarm.task.id"


def parse_details(text: str) -> dict[str, str]:
    """The ``key=value,...`` details a service-log line carries (``details=True``)."""
    details = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        details[key] = value
    return details


class ServiceLogs:
    """The log lines of the services of ``tasks`` into ``hub``."""

    def __init__(self, hub: LogHub, tasks: StackTasks, swarm: Callable[[], SwarmEngine]) -> None:
        self.hub = hub
        self.tasks = tasks
        self._swarm = swarm
        self._delivered: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._readers: dict[str, ServiceLogReader] = {}
        self.following = False  # False: a follower whose stream ends says nothing (the stack is going)

    def follow(self) -> None:
        """Follow the log of every service of the stack, each in a thread of its own."""
        self.following = True
        for service in self.tasks.service_ids:
            reader = ServiceLogReader(self, service)
            self._readers[service] = reader
            reader.start()

    def service_log(self, service: str, follow: bool) -> Iterable[bytes]:
        """The lines of stack service ``service``'s log, as the manager sends them."""
        stream = self._swarm().manager.api.service_logs(
            self.tasks.service_ids[service], details=True, follow=follow, stdout=True, stderr=True, timestamps=True
        )
        pending = b""
        for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    def deliver(self, service: str, raw: bytes) -> None:
        """One ``TIMESTAMP DETAILS MESSAGE`` line of the service log into the hub."""
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        timestamp, _, rest = line.partition(" ")
        details_text, _, message = rest.partition(" ")
        task_id = parse_details(details_text).get(TASK_ID_DETAIL, "")
        name = service
        if service == stack.REPLICATED_CLIENT and self.tasks.spec.shape == stack.REPLICATED:
            name = f"client{self.tasks.slot(task_id, service)}"
        self._add_line(name, task_id, timestamp, message)

    def _add_line(self, name: str, task_id: str, timestamp: str, message: str) -> None:
        """A task's line into the hub, once: the follower and a catch-up read may both bring it."""
        key = (task_id, timestamp, message)
        with self._lock:
            if key in self._delivered:
                return
            self._delivered.add(key)
            self.hub.add_line(name, f"{timestamp} {message}")

    def catch_up(self, tasks: Mapping[str, Task]) -> None:
        """Each task's log read from its container, through its node's engine: every line it has
        logged so far is in the hub (all of them, once it ended). (A non-follow read of the service
        log would do it through the manager, but it hangs here once a service has ~100 ended tasks.)"""

        def read(item: tuple[str, Task]) -> None:
            name, task = item
            container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if not container_id:
                return
            client = self._swarm().node_client(task.get("NodeID", ""))
            try:
                data = client.api.logs(container_id, stdout=True, stderr=True, timestamps=True)
            except (NotFound, APIError):
                return
            for raw in data.split(b"\n"):
                if raw:
                    timestamp, _, message = raw.decode("utf-8", errors="replace").rstrip("\r").partition(" ")
                    self._add_line(name, task["ID"], timestamp, message)

        if tasks:
            with ThreadPoolExecutor(max_workers=min(API_THREADS, len(tasks))) as pool:
                list(pool.map(read, tasks.items()))


class ServiceLogReader(threading.Thread):
    """Follows one service's log (all its tasks, on any node) through the manager's API."""

    def __init__(self, logs: ServiceLogs, service: str) -> None:
        super().__init__(name=f"swarm-logs-{service}", daemon=True)
        self._logs = logs
        self._service = service

    def run(self) -> None:
        try:
            for raw in self._logs.service_log(self._service, follow=True):
                self._logs.deliver(self._service, raw)
        except Exception as exc:  # the service was removed or the manager went away
            if self._logs.following:
                self._logs.hub.add_line(self._service, f"- harness: service log stream ended: {exc}")
