"""What the engine says about a cluster's life: when each container started and how it ended, and
how long the cluster took to come up, to run and to go down. The timeline report draws both.

Times are UTC epoch seconds (floats), the clock of the containers' log timestamps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_NEVER = "0001-01-01"  # the engine's zero time: not started / not finished


@dataclass(frozen=True)
class ExitRecord:
    """One run of one container: started, and (unless still running) finished with a code."""

    service: str
    started: float | None
    finished: float | None
    exit_code: int | None
    oom_killed: bool = False

    @property
    def running(self) -> bool:
        return self.finished is None


def engine_time(value: str | None) -> float | None:
    """The engine's RFC 3339 time (nanoseconds, ``Z``) as epoch seconds; None for its zero time."""
    if not value or value.startswith(_NEVER):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def exit_record(service: str, state: Mapping[str, Any]) -> ExitRecord:
    """An ``ExitRecord`` of a container's inspected ``State``."""
    finished = engine_time(state.get("FinishedAt"))
    running = bool(state.get("Running")) or state.get("Status") in ("running", "paused", "restarting")
    if running:
        finished = None
    code = state.get("ExitCode")
    return ExitRecord(
        service=service,
        started=engine_time(state.get("StartedAt")),
        finished=finished,
        exit_code=None if finished is None or code is None else int(code),
        oom_killed=bool(state.get("OOMKilled")),
    )


class Lifecycle:
    """A cluster's exit records (one per container run, newest kept) and its phase times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exits: dict[tuple[str, float | None], ExitRecord] = {}
        self.phases: dict[str, list[float]] = {}  # "up" / "down" -> [start, end]; end missing while under way

    def begin(self, phase: str) -> None:
        with self._lock:
            self.phases[phase] = [time.time()]

    def end(self, phase: str) -> None:
        with self._lock:
            times = self.phases.get(phase)
            if times is not None and len(times) == 1:
                times.append(time.time())

    def record(self, service: str, state: Mapping[str, Any] | None) -> None:
        """Keep what an inspection says; a later inspection of the same run replaces an earlier one."""
        if not state:
            return
        found = exit_record(service, state)
        if found.started is None:
            return  # created, never started
        with self._lock:
            self._exits[(service, found.started)] = found

    def exits(self) -> list[ExitRecord]:
        with self._lock:
            return sorted(self._exits.values(), key=lambda r: (r.started or 0.0, r.service))

    def phase_times(self) -> dict[str, tuple[float, float]]:
        """Finished phases, plus ``run`` (from the end of ``up`` to the start of ``down``)."""
        with self._lock:
            done = {name: (times[0], times[1]) for name, times in self.phases.items() if len(times) == 2}
            up, down = self.phases.get("up"), self.phases.get("down")
        if up is not None and len(up) == 2:
            done["run"] = (up[1], down[0] if down else time.time())
        return done
