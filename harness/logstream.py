"""One reader per container log, fanned out to every wait and assertion.

Each container's log is streamed once through the docker SDK (``follow=True``,
``timestamps=True``); lines are parsed into events as they arrive and kept in a
``LogHub`` that waits can block on. Nothing re-reads whole logs on each poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from docker.models.containers import Container

from harness.logs import Event, EventLog

EventPredicate = Callable[[Event], bool]


@dataclass
class _ServiceLog:
    lines: list[str] = field(default_factory=list)
    last_docker_timestamp: str = ""


class LogHub:
    """Every line of a cluster, parsed once into one shared ``EventLog``; waits block on it."""

    def __init__(self) -> None:
        self.log = EventLog()
        self._condition = threading.Condition()
        self._services: dict[str, _ServiceLog] = {}
        self._arrivals: list[str] = []  # the docker timestamp of each line, by its ``seq`` in ``log``

    def add_line(self, service: str, docker_line: str) -> None:
        docker_timestamp, _, line = docker_line.partition(" ")
        with self._condition:
            self.log.feed(line, service)
            self._arrivals.append(docker_timestamp)
            log = self._services.setdefault(service, _ServiceLog())
            log.lines.append(line)
            # the latest engine stamp: not the harness's own lines ("- harness: ..."), nor a late
            # line of an older run
            if docker_timestamp[:1].isdigit() and sortable_timestamp(docker_timestamp) > sortable_timestamp(
                log.last_docker_timestamp
            ):
                log.last_docker_timestamp = docker_timestamp
            self._condition.notify_all()

    def lines(self, service: str) -> list[str]:
        with self._condition:
            return list(self._services.get(service, _ServiceLog()).lines)

    def docker_timestamps(self) -> list[str]:
        """Docker's timestamp of every line (RFC 3339, UTC), indexed by the line's ``seq``."""
        with self._condition:
            return list(self._arrivals)

    def services(self) -> list[str]:
        with self._condition:
            return list(self._services)

    def last_docker_timestamp(self, service: str) -> str:
        with self._condition:
            return self._services.get(service, _ServiceLog()).last_docker_timestamp

    def wait_until_logged(self, service: str, docker_timestamp: str, text: str, timeout: float) -> bool:
        """Until ``service``'s line stamped ``docker_timestamp`` and ending with ``text`` is in the
        hub: a line stamped as late or later, or a last line ending with ``text`` (the engine stamps
        each 16 KiB piece of a long line; the hub keeps the whole line under its first piece's
        stamp). False after ``timeout``."""
        wanted = sortable_timestamp(docker_timestamp)

        def logged() -> bool:
            log = self._services.get(service)
            if log is None:
                return False
            return sortable_timestamp(log.last_docker_timestamp) >= wanted or (
                bool(log.lines) and log.lines[-1].endswith(text)
            )

        with self._condition:
            return self._condition.wait_for(logged, timeout)

    def tail(self, count: int = 20, service: str | None = None) -> list[str]:
        """The last lines of one service, or of each, prefixed by service name."""
        with self._condition:
            names = [service] if service else list(self._services)
            return [
                f"{name} | {line}" for name in names for line in self._services.get(name, _ServiceLog()).lines[-count:]
            ]

    def wait_for(self, predicate: EventPredicate, timeout: float, start: int = 0) -> Event | None:
        """The first event from index ``start`` on that matches, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        index = start
        with self._condition:
            while True:
                for event in self.log[index:]:
                    if predicate(event):
                        return event
                index = len(self.log)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)

    def wait_for_line(self, predicate: Callable[[str, str], bool], timeout: float) -> tuple[str, str] | None:
        """The first (service, line) of any service, already read or arriving, that matches
        ``predicate(service, line)`` (raw lines: for logs that are not this project's own
        format), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        seen: dict[str, int] = {}
        with self._condition:
            while True:
                for service, log in self._services.items():
                    for line in log.lines[seen.get(service, 0) :]:
                        if predicate(service, line):
                            return service, line
                    seen[service] = len(log.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)

    def follow(self, timeout: float, start: int = 0) -> Iterator[Event]:
        """Events as they arrive, from index ``start``, until ``timeout`` passes without one."""
        index = start
        while True:
            with self._condition:

                def grown(seen: int = index) -> bool:
                    return len(self.log) > seen

                if index >= len(self.log) and not self._condition.wait_for(grown, timeout):
                    return
                batch = self.log[index:]
            index += len(batch)
            yield from batch

    def __len__(self) -> int:
        return len(self.log)


def sortable_timestamp(docker_timestamp: str) -> str:
    """Docker's RFC 3339 timestamps trim trailing zeros of the fraction: pad it to compare as text."""
    seconds, _, fraction = docker_timestamp.rstrip("Z").partition(".")
    return f"{seconds}.{fraction:0<9}"


class ContainerLogReader(threading.Thread):
    """Streams one container's log into a hub until the container stops."""

    def __init__(self, hub: LogHub, service: str, container: Container, since: str = "") -> None:
        super().__init__(name=f"logs-{service}", daemon=True)
        self._hub = hub
        self._service = service
        self._container = container
        self._since = since

    def run(self) -> None:
        pending = b""
        options: dict[str, object] = {"stream": True, "follow": True, "timestamps": True}
        try:
            stream = self._container.logs(**options)
            for chunk in stream:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    self._deliver(raw)
        except Exception as exc:  # the engine went away or the container was removed
            self._hub.add_line(self._service, f"- harness: log stream ended: {exc}")
        if pending:
            self._deliver(pending)

    def _deliver(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        # After a restart the log is read again from its start: skip what was delivered.
        if self._since and sortable_timestamp(line.partition(" ")[0]) <= sortable_timestamp(self._since):
            return
        self._hub.add_line(self._service, line)
