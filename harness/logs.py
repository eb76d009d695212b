"""Typed events parsed from the log lines of the server and the clients.

(Over 400 lines: ``EventLog`` carries the domain summaries every scenario and check reads from
the events, such as winners, acknowledgements and batches per agency, next to the events
they summarize; the line contract itself is ``logline``.)

Every event line follows docs/CONVENTIONS.md::

    2026-11-27 04:57:01,123 INFO     action: X | result: Y | key: value | key: value

as written by ``%(asctime)s %(levelname)-8s %(message)s``. Lines may also carry what
Docker adds in front of them: a compose prefix (``client1-1  | ...``) and/or the
timestamp of ``docker logs --timestamps`` (``2026-11-27T04:57:01.123456789Z ...``).
Everything else (tracebacks, blank lines, third-party output) is not an event:
``parse_line`` returns None for it and an ``EventLog`` keeps it as an ``UnparsedLine``.
The line itself is read by ``logline`` (the one definition of the contract), strictly: a line
shaped like an event that breaks the contract (``result: succes``) makes ``parse_line`` raise
``LogLineError``, and an ``EventLog`` keeps it as an ``InvalidLine`` (``invalid_lines()``),
which fails the scenario that saw it (harness.cluster, harness.plugin).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count as counter
from typing import overload

from logline import SUCCESS, LogLineError
from logline import parse_line as parse_contract_line
from logline.actions import CONFIG, CONSULTA_GANADORES, FINALIZADO, LOTE_CONFIRMADO, SORTEO

TRACEBACK_MARKER = "Traceback (most recent call last):"
WINNERS_ACTION = CONSULTA_GANADORES

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# `docker compose logs` pads the service (or container) name, then writes " | ".
_COMPOSE_PREFIX = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)\s+\|(?: |$)")
_DOCKER_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})(?: |$)")
_REPLICA_SUFFIX = re.compile(r"[-_]\d+$")
_CLIENT_SERVICE = re.compile(r"(?:^|[-_])client(?P<number>\d+)$")


@dataclass(frozen=True)
class Event:
    """One ``action: X | result: Y | k: v`` log line.

    ``time`` is the logger's (naive, container-local) timestamp, None when the line has none.
    ``seq`` orders the lines an ``EventLog`` received (ordering within a service is exact).
    """

    service: str
    time: datetime | None
    level: str
    action: str
    result: str
    fields: dict[str, str] = field(hash=False)
    raw: str
    seq: int = 0

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    def int_field(self, key: str) -> int | None:
        """The field as an int, None when missing or not an integer."""
        value = self.fields.get(key)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def matches(
        self,
        action: str | None = None,
        result: str | None = None,
        service: str | None = None,
        **fields: object,
    ) -> bool:
        if action is not None and self.action != action:
            return False
        if result is not None and self.result != result:
            return False
        if service is not None and self.service != service:
            return False
        return all(self.fields.get(key) == str(value) for key, value in fields.items())


@dataclass(frozen=True)
class UnparsedLine:
    """A line that is not an event; ``text`` is the line without Docker's prefixes."""

    service: str
    text: str
    raw: str
    seq: int = 0


@dataclass(frozen=True)
class InvalidLine(UnparsedLine):
    """A line shaped like an event that breaks the contract; ``reason`` says how."""

    reason: str = ""

    def describe(self) -> str:
        return f"{self.service or '?'} | {self.text}  ({self.reason})"


# -- parsing ----------------------------------------------------------------------------


def service_from_prefix(name: str) -> str:
    """``client1-1`` (compose v2) or ``client1_1`` (v1) -> ``client1``."""
    return _REPLICA_SUFFIX.sub("", name)


