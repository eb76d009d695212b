"""What every benchmark part shares: results, medians, the machine and how busy it was."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.labels import BENCH_LABEL

REPO_ROOT = Path(__file__).resolve().parent.parent
Row = dict[str, Any]
Report = Callable[[str], None]


class BenchError(RuntimeError):
    """A benchmark could not produce a figure (the system failed, or a bound was hit)."""


@dataclass
class PartResult:
    """One part: its table (one row per configuration, medians of the runs) and every run."""

    name: str
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    runs: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "runs": self.runs, "notes": self.notes}


def median_row(runs: Sequence[Row], keys: Iterable[str], numeric: Iterable[str]) -> Row:
    """The configuration ``keys`` of the first run plus the median of each ``numeric`` field."""
    first = runs[0]
    row: Row = {key: first[key] for key in keys}
    for name in numeric:
        values = [run[name] for run in runs if run.get(name) is not None]
        row[name] = round(statistics.median(values), 4) if values else None
    row["runs"] = len(runs)
    return row


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))  # the smallest value with at least that share at or below it
    return ordered[min(len(ordered), max(1, rank)) - 1]


# -- the machine --------------------------------------------------------------------------


def _first_line(path: str, prefix: str) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as file:
        for line in file:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "?"


def _docker_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=10
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return "?"


def machine() -> Row:
    memory_kb = _first_line("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kb) / 2**20, 1) if memory_kb.isdigit() else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": _docker_version(),
    }


def _pytest_processes() -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if any(b"pytest" in part for part in cmdline[:3]):
                count += 1
    return count


def _foreign_containers(own_label: str | None) -> int | None:
    """Running containers that are not this benchmark's (None: no engine)."""
    with contextlib.suppress(Exception):
        from harness.engine import docker_client

        containers = docker_client().containers.list(ignore_removed=True)
        return sum(1 for c in containers if own_label is None or own_label not in c.labels)
    return None


def cpu_calibration_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 3): how fast a core is right now. On a
    shared VM it moves with the host's load, which no load average inside shows."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for value in range(1_000_000):
            total += value
        best = min(best, time.perf_counter() - started)
    return round(best * 1e3, 1)


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores were busy (not idle nor waiting for I/O) over the next ``seconds``: unlike
    the load average, this does not still count the benchmark's own previous part."""

    def ticks() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as file:
            values = [int(value) for value in file.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values) - idle, sum(values)

    try:
        busy_before, all_before = ticks()
        time.sleep(seconds)
        busy_after, all_after = ticks()
    except (OSError, ValueError, IndexError):
        return 0.0
    share = (busy_after - busy_before) / max(1, all_after - all_before)
    return round(share * (os.cpu_count() or 1), 2)


@dataclass
class Load:
    load1: float
    load5: float
    pytest_processes: int
    foreign_containers: int | None
    calibration_ms: float = 0.0
    busy_cores: float = 0.0

    @property
    def quiet(self) -> bool:
        """Nothing else running: no other test run, no other container, the cores idle."""
        return self.busy_cores < 0.3 and self.pytest_processes == 0 and not self.foreign_containers

    def describe(self) -> str:
        containers = "?" if self.foreign_containers is None else self.foreign_containers
        return (
            f"busy cores {self.busy_cores:.2f}, load {self.load1:.2f}/{self.load5:.2f} (1/5 min), "
            f"other containers {containers}, "
            f"pytest processes {self.pytest_processes}, cpu calibration {self.calibration_ms} ms"
        )

    def as_json(self) -> Row:
        return {
            "load1": self.load1,
            "load5": self.load5,
            "pytest_processes": self.pytest_processes,
            "foreign_containers": self.foreign_containers,
            "calibration_ms": self.calibration_ms,
            "busy_cores": self.busy_cores,
            "quiet": self.quiet,
        }


def load(own_label: str | None = BENCH_LABEL) -> Load:
    busy = busy_cores()
    load1, load5, _ = os.getloadavg()
    return Load(load1, load5, _pytest_processes(), _foreign_containers(own_label), cpu_calibration_ms(), busy)


def wait_quiet(timeout: float, report: Report, poll: float = 60.0) -> Load:
    """Poll until the machine is quiet or ``timeout`` seconds passed; the last reading."""
    deadline = time.monotonic() + timeout
    current = load()
    while not current.quiet and time.monotonic() < deadline:
        report(f"machine busy ({current.describe()}): waiting")
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        current = load()
    return current


def failure(exc: BaseException) -> str:
    """What failed first, and what failed after it: an error while tearing down (a network the
    engine keeps) must not hide the run's own failure that led to the teardown. Each as
    ``Type: message`` (a ``BenchError`` says its message alone)."""

    def said(error: BaseException) -> str:
        return str(error) if isinstance(error, BenchError) else f"{type(error).__name__}: {error}"

    first = exc
    while first.__context__ is not None:
        first = first.__context__
    if first is exc:
        return said(exc)
    return f"{said(first)}\n(then, tearing down: {said(exc).splitlines()[0]})"
