"""Log lines of a system under test, read with the course's rules (../shared/tp0-contract.md).

A line is an event when it contains ``action: A | result: R``; text before ``action:`` (a
timestamp, a level, a logger's ``msg="``) is ignored. What follows is read strictly by
``logline`` (the project's one log contract): a result word outside success/fail/in_progress, a
missing result, a repeated or reserved key make the line *broken*, and a broken line is itself
a failure of the check that reads it. Lines are kept with the engine's timestamp, the only clock
common to every container.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from docker.models.containers import Container

from harness.logs import Event, parse_line
from harness.logstream import sortable_timestamp
from logline import LogLineError

ACTION_MARKER = "action:"


def stamp_seconds(stamp: str) -> float:
    """A sortable engine stamp (``2026-12-01T22:47:55.285745238``) as seconds since the epoch."""
    seconds, _, fraction = stamp.partition(".")
    whole = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return whole + float(f"0.{fraction or 0}")


def read_event(text: str, service: str) -> tuple[Event | None, str | None]:
    """(the event of one line, None if it has no ``action:``; why it breaks the contract, or None)."""
    start = text.find(ACTION_MARKER)
    if start < 0:
        return None, None
    try:
        return parse_line(text[start:].rstrip().removesuffix('"'), service), None
    except LogLineError as error:
        return None, error.reason


def parse_contract_line(text: str, service: str) -> Event | None:
    """The event of one line; None when it is none or a broken one (waits skip those)."""
    return read_event(text, service)[0]


@dataclass(frozen=True)
class Line:
    """One line of one container, with the engine's timestamp (sortable as text)."""

    service: str
    stamp: str
    text: str
    event: Event | None
    broken: str | None = None  # why the line breaks the log contract (then ``event`` is None)

    def shown(self) -> str:
        return f"{self.service} | {self.text}"

    def matches(self, action: str, result: str | None = None, **fields: object) -> bool:
        return self.event is not None and self.event.matches(action, result, None, **fields)

    def int_field(self, key: str) -> int | None:
        return self.event.int_field(key) if self.event is not None else None


class RunLog:
    """Every line of every container of one run, in the engine's time order."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self.lines = sorted(lines, key=lambda line: line.stamp)

    @classmethod
    def from_containers(cls, containers: dict[str, Container]) -> RunLog:
        return cls(line for service, container in containers.items() for line in read_container(service, container))

    def __iter__(self) -> Iterator[Line]:
        return iter(self.lines)

    def of(self, service: str) -> list[Line]:
        return [line for line in self.lines if line.service == service]

    def find(self, action: str, result: str | None = None, service: str | None = None, **fields: object) -> list[Line]:
        return [
            line
            for line in self.lines
            if (service is None or line.service == service) and line.matches(action, result, **fields)
        ]

    def events(self) -> list[Line]:
        return [line for line in self.lines if line.event is not None]

    def broken(self) -> list[Line]:
        """Lines shaped like events that break the contract (e.g. ``result: sucess``)."""
        return [line for line in self.lines if line.broken is not None]

    def failures(self) -> list[Line]:
        return [line for line in self.events() if line.event is not None and line.event.result == "fail"]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for service in dict.fromkeys(line.service for line in self.lines):
            text = "".join(f"{line.stamp} {line.text}\n" for line in self.of(service))
            (directory / f"{service}.log").write_text(text, encoding="utf-8")


def read_container(service: str, container: Container) -> list[Line]:
    """The container's whole log (stdout and stderr), through the docker SDK."""
    raw = container.logs(stdout=True, stderr=True, timestamps=True).decode("utf-8", errors="replace")
    lines = []
    for entry in raw.splitlines():
        stamp, _, text = entry.partition(" ")
        text = text.rstrip("\r")
        event, broken = read_event(text, service)
        lines.append(Line(service, sortable_timestamp(stamp), text, event, broken))
    return lines


def shown(lines: Iterable[Line]) -> list[str]:
    """Lines as evidence: ``service | text``."""
    return [line.shown() for line in lines]