def _strip_docker_decorations(line: str) -> tuple[str | None, str]:
    """(compose service or None, the line without compose prefix and docker timestamp)."""
    text = _ANSI_ESCAPE.sub("", line.rstrip("\r\n"))
    service = None
    prefix = _COMPOSE_PREFIX.match(text)
    if prefix:
        service = service_from_prefix(prefix.group("name"))
        text = text[prefix.end() :]
    timestamp = _DOCKER_TIMESTAMP.match(text)
    if timestamp:
        text = text[timestamp.end() :]
    return service, text


def _resolve_service(explicit: str | None, from_prefix: str | None) -> str:
    if explicit is not None:
        return explicit
    return from_prefix or ""


def parse_line(line: str, service: str | None = None, seq: int = 0) -> Event | None:
    """The event of one log line, or None when the line is not an event; ``LogLineError`` when
    it is shaped like one but breaks the contract (e.g. ``result: succes``).

    ``service`` names the line's source; when None it comes from a compose prefix ("" if none).
    """
    prefix_service, text = _strip_docker_decorations(line)
    parsed = parse_contract_line(text)
    if parsed is None:
        return None
    try:
        time = parsed.time
    except ValueError:  # shaped like a timestamp, not a real date
        time = None
    return Event(
        service=_resolve_service(service, prefix_service),
        time=time,
        level=parsed.level or "",
        action=parsed.event.action,
        result=parsed.event.result,
        fields=dict(parsed.event.fields),
        raw=line.rstrip("\r\n"),
        seq=seq,
    )


def _parse_unparsed(line: str, service: str | None, seq: int, error: LogLineError | None = None) -> UnparsedLine:
    prefix_service, text = _strip_docker_decorations(line)
    if error is not None:
        return InvalidLine(_resolve_service(service, prefix_service), text, line.rstrip("\r\n"), seq, error.reason)
    return UnparsedLine(_resolve_service(service, prefix_service), text, line.rstrip("\r\n"), seq)


@dataclass(frozen=True)
class Where:
    """A predicate for waits that says what it waits for: ``str(where("sorteo", "success"))`` is
    ``action: sorteo | result: success``, which is what a timeout names."""

    action: str
    result: str | None = None
    service: str | None = None
    fields: tuple[tuple[str, object], ...] = ()

    def __call__(self, event: Event) -> bool:
        return event.matches(self.action, self.result, self.service, **dict(self.fields))

    def __str__(self) -> str:
        parts = [f"action: {self.action}", f"result: {self.result or 'any'}"]
        parts += [f"{key}: {value}" for key, value in self.fields]
        text = " | ".join(parts)
        return f"{text} from {self.service}" if self.service else text


def where(action: str, result: str | None = None, service: str | None = None, **fields: object) -> Where:
    """A predicate for waits: ``where("lote_confirmado", "success", service="client1", total=10)``."""
    return Where(action, result, service, tuple(fields.items()))


def domain_state(events: EventLog) -> str:
    """Where the lottery stands, in words: which agencies finished, whether the draw happened,
    which clients are still waiting for their winners. For the message of a wait that timed out."""
    clients = events.client_agencies()
    finished = sorted(clients[s] for s in clients if events.first(FINALIZADO, SUCCESS, service=s) is not None)
    answered = {s for s in clients if events.first(CONSULTA_GANADORES, SUCCESS, service=s) is not None}
    polling = sorted(s for s in clients if s not in answered and clients[s] in finished)
    not_finished = sorted(clients[s] for s in clients if clients[s] not in finished)
    draw = events.first(SORTEO, SUCCESS)
    parts = [
        f"agencies finished: {finished or 'none'}",
        f"not finished: {not_finished or 'none'}",
        f"draw: {'done (' + (draw.get('ganadores') or '?') + ' winners)' if draw else 'not yet'}",
        f"waiting for winners: {', '.join(polling) or 'nobody'}",
    ]
    return "; ".join(parts)


def agency_from_service(service: str) -> int | None:
    """``client3`` (also ``proj-client3``) -> 3; None for other services."""
    match = _CLIENT_SERVICE.search(service)
    return int(match.group("number")) if match else None


# -- the collection ---------------------------------------------------------------------


