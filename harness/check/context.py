"""What a check gets: scratch trees of its exercise, the images built from them, runs, and helpers
that turn waits into verdict problems instead of exceptions."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from docker.errors import APIError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from harness.check.build import SutImages, build_sut_images
from harness.check.lines import Line, parse_contract_line
from harness.check.run import SutRun
from harness.check.sut import Sut, tree_digest
from harness.cluster_errors import ClusterError
from harness.logstream import sortable_timestamp
from harness.verdicts import Verdict

Report = Callable[[str], None]

_images: dict[str, SutImages] = {}
_images_lock = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}


def now_stamp() -> str:
    """The engine's clock as a sortable log stamp (the engine runs on this machine)."""
    return sortable_timestamp(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


@dataclass
class CheckContext:
    sut: Sut
    exercise: str
    workdir: Path
    artifacts: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    report: Report = lambda _: None
    labels: Mapping[str, str] = field(default_factory=dict)
    _runs: int = 0

    @contextlib.contextmanager
    def tree(self) -> Iterator[Path]:
        """A fresh scratch copy of the exercise's tree (removed afterwards)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.sut.scratch(self.exercise, parent=self.workdir) as tree:
            yield tree

    def images(self, tree: Path) -> SutImages:
        """The images of ``tree`` (call before editing it): built once per tree content, also
        when several checks ask at once."""
        digest = tree_digest(tree)
        with _images_lock:
            lock = _build_locks.setdefault(digest, threading.Lock())
        with lock:
            if digest not in _images:
                _images[digest] = build_sut_images(tree, digest, self.build_args, self.report)
            return _images[digest]

    def run(
        self,
        tree: Path,
        images: SutImages,
        clients: int,
        name: str,
        *,
        environment: Mapping[str, Mapping[str, str]] | None = None,
        deferred: Sequence[str] = (),
    ) -> SutRun:
        self._runs += 1
        slug = f"{name.replace(' ', '-').replace('/', '-')}-{self._runs}"
        return SutRun(
            tree,
            images,
            clients=clients,
            workdir=tree.parent / f"run-{slug}",
            labels=self.labels,
            environment=environment,
            deferred=deferred,
            artifacts=self.artifacts / self.exercise / slug if self.artifacts else None,
        )


# -- waits that end in problems, never in exceptions --------------------------------------


def wait_clients(run: SutRun, services: Sequence[str], timeout: float) -> tuple[dict[str, int], list[str]]:
    """Each service's exit code (the engine's), waiting at most ``timeout`` s in all; problems
    name the services that did not exit, or exited non-zero."""
    deadline = time.monotonic() + timeout
    codes: dict[str, int] = {}
    problems: list[str] = []
    containers = run.cluster.containers()  # one listing, not one per service
    for service in services:
        container = containers.get(service)
        if container is None:
            problems.append(f"no service {service} in the cluster")
            continue
        try:
            result = container.wait(timeout=max(0.01, deadline - time.monotonic()))
            codes[service] = int(result["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            problems.append(f"{service} did not exit within {timeout:.0f}s")
            continue
        except (APIError, ClusterError) as exc:
            problems.append(f"{service}: {exc}")
            continue
        if codes[service] != 0:
            last = run.cluster.hub.lines(service)[-1:] or ["(no output)"]
            problems.append(f"{service} exited {codes[service]}, expected 0 (its last line: {last[0].strip()})")
    return codes, problems


def wait_for_line(
    run: SutRun, timeout: float, action: str, result: str | None = None, service: str | None = None, **fields: object
) -> Line | None:
    """The first line (live, any container) with that action/result/fields, or None after ``timeout``."""

    def matches(line_service: str, text: str) -> bool:
        if service is not None and line_service != service:
            return False
        event = parse_contract_line(text, line_service)
        return event is not None and event.matches(action, result, None, **fields)

    found = run.cluster.hub.wait_for_line(matches, timeout)
    if found is None:
        return None
    line_service, text = found
    return Line(line_service, "", text, parse_contract_line(text, line_service))


def wait_for_any_line(run: SutRun, service: str, timeout: float) -> bool:
    """Whether ``service`` printed anything within ``timeout`` (its handlers are then installed)."""
    return run.cluster.hub.wait_for_line(lambda s, text: s == service and bool(text.strip()), timeout) is not None


def contract_problems(lines: Sequence[Line]) -> tuple[list[str], list[str]]:
    """(problems, evidence) for lines that break the log contract (a result word outside
    success/fail/in_progress...), and ``result: fail`` lines of a happy path."""
    problems: list[str] = []
    evidence: list[str] = []
    broken = [line for line in lines if line.broken is not None]
    if broken:
        reasons = list(dict.fromkeys(line.broken or "" for line in broken))
        problems.append(f"{len(broken)} line(s) break the log contract: {'; '.join(reasons[:3])}")
        evidence += [line.shown() for line in broken[:5]]
    failed = [line for line in lines if line.event is not None and line.event.result == "fail"]
    if failed:
        problems.append(f"{len(failed)} `result: fail` line(s) in a run that should have none")
        evidence += [line.shown() for line in failed[:5]]
    return problems, evidence


@dataclass(frozen=True)
class Check:
    """One row group of the table: ``run(ctx)`` returns the verdicts of what it proves."""

    exercise: str
    name: str
    proves: str
    run: Callable[[CheckContext], list[Verdict]]

    @property
    def key(self) -> str:
        return f"{self.exercise}/{self.name}"
