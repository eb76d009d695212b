"""Every line of a run with a time, the input of the timeline (``harness.report.timeline``):
Docker's timestamp of the line, else the logger's, else the time of the line before it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC
from typing import NamedTuple

from harness.lifecycle import engine_time
from harness.logs import Event, EventLog, InvalidLine, UnparsedLine
from harness.logstream import LogHub


class TimedLine(NamedTuple):  # a tuple: hundreds of thousands are made for a long run
    service: str
    time: float  # UTC epoch seconds
    text: str  # the line as the service wrote it
    event: Event | None
    seq: int
    invalid: str | None = None  # how the line breaks the log contract (an ``InvalidLine``)


_UNKNOWN = math.nan  # a line's time before the one of the line before it is filled in


def _docker_time(stamp: str, whole_seconds: dict[str, float]) -> float | None:
    """``engine_time`` of Docker's ``...T12:00:01.123456789Z``, each whole second parsed once."""
    head, dot, fraction = stamp.partition(".")
    if not dot or not fraction.endswith("Z") or not fraction[:-1].isdigit():
        return engine_time(stamp)
    second = whole_seconds.get(head)
    if second is None:
        second = engine_time(head + "Z")
        if second is None:
            return None
        whole_seconds[head] = second
    return second + float("0." + fraction[:-1][:6])  # microseconds, as engine_time


def _event_time(event: Event) -> float | None:
    return event.time.replace(tzinfo=UTC).timestamp() if event.time is not None else None


def timed_lines(source: LogHub | EventLog | Iterable[Event | UnparsedLine]) -> list[TimedLine]:
    """Every line of ``source`` in arrival order, each with a time: Docker's timestamp of the line
    (a ``LogHub`` keeps them), else the event's own (the logger's, UTC), else the time of the
    previous line of the same service (a traceback line has none)."""
    stamps: list[str] = []
    if isinstance(source, LogHub):
        stamps = source.docker_timestamps()
        source = source.log
    if isinstance(source, EventLog):
        records: list[Event | UnparsedLine] = [*source, *source.unparsed()]
    else:
        records = list(source)
    records.sort(key=lambda record: record.seq)
    count = len(stamps)
    whole_seconds: dict[str, float] = {}
    lines: list[TimedLine] = []
    untimed = False
    for record in records:
        seq = record.seq
        time = _docker_time(stamps[seq], whole_seconds) if seq < count else None
        if isinstance(record, Event):
            if time is None:
                time = _event_time(record)
            line = TimedLine(record.service, _UNKNOWN if time is None else time, record.raw, record, seq)
        else:
            reason = (record.reason or "breaks the log contract") if isinstance(record, InvalidLine) else None
            line = TimedLine(record.service, _UNKNOWN if time is None else time, record.text, None, seq, reason)
        lines.append(line)
        untimed = untimed or time is None
    if untimed:
        first_known = next((line.time for line in lines if not math.isnan(line.time)), 0.0)  # none: all at 0
        previous: dict[str, float] = {}
        for index, line in enumerate(lines):
            if math.isnan(line.time):
                lines[index] = line._replace(time=previous.get(line.service, first_known))
            previous[line.service] = lines[index].time
    return lines
