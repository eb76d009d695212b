"""A cluster's events: its services' log events and the harness's own lines (faults, signals,
trials) in one ``LogHub``, read, followed, waited on and annotated. ``Cluster`` (either backend)
offers these to scenarios; a wait that times out says what the cluster was doing (``_explain``,
each backend's own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests
from docker.errors import APIError, NotFound

from harness.cluster_errors import WaitTimeout
from harness.engine import API_THREADS
from harness.faults import HARNESS_SERVICE, harness_line
from harness.logs import Event, EventLog
from harness.logstream import EventPredicate, LogHub

LOG_REACH_TIMEOUT = 30  # seconds for the logs of running containers to reach the hub
LastLine = Callable[[], bytes]  # a log's last line as the engine has it now (its timestamp first)


def _read_quietly(last_line: LastLine) -> bytes:
    try:
        return last_line()
    except (NotFound, APIError, requests.exceptions.RequestException):
        return b""  # gone meanwhile: its reader reads its log to the end


class ClusterEvents:
    """The events side of a cluster, over its ``hub``."""

    hub: LogHub

    def events(self, service: str | None = None) -> EventLog:
        """The cluster's events: the live log (it grows), or a snapshot of one service's."""
        return self.hub.log if service is None else self.hub.log.filter(service=service)

    def stream(self, timeout: float = 30, from_start: bool = True) -> Iterator[Event]:
        """Live events as they arrive; ends after ``timeout`` seconds without one."""
        return self.hub.follow(timeout, start=0 if from_start else len(self.hub))

    def wait_for(self, predicate: EventPredicate, timeout: float, description: str = "", since: int = 0) -> Event:
        """The first event that matches ``predicate``, from the cluster's start or from event index
        ``since`` (a ``mark()``)."""
        event = self.hub.wait_for(predicate, timeout, start=since)
        if event is None:
            raise WaitTimeout(self._explain(f"no event {description or predicate} within {timeout}s"))
        return event

    def event_reader(self, service: str | None = None) -> Callable[[], list[Event]]:
        """A function that returns the events (of ``service``) arrived since its previous call;
        the first call returns those since ``event_reader`` was made."""
        position = self.mark()

        def new_events() -> list[Event]:
            nonlocal position
            events = self.hub.log[position:]
            position += len(events)
            return [event for event in events if service is None or event.service == service]

        return new_events

    def _wait_logs_reached_hub(self, last_lines: Mapping[str, LastLine], timeout: float = LOG_REACH_TIMEOUT) -> None:
        """Until the hub holds the log of each service of ``last_lines`` as far as the engine has it
        now (``last_lines[service]()`` reads its last line). Each log is streamed on its own: without
        this, a wait for an agency's exit could return before the server's draw that let the agency
        end had reached the hub (a scenario counted 0 draws after every agency had its winners)."""
        if not last_lines:
            return
        with ThreadPoolExecutor(max_workers=min(API_THREADS, len(last_lines))) as pool:
            lasts = dict(zip(last_lines, pool.map(_read_quietly, last_lines.values()), strict=True))
        deadline = time.monotonic() + timeout
        for service, last in lasts.items():
            if not last.endswith(b"\n"):
                continue  # empty, gone, or a line still being written: nothing to wait for
            stamp, _, text = last.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r").partition(" ")
            if not self.hub.wait_until_logged(service, stamp, text, max(0.0, deadline - time.monotonic())):
                seen = self.hub.last_docker_timestamp(service) or "nothing"
                raise WaitTimeout(
                    self._explain(
                        f"the log of {service} up to {stamp} did not reach the harness within {timeout}s "
                        f"(it had {seen})"
                    )
                )

    def mark(self) -> int:
        """The index of the next event: ``wait_for(..., since=mark)`` sees only events after now."""
        return len(self.hub)

    def note(self, action: str, result: str, *, at: datetime | None = None, **fields: object) -> None:
        """A line of the ``harness`` pseudo-service on the cluster's timeline (faults, trials...),
        stamped now or ``at``."""
        self.hub.add_line(HARNESS_SERVICE, harness_line(action, result, at=at, **fields))

    def _explain(self, what: str) -> str:
        """``what`` went wrong, with the state of the cluster (its services, its last log lines)."""
        raise NotImplementedError
