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

``lines.timed_lines`` gives every line a time and ``timeline.build_timeline`` builds the
``Timeline`` (its lanes by ``lanes``, its spans by ``spans``); this module holds the types and
the limits they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

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


def wall_clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
