"""Turning one service's lines into its lane: the lanes' order, the events as marks (or, past
``COLLAPSE_AT`` of one kind, as densities) and the labels of the harness lane's lines."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from harness.faults import FAULT_ACTION, HARNESS_SERVICE
from harness.logs import Event, agency_from_service
from harness.report.lines import TimedLine
from harness.report.model import COLLAPSE_AT, RESULT_CLASSES, Density, Mark, result_class
from logline.actions import SIGNAL as SIGNAL_ACTION


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


def lane_role(name: str) -> str:
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


def marks_and_densities(lines: list[TimedLine], start: float) -> tuple[list[Mark], list[Density], dict[str, int]]:
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
