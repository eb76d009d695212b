"""The timeline behind ``report.html``: what a cluster's log and the engine's exit records say,
laid out as lanes on one time axis. Pure Python (no browser, no engine): the renderer turns a
``Timeline`` into a page, the fast tests check it directly.

- one ``Lane`` per service (the ``harness`` lane first, then the server, then the agencies);
- each event a ``Mark`` coloured by its result, unless its lane logged that (action, result) more
  than ``COLLAPSE_AT`` times: then the group is a ``Density`` (its times, drawn as bars);
- ``Span`` s derived from pairs of lines: connections, batches stored then acknowledged, the wait
  for the winners, each container run from start to exit (with its exit code);
- ``FaultWindow`` s from the harness lane's ``fault`` lines (inject to undo), ``Signal`` markers,
  the failed assertion ``Pin`` and the acknowledged bets of each agency over time (``Series``).

Times are seconds from ``Timeline.start`` (UTC epoch seconds).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from harness.faults import FAULT_ACTION, HARNESS_SERVICE
from harness.lifecycle import ExitRecord, engine_time
from harness.logs import Event, EventLog, InvalidLine, UnparsedLine, agency_from_service
from harness.logstream import LogHub
from logline.actions import SIGNAL as SIGNAL_ACTION

COLLAPSE_AT = 60  # more events of one (action, result) in a lane than this: a density series
SPANS_PER_KIND = 120  # more derived spans of one kind in a lane than this: only their summary
SERIES_POINTS = 400  # points kept per agency in the acknowledged-bets chart
RESULT_CLASSES = ("success", "fail", "in_progress", "unparsed", "invalid")


def result_class(result: str | None) -> str:
    """The colour class of an event's result; ``unparsed`` for a line that is not an event,
    ``invalid`` for one shaped like an event that breaks the log contract."""
    if result is None:
        return "unparsed"
    return result if result in ("success", "fail", "in_progress") else "invalid"


# -- input: lines with a time -------------------------------------------------------------


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


# -- the model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    time: float
    result: str  # a RESULT_CLASSES member
    label: str  # "action result", or "line" for an unparsed one
    line: str


@dataclass(frozen=True)
class Density:
    """Many events of one (action, result) in one lane: their times, drawn as bars of counts."""

    label: str
    result: str
    times: list[float]
    first_line: str
    last_line: str

    @property
    def count(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class Span:
    kind: str  # "run" (a container's), "connection", "batch", "batches", "winners"
    start: float
    end: float
    label: str
    result: str
    detail: str = ""
    open: bool = False  # still going when the timeline ends


@dataclass
class Lane:
    name: str
    role: str  # "harness", "server", "client", "other"
    marks: list[Mark] = field(default_factory=list)
    densities: list[Density] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # result class -> events
    log_file: str | None = None


@dataclass(frozen=True)
class FaultWindow:
    kind: str
    service: str
    start: float
    end: float
    healed: bool  # False: still active at the end (or left as it is by teardown)
    detail: str


@dataclass(frozen=True)
class Signal:
    time: float
    service: str
    signal: str


@dataclass(frozen=True)
class Pin:
    time: float
    message: str


@dataclass(frozen=True)
class Series:
    """Bets acknowledged to one agency over time (its client's ``total``)."""

    agency: int
    service: str
    points: list[tuple[float, int]]


@dataclass
class Timeline:
    start: float  # UTC epoch seconds at time 0
    end: float  # seconds after start
    lanes: list[Lane]
    faults: list[FaultWindow]
    signals: list[Signal]
    series: list[Series]
    phases: dict[str, tuple[float, float]]
    pin: Pin | None = None

    def lane(self, name: str) -> Lane:
        for lane in self.lanes:
            if lane.name == name:
                return lane
        raise KeyError(f"no lane {name!r}; lanes: {[lane.name for lane in self.lanes]}")


# -- building it --------------------------------------------------------------------------


def lane_order(name: str) -> tuple[int, int, str]:
    """harness, server, client1..clientN by number, then the rest by name."""
    if name == HARNESS_SERVICE:
        return (0, 0, name)
    if name == "server" or name.endswith("-server") or name.endswith("_server"):
        return (1, 0, name)
    agency = agency_from_service(name)
    if agency is not None:
        return (2, agency, name)
    return (3, 0, name)


def _role(name: str) -> str:
    return ("harness", "server", "client", "other")[lane_order(name)[0]]


def density_bins(times: Sequence[float], start: float, end: float, bins: int) -> list[int]:
    """How many of ``times`` fall in each of ``bins`` equal slices of [start, end] (the last
    slice includes ``end``); times outside are left out. The page rebins the same way on zoom."""
    if bins <= 0 or end <= start:
        return [0] * max(bins, 0)
    counts = [0] * bins
    width = (end - start) / bins
    for time in times:
        if start <= time <= end:
            counts[min(int((time - start) / width), bins - 1)] += 1
    return counts


def harness_label(event: Event) -> str:
    """What a harness line says, in a few words: ``pause server inject``, ``SIGTERM -> client1``."""
    fields = event.fields
    if event.action == FAULT_ACTION:
        words = [fields.get("kind", "fault"), fields.get("service", "?"), fields.get("phase", "")]
        return " ".join(word for word in words if word) + (" failed" if event.result == "fail" else "")
    if event.action == SIGNAL_ACTION:
        return f"{fields.get('signal', '?')} -> {fields.get('service', '?')}"
    details = " ".join(f"{key} {value}" for key, value in list(fields.items())[:2])
    return f"{event.action} {event.result} {details}".strip()


def _shown(line: TimedLine) -> str:
    return line.text if line.invalid is None else f"{line.text}  [{line.invalid}]"


def _marks_and_densities(lines: list[TimedLine], start: float) -> tuple[list[Mark], list[Density], dict[str, int]]:
    groups: dict[tuple[str, str], list[TimedLine]] = defaultdict(list)
    for line in lines:
        event = line.event
        if line.invalid is not None:
            groups[("", "invalid")].append(line)
        elif event is None:
            groups[("", "")].append(line)
        elif line.service == HARNESS_SERVICE:
            groups[(harness_label(event), "\0" + event.result)].append(line)
        else:
            groups[(event.action, event.result)].append(line)
    counts = dict.fromkeys(RESULT_CLASSES, 0)
    marks: list[Mark] = []
    densities: list[Density] = []
    for (action, result), members in groups.items():
        if not action and not result:
            label, colour = "line", "unparsed"
        elif not action:
            label, colour = "breaks the log contract", "invalid"
        elif result.startswith("\0"):  # a harness line, labelled already
            label, colour = action, result_class(result[1:])
        else:
            label, colour = f"{action} {result}".strip(), result_class(result)
        counts[colour] += len(members)
        if len(members) > COLLAPSE_AT:
            times = [member.time - start for member in members]
            densities.append(Density(label, colour, times, _shown(members[0]), _shown(members[-1])))
        else:
            marks.extend(Mark(member.time - start, colour, label, _shown(member)) for member in members)
    marks.sort(key=lambda mark: mark.time)
    return marks, densities, {key: value for key, value in counts.items() if value}


def _run_spans(exits: Iterable[ExitRecord], start: float, end: float) -> list[Span]:
    spans = []
    for record in exits:
        if record.started is None:
            continue
        begin = record.started - start
        if record.finished is None:
            spans.append(Span("run", begin, end, "running", "in_progress", "no exit seen", open=True))
            continue
        code = record.exit_code
        how = f"exit {code}" + (" (SIGKILL)" if code == 137 else " (SIGTERM)" if code == 143 else "")
        if record.oom_killed:
            how += ", out of memory"
        spans.append(Span("run", begin, record.finished - start, how, "success" if code == 0 else "fail", how))
    return spans


def _connection_spans(
    events: list[tuple[float, Event]], end: float, process_ends: Sequence[tuple[float, str, bool]] = ()
) -> list[Span]:
    """Server: ``accept_connections`` to the next ``close_connection`` / ``connection fail`` of the
    same peer address. Client: ``connect success`` to its next ``connect`` or ``shutdown``. Either
    way a connection still open when its container's process ended (``process_ends``: time, how,
    whether it exited 0) ends there: a killed server closes nothing in its log."""
    spans: list[Span] = []
    opened: dict[str, deque[float]] = defaultdict(deque)
    client_open: float | None = None
    pending_ends = deque(sorted(process_ends))

    def cut(at: float, how: str, exited_well: bool) -> None:
        nonlocal client_open
        result = "success" if exited_well else "fail"
        for address, times in opened.items():
            spans.extend(Span("connection", t, at, "connection", result, f"{address}: open when {how}") for t in times)
            times.clear()
        if client_open is not None:
            spans.append(Span("connection", client_open, at, "connection", result, f"open when {how}"))
            client_open = None

    for time, event in events:
        while pending_ends and pending_ends[0][0] <= time:
            cut(*pending_ends.popleft())
        if event.action == "accept_connections" and event.result == "success":
            opened[event.fields.get("ip") or ""].append(time)
        elif event.action in ("close_connection", "connection"):
            waiting = opened.get(event.fields.get("ip") or "")
            if waiting:
                begin = waiting.popleft()
                agency = event.fields.get("agencia")
                label = f"connection of agency {agency}" if agency and agency != "0" else "connection"
                result = "success" if event.result == "success" else "fail"
                detail = f"{event.fields.get('ip')}: {event.action} {event.result}"
                if event.fields.get("error"):
                    detail += f" ({event.fields.get('error')})"
                spans.append(Span("connection", begin, time, label, result, detail))
        elif event.action == "connect" or event.action == "shutdown":
            if client_open is not None:
                result = "fail" if event.action == "connect" and event.result == "fail" else "success"
                error = event.fields.get("error")
                detail = f"ended by {event.action} {event.result}" + (f": {error}" if error else "")
                spans.append(Span("connection", client_open, time, "connection", result, detail))
                client_open = None
            if event.action == "connect" and event.result == "success":
                client_open = time
    for at, how, exited_well in pending_ends:
        cut(at, how, exited_well)
    for address, times in opened.items():
        spans.extend(
            Span("connection", t, end, "connection", "in_progress", f"{address}: never closed", True) for t in times
        )
    if client_open is not None:
        spans.append(Span("connection", client_open, end, "connection", "in_progress", "never closed", True))
    return spans


def _batch_spans(
    client_events: list[tuple[float, Event]], stored: Mapping[str, float]
) -> tuple[list[Span], Span | None]:
    """Each batch from the server storing it to the client seeing it acknowledged (none when there
    are more than ``SPANS_PER_KIND``), and one span over all of them."""
    acks = [(time, event) for time, event in client_events if event.action == "lote_confirmado"]
    if not acks:
        return [], None
    spans = []
    if len(acks) <= SPANS_PER_KIND:
        for time, event in acks:
            batch = event.fields.get("lote") or "?"
            begin = stored.get(batch, time)
            result = "success" if event.result == "success" else "fail"
            stored_before = 1000 * (time - begin)
            detail = f"{event.fields.get('cantidad')} bets, stored at the server {stored_before:.1f} ms before the ack"
            spans.append(Span("batch", begin, time, f"batch {batch}", result, detail))
    first_time, first_event = acks[0]
    first, last = stored.get(first_event.fields.get("lote") or "?", first_time), acks[-1][0]
    total = next((e.fields["total"] for _, e in reversed(acks) if e.fields.get("total")), "?")
    failed = sum(1 for _, event in acks if event.result != "success")
    summary = Span(
        "batches",
        first,
        last,
        f"{len(acks)} batches",
        "fail" if failed else "success",
        f"{len(acks)} batches acknowledged ({failed} rejected), {total} bets in all, over {last - first:.2f} s",
    )
    return spans, summary


def _winners_span(client_events: list[tuple[float, Event]]) -> Span | None:
    """From FINISHED acknowledged to the winners' answer (or its failure)."""
    finished = next((time for time, e in client_events if e.matches("finalizado", "success")), None)
    if finished is None:
        return None
    for time, event in client_events:
        if time >= finished and event.action == "consulta_ganadores" and event.result in ("success", "fail"):
            winners = event.get("cant_ganadores")
            label = f"winners: {winners}" if event.result == "success" else "winners query failed"
            detail = f"{time - finished:.2f} s from FINISHED to the answer"
            return Span("winners", finished, time, label, event.result, detail)
    return None


def _fault_windows(harness_events: list[tuple[float, Event]], end: float) -> list[FaultWindow]:
    windows = []
    active: dict[tuple[str, str], tuple[float, Event]] = {}
    for time, event in harness_events:
        if event.action != FAULT_ACTION:
            continue
        key = (event.get("kind") or "fault", event.get("service") or "?")
        phase = event.get("phase")
        if event.result == "fail":
            detail = f"{phase} failed: {event.get('error')}"
            windows.append(FaultWindow(key[0], key[1], time, time, False, detail))
        elif phase == "inject":
            if key[0] == "restart":
                windows.append(FaultWindow(key[0], key[1], time, time, True, "stopped and started in one step"))
            else:
                active[key] = (time, event)
        elif phase in ("undo", "teardown") and key in active:
            begin, injected = active.pop(key)
            after = f" after {injected.get('after')}" if injected.get("after") else ""
            how = "healed" if phase == "undo" else "left as it was at teardown"
            windows.append(FaultWindow(key[0], key[1], begin, time, phase == "undo", f"injected{after}; {how}"))
    for key, (begin, injected) in active.items():
        after = f" after {injected.get('after')}" if injected.get("after") else ""
        windows.append(FaultWindow(key[0], key[1], begin, end, False, f"injected{after}; still active at the end"))
    return sorted(windows, key=lambda window: window.start)


def _series(by_service: Mapping[str, list[tuple[float, Event]]], agencies: Mapping[str, int]) -> list[Series]:
    found = []
    for service, events in by_service.items():
        agency = agencies.get(service)
        if agency is None:
            continue
        points: list[tuple[float, int]] = []
        singles = 0
        batches = 0
        for time, event in events:
            if event.result != "success":
                continue
            if event.action == "lote_confirmado":
                batches = event.int_field("total") or batches
            elif event.action == "apuesta_enviada":
                singles += 1
            else:
                continue
            points.append((time, batches + singles))
        if points:
            found.append(Series(agency, service, _thin(points, SERIES_POINTS)))
    return sorted(found, key=lambda series: series.agency)


def _thin(points: list[tuple[float, int]], keep: int) -> list[tuple[float, int]]:
    """At most ``keep`` points, evenly chosen, the first and the last always kept."""
    if len(points) <= keep:
        return points
    step = (len(points) - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]


def build_timeline(
    lines: Sequence[TimedLine],
    exits: Sequence[ExitRecord] = (),
    *,
    phases: Mapping[str, tuple[float, float]] | None = None,
    failure: tuple[float, str] | None = None,
    log_files: Mapping[str, str] | None = None,
) -> Timeline:
    """The timeline of ``lines`` (see ``timed_lines``) and the engine's ``exits``; ``phases`` and
    ``failure`` (the time the assertion failed, its message) in UTC epoch seconds."""
    phases = dict(phases or {})
    instants = [line.time for line in lines]
    instants += [t for record in exits for t in (record.started, record.finished) if t is not None]
    instants += [t for pair in phases.values() for t in pair]
    if failure is not None:
        instants.append(failure[0])
    start = min(instants, default=0.0)
    end = max(max(instants, default=start) - start, 0.001)

    by_service: dict[str, list[TimedLine]] = defaultdict(list)
    for line in lines:
        by_service[line.service].append(line)
    exits_by_service: dict[str, list[ExitRecord]] = defaultdict(list)
    for record in exits:
        exits_by_service[record.service].append(record)
    names = sorted({HARNESS_SERVICE, *by_service, *exits_by_service}, key=lane_order)

    events_of = {
        name: [(line.time - start, line.event) for line in by_service.get(name, []) if line.event is not None]
        for name in names
    }
    configs = (line.event for line in lines if line.event is not None and line.event.action == "config")
    agencies = EventLog(configs).client_agencies()  # from each client's config line
    for name in names:
        agency = agency_from_service(name)
        if agency is not None:
            agencies.setdefault(name, agency)
    stored: dict[str, dict[str, float]] = defaultdict(dict)  # client service -> batch -> stored at
    service_of_agency = {agency: service for service, agency in agencies.items()}
    for time, event in events_of.get("server", []):
        if event.action == "apuesta_recibida" and event.result == "success" and event.get("lote"):
            service = service_of_agency.get(event.int_field("agencia") or -1)
            if service is not None:
                stored[service].setdefault(event.get("lote") or "", time)

    lanes = []
    for name in names:
        marks, densities, counts = _marks_and_densities(by_service.get(name, []), start)
        lane = Lane(name, _role(name), marks, densities, counts=counts, log_file=(log_files or {}).get(name))
        lane.spans.extend(_run_spans(exits_by_service.get(name, []), start, end))
        events = events_of[name]
        ends = [
            (record.finished - start, f"the process ended (exit {record.exit_code})", record.exit_code == 0)
            for record in exits_by_service.get(name, [])
            if record.finished is not None
        ]
        connections = _connection_spans(events, end, ends)
        lane.spans.extend(connections if len(connections) <= SPANS_PER_KIND else [])
        if lane.role == "client":
            batches, summary = _batch_spans(events, stored.get(name, {}))
            lane.spans.extend(batches)
            if summary is not None:
                lane.spans.append(summary)
            winners = _winners_span(events)
            if winners is not None:
                lane.spans.append(winners)
        lanes.append(lane)

    harness_events = events_of[HARNESS_SERVICE]
    signals = [
        Signal(time, event.get("service") or "?", event.get("signal") or "?")
        for time, event in harness_events
        if event.action == SIGNAL_ACTION
    ]
    pin = Pin(failure[0] - start, failure[1]) if failure is not None else None
    return Timeline(
        start=start,
        end=end,
        lanes=lanes,
        faults=_fault_windows(harness_events, end),
        signals=signals,
        series=_series(events_of, agencies),
        phases={name: (a - start, b - start) for name, (a, b) in phases.items()},
        pin=pin,
    )


def wall_clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
