"""Building the ``Timeline`` of a run from its timed lines (``harness.report.lines``) and the
engine's exit records: a lane per service (``lanes``) with its spans (``spans``), the signals,
the failed assertion's pin and the acknowledged bets of each agency over time (``Series``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from harness.faults import HARNESS_SERVICE
from harness.lifecycle import ExitRecord
from harness.logs import Event, EventLog, agency_from_service
from harness.report.lanes import lane_order, lane_role, marks_and_densities
from harness.report.lines import TimedLine
from harness.report.model import SERIES_POINTS, SPANS_PER_KIND, Lane, Pin, Series, Signal, Timeline
from harness.report.spans import batch_spans, connection_spans, fault_windows, run_spans, winners_span
from logline.actions import SIGNAL as SIGNAL_ACTION


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
        marks, densities, counts = marks_and_densities(by_service.get(name, []), start)
        lane = Lane(name, lane_role(name), marks, densities, counts=counts, log_file=(log_files or {}).get(name))
        lane.spans.extend(run_spans(exits_by_service.get(name, []), start, end))
        events = events_of[name]
        ends = [
            (record.finished - start, f"the process ended (exit {record.exit_code})", record.exit_code == 0)
            for record in exits_by_service.get(name, [])
            if record.finished is not None
        ]
        connections = connection_spans(events, end, ends)
        lane.spans.extend(connections if len(connections) <= SPANS_PER_KIND else [])
        if lane.role == "client":
            batches, summary = batch_spans(events, stored.get(name, {}))
            lane.spans.extend(batches)
            if summary is not None:
                lane.spans.append(summary)
            winners = winners_span(events)
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
        faults=fault_windows(harness_events, end),
        signals=signals,
        series=_series(events_of, agencies),
        phases={name: (a - start, b - start) for name, (a, b) in phases.items()},
        pin=pin,
    )