class EventLog(Sequence[Event]):
    """Events in arrival order (list-like), plus the lines that were not events.

    ``feed`` is thread-safe, so log followers of several containers may share one log.
    """

    def __init__(self, records: Iterable[Event | UnparsedLine] = ()) -> None:
        self._records: list[Event | UnparsedLine] = list(records)
        self._events: list[Event] = [record for record in self._records if isinstance(record, Event)]
        self._seq = counter(max((record.seq for record in self._records), default=-1) + 1)
        self._lock = threading.Lock()

    # list-like protocol

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self._events[index]

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        with self._lock:
            snapshot = list(self._events)
        return iter(snapshot)

    def __repr__(self) -> str:
        return f"EventLog({len(self._events)} events, {len(self.unparsed())} other lines)"

    # feeding

    def feed(self, line: str, service: str | None = None) -> Event | None:
        """Parse one line and keep it; returns its event (None if it is not one)."""
        with self._lock:
            seq = next(self._seq)
            try:
                event = parse_line(line, service, seq)
            except LogLineError as error:
                self._records.append(_parse_unparsed(line, service, seq, error))
                return None
            if event is None:
                self._records.append(_parse_unparsed(line, service, seq))
            else:
                self._events.append(event)
                self._records.append(event)
            return event

    def feed_lines(self, lines: Iterable[str] | str, service: str | None = None) -> list[Event]:
        """Feed many lines (a whole text is split into lines); returns the new events."""
        if isinstance(lines, str):
            lines = lines.splitlines()
        fed = (self.feed(line, service) for line in lines)
        return [event for event in fed if event is not None]

    # queries

    def filter(
        self,
        action: str | None = None,
        result: str | None = None,
        service: str | None = None,
        **fields: object,
    ) -> EventLog:
        """The matching events, plus the non-event lines of ``service`` (of all when None),
        so ``tracebacks()`` still works on the result."""
        with self._lock:
            records = list(self._records)
        return EventLog(
            record
            for record in records
            if (
                record.matches(action, result, service, **fields)
                if isinstance(record, Event)
                else service in (None, record.service)
            )
        )

    def first(
        self,
        action: str | None = None,
        result: str | None = None,
        service: str | None = None,
        **fields: object,
    ) -> Event | None:
        return next((e for e in self if e.matches(action, result, service, **fields)), None)

    def last(
        self,
        action: str | None = None,
        result: str | None = None,
        service: str | None = None,
        **fields: object,
    ) -> Event | None:
        return next((e for e in reversed(self) if e.matches(action, result, service, **fields)), None)

    def count(  # unlike Sequence.count(value), counts events by what they say
        self, action: str, result: str | None = None, service: str | None = None, **fields: object
    ) -> int:
        return sum(1 for event in self if event.matches(action, result, service, **fields))

    def services(self) -> list[str]:
        """Services that produced events, in order of first appearance."""
        return list(dict.fromkeys(event.service for event in self))

    def unparsed(self, service: str | None = None) -> list[UnparsedLine]:
        with self._lock:
            records = list(self._records)
        return [r for r in records if isinstance(r, UnparsedLine) and service in (None, r.service)]

    def invalid_lines(self, service: str | None = None) -> list[InvalidLine]:
        """The lines shaped like events that break the contract (the course's parser rejects a
        whole log for one of them)."""
        return [line for line in self.unparsed(service) if isinstance(line, InvalidLine)]

    def tracebacks(self, service: str | None = None) -> list[str]:
        """Each Python traceback printed outside an event, as its lines joined by newlines.

        A block starts at a ``Traceback (most recent call last):`` line that is not an event and
        takes the service's next non-event lines until that service logs an event again.
        """
        with self._lock:
            records = list(self._records)
        blocks: list[list[str]] = []
        open_blocks: dict[str, list[str]] = {}
        for record in records:
            if service is not None and record.service != service:
                continue
            if isinstance(record, Event):
                open_blocks.pop(record.service, None)
            elif TRACEBACK_MARKER in record.text:
                open_blocks[record.service] = [record.text]
                blocks.append(open_blocks[record.service])
            elif record.service in open_blocks:
                open_blocks[record.service].append(record.text)
        return ["\n".join(block).rstrip() for block in blocks]

    # client-side summaries (one pass over the log each)

    def _events_by_service(self) -> dict[str, list[Event]]:
        grouped: dict[str, list[Event]] = {}
        for event in self:
            grouped.setdefault(event.service, []).append(event)
        return grouped

    def _clients(self) -> list[tuple[int, list[Event]]]:
        """(agency, events) of each client service; the server and unknown services are left out."""
        clients = []
        for service, events in self._events_by_service().items():
            agency = _configured_agency(events)
            if agency is None:
                agency = agency_from_service(service)
            if agency is not None:
                clients.append((agency, events))
        return clients

    def client_agencies(self) -> dict[str, int]:
        """service -> agency, from the client's ``config`` line (``client_id``) or else its name."""
        return {events[0].service: agency for agency, events in self._clients()}

    def winners_by_agency(self) -> dict[int, list[str]]:
        """agency -> documents its client reported in ``consulta_ganadores | result: success``."""
        winners: dict[int, list[str]] = {}
        for agency, events in self._clients():
            answers = [e for e in events if e.matches(WINNERS_ACTION, SUCCESS) and "agencia" not in e.fields]
            if answers:
                winners[agency] = _split_documents(answers[-1].get("dnis"))
        return winners

    def acknowledged_by_agency(self) -> dict[int, int]:
        """agency -> bets the server acknowledged to its client: the highest batch ``total``
        (``lote_confirmado``) plus one per single bet (``apuesta_enviada``); 0 if none."""
        acknowledged: dict[int, int] = {}
        for agency, events in self._clients():
            batch_totals = [e.int_field("total") or 0 for e in events if e.matches(LOTE_CONFIRMADO, SUCCESS)]
            single_bets = sum(1 for e in events if e.matches("apuesta_enviada", "success"))
            acknowledged[agency] = max(batch_totals, default=0) + single_bets
        return acknowledged

    def batches_by_agency(self) -> dict[int, list[int]]:
        """agency -> ``cantidad`` of each batch its client saw acknowledged (``lote_confirmado |
        result: success``), in the order sent."""
        return {
            agency: [e.int_field("cantidad") or 0 for e in events if e.matches(LOTE_CONFIRMADO, SUCCESS)]
            for agency, events in self._clients()
        }


