"""``report.html``: one self-contained page (inline CSS, JS and SVG; nothing fetched when it opens)
of a ``Timeline``, with each service's raw log saved beside it and linked.

``write_report`` is the one entry point: the pytest plugin, ``harness run --report`` and
``harness check`` all call it (``write_cluster_report`` gathers its arguments from a ``Cluster``).
Next to the page it writes ``<name>.summary.json``, which the artifacts folder's ``index.html``
(``harness.report.index``) lists.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.lifecycle import ExitRecord
from harness.logs import Event, EventLog, UnparsedLine
from harness.logstream import LogHub
from harness.report.lines import timed_lines
from harness.report.model import RESULT_CLASSES, Timeline, wall_clock
from harness.report.timeline import build_timeline

if TYPE_CHECKING:
    from harness.cluster import Cluster

OUTCOMES = ("passed", "failed", "error", "skipped", "running")
SUMMARY_SUFFIX = ".summary.json"

_environment = Environment(
    loader=PackageLoader("harness", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Failure:
    """What failed (the assertion's message) and when (UTC epoch seconds; None: at the end)."""

    message: str
    time: float | None = None


LogSource = LogHub | EventLog | Iterable[Event | UnparsedLine]


def _ms(seconds: float) -> float:
    return round(seconds, 3)


def _delta_ms(times: Sequence[float]) -> list[int]:
    """Sorted times as whole milliseconds, each the difference from the previous (small numbers)."""
    values = sorted(round(t * 1000) for t in times)
    return [value - previous for previous, value in zip([0, *values], values, strict=False)]


def timeline_data(timeline: Timeline) -> dict[str, Any]:
    """The page's data: compact (times in seconds to the millisecond, dense times delta-coded)."""
    result_index = {name: i for i, name in enumerate(RESULT_CLASSES)}
    labels: dict[str, int] = {}

    def label(text: str) -> int:
        return labels.setdefault(text, len(labels))

    lanes = []
    for lane in timeline.lanes:
        lanes.append(
            {
                "name": lane.name,
                "role": lane.role,
                "log": lane.log_file,
                "counts": lane.counts,
                "marks": [[_ms(m.time), result_index[m.result], label(m.label), m.line] for m in lane.marks],
                "dens": [
                    {
                        "label": d.label,
                        "cls": result_index[d.result],
                        "t": _delta_ms(d.times),
                        "first": d.first_line,
                        "last": d.last_line,
                    }
                    for d in lane.densities
                ],
                "spans": [
                    [s.kind, _ms(s.start), _ms(s.end), s.label, result_index[s.result], s.detail, int(s.open)]
                    for s in lane.spans
                ],
            }
        )
    return {
        "start": timeline.start,
        "end": _ms(timeline.end),
        "classes": list(RESULT_CLASSES),
        "labels": list(labels),
        "lanes": lanes,
        "faults": [
            {
                "kind": f.kind,
                "service": f.service,
                "start": _ms(f.start),
                "end": _ms(f.end),
                "healed": f.healed,
                "detail": f.detail,
            }
            for f in timeline.faults
        ],
        "signals": [[_ms(s.time), s.service, s.signal] for s in timeline.signals],
        "series": [
            {"agency": s.agency, "service": s.service, "p": [[_ms(t), v] for t, v in s.points]} for s in timeline.series
        ],
        "phases": {name: [_ms(a), _ms(b)] for name, (a, b) in timeline.phases.items()},
        "pin": None if timeline.pin is None else {"t": _ms(timeline.pin.time), "message": timeline.pin.message},
    }


def _script_json(data: object) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _raw_logs(source: LogSource) -> dict[str, list[str]]:
    if isinstance(source, LogHub):
        return {service: source.lines(service) for service in source.services()}
    if isinstance(source, EventLog):
        records: list[Event | UnparsedLine] = [*source, *source.unparsed()]
    else:
        records = list(source)
    logs: dict[str, list[str]] = {}
    for record in sorted(records, key=lambda r: r.seq):
        logs.setdefault(record.service, []).append(record.raw)
    return logs


def _safe_file_name(service: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in service) or "service"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _exit_rows(exits: Sequence[ExitRecord], start: float) -> list[dict[str, str]]:
    rows = []
    for record in sorted(exits, key=lambda r: (r.started or 0.0, r.service)):
        code = record.exit_code
        rows.append(
            {
                "service": record.service,
                "started": f"{record.started - start:.3f} s" if record.started is not None else "",
                "finished": f"{record.finished - start:.3f} s" if record.finished is not None else "running",
                "code": "" if code is None else str(code),
                "result": "in_progress" if code is None else "success" if code == 0 else "fail",
                "note": "out of memory" if record.oom_killed else "",
            }
        )
    return rows


def write_report(
    path: str | Path,
    source: LogSource,
    *,
    title: str,
    outcome: str,
    exits: Sequence[ExitRecord] = (),
    failure: Failure | None = None,
    phases: Mapping[str, tuple[float, float]] | None = None,
    seed: int | None = None,
    images: Mapping[str, str] | None = None,
    details: Mapping[str, str] | None = None,
    logs_dir: str | Path | None = None,
) -> Path:
    """Write the timeline report of ``source`` to ``path`` and each service's raw log to
    ``logs_dir`` (default: ``<path stem>-logs`` beside it); returns ``path``.

    ``source``: a ``LogHub`` (docker timestamps, exact), an ``EventLog`` or its records.
    ``exits``: the engine's exit records (``Cluster.exit_records()``). ``phases``: name ->
    (start, end), UTC epoch seconds (``up``, ``run``, ``down``). ``failure``: the failed
    assertion, pinned at its time. ``outcome``: passed, failed, error, skipped or running.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    built = time.perf_counter()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    logs_folder = Path(logs_dir) if logs_dir is not None else target.parent / f"{target.stem}-logs"
    logs_folder.mkdir(parents=True, exist_ok=True)
    log_files: dict[str, str] = {}
    for service, raw in _raw_logs(source).items():
        log_path = logs_folder / f"{_safe_file_name(service)}.log"
        log_path.write_text("\n".join(raw) + "\n", encoding="utf-8")
        log_files[service] = Path(os.path.relpath(log_path, target.parent)).as_posix()

    lines = timed_lines(source)
    failure_at = None
    if failure is not None:
        last = max((line.time for line in lines), default=time.time())
        failure_at = (failure.time if failure.time is not None else last, failure.message)
    timeline = build_timeline(lines, exits, phases=phases, failure=failure_at, log_files=log_files)
    for lane in timeline.lanes:  # a lane with exit records but no line has a log too (empty)
        if lane.log_file is None:
            log_path = logs_folder / f"{_safe_file_name(lane.name)}.log"
            if not log_path.exists():
                log_path.write_text("", encoding="utf-8")
            lane.log_file = Path(os.path.relpath(log_path, target.parent)).as_posix()

    durations = {name: _duration(b - a) for name, (a, b) in timeline.phases.items()}
    total = sum(len(lane.marks) + sum(d.count for d in lane.densities) for lane in timeline.lanes)
    page = _environment.get_template("report.html.j2").render(
        title=title,
        outcome=outcome,
        seed=seed,
        images=dict(images or {}),
        details=dict(details or {}),
        durations=durations,
        started=wall_clock(timeline.start),
        span=_duration(timeline.end),
        lanes=timeline.lanes,
        faults=timeline.faults,
        exits=_exit_rows(exits, timeline.start),
        failure=failure,
        lines_total=total,
        data=_script_json(timeline_data(timeline)),
    )
    target.write_text(page, encoding="utf-8")
    summary = {
        "title": title,
        "outcome": outcome,
        "report": target.name,
        "started": timeline.start,
        "duration": round(timeline.end, 3),
        "phases": {name: round(b - a, 3) for name, (a, b) in timeline.phases.items()},
        "failure": failure.message.splitlines()[0] if failure and failure.message else None,
        "build_seconds": round(time.perf_counter() - built, 3),
    }
    summary_path = target.with_name(target.stem + SUMMARY_SUFFIX)
    summary_path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return target


def write_cluster_report(
    path: str | Path,
    cluster: Cluster,
    *,
    title: str,
    outcome: str,
    failure: Failure | None = None,
    seed: int | None = None,
    details: Mapping[str, str] | None = None,
    logs_dir: str | Path | None = None,
) -> Path:
    """``write_report`` of a ``Cluster``: its log hub, exit records, phases and images."""
    images = {"server": cluster.images.server, "client": cluster.images.client, "base": cluster.images.base}
    if failure is not None and failure.time is None and cluster.failure is not None:
        failure = Failure(failure.message, cluster.failure[0])
    return write_report(
        path,
        cluster.hub,
        title=title,
        outcome=outcome,
        exits=cluster.exit_records(),
        failure=failure,
        phases=cluster.lifecycle.phase_times(),
        seed=seed,
        images=images,
        details={"project": cluster.project, "agencies": str(cluster.clients), **(details or {})},
        logs_dir=logs_dir,
    )