class LogContractError(AssertionError):
    """Lines shaped like events broke the log contract: the course's parser rejects such a log."""


def assert_log_contract(events: EventLog, shown: int = 20) -> None:
    """Every event-shaped line of ``events`` keeps the contract; else ``LogContractError`` naming them."""
    invalid = events.invalid_lines()
    if invalid:
        listed = "\n".join(f"    {line.describe()}" for line in invalid[:shown])
        more = f"\n    ... and {len(invalid) - shown} more" if len(invalid) > shown else ""
        raise LogContractError(
            f"{len(invalid)} log line(s) break the log contract (docs/CONVENTIONS.md; the course's "
            f"parser rejects the whole log for one):\n{listed}{more}"
        )


def _configured_agency(events: list[Event]) -> int | None:
    """The ``client_id`` of the last ``config`` line among one service's events."""
    configs = [e for e in events if e.matches(CONFIG, SUCCESS) and "client_id" in e.fields]
    return configs[-1].int_field("client_id") if configs else None


def _split_documents(value: str | None) -> list[str]:
    if not value:
        return []
    return [document.strip() for document in value.split(",") if document.strip()]


def parse_lines(lines: Iterable[str] | str, service: str | None = None) -> EventLog:
    """An ``EventLog`` of ``lines`` (an iterable of lines or a whole text)."""
    log = EventLog()
    log.feed_lines(lines, service)
    return log
