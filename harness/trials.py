"""Randomized shutdown trials: SIGTERM a random service at a random event, on one reused cluster.

A trial empties the store, starts every service, picks (from its seed alone) a target service
and a number k, sends SIGTERM to the target at the k-th event counted from the target's first
line (its signal handlers are installed by then), then stops the rest the same way. Every
service must exit 0 within ``grace`` with its ``shutdown`` line, and no acknowledged bet may be
lost or duplicated (``check_acknowledged_bets_stored`` on the trial's own events). The checks of a
trial are verdicts (``harness.verdicts``), merged: a failing trial names every problem it found,
not only the first.

A failing trial raises ``TrialFailed`` naming its seed: ``--harness-seed SEED --harness-trials 1``
replays it (the choices are the seed's; the interleaving of the services is the engine's).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from docker.errors import APIError

from harness.assertions import check_acknowledged_bets_stored, check_graceful_exit
from harness.data import Dataset
from harness.faults import HARNESS_SERVICE, FaultError, Terminate
from harness.logs import Event, EventLog
from harness.logstream import EventPredicate
from harness.verdicts import Verdict, merge

if TYPE_CHECKING:
    from harness.cluster import Cluster

MAX_TRIGGER_EVENTS = 40
CONFLICT = 409
START_TIMEOUT = 60


class TrialFailed(AssertionError):
    """A trial that failed; ``verdict`` holds every problem its checks found (None: a wait failed)."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass
class TrialResult:
    trial: int
    seed: int
    target: str
    after_events: int
    trigger: str = ""  # the event the SIGTERM followed
    delivered: bool = False  # False: the target's part was over (it ended, or every client did)
    acknowledged: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    verdict: Verdict | None = None  # the trial's checks, merged

    def __str__(self) -> str:
        what = f"SIGTERM to {self.target} after {self.trigger!r}"
        if not self.delivered:
            what += " (its run was over)"
        return (
            f"trial {self.trial} (seed {self.seed}): {what}; {sum(self.acknowledged.values())} bets "
            f"acknowledged, all stored once; {self.seconds:.1f}s"
        )


def kth_event(target: str, k: int, clients: list[str]) -> EventPredicate:
    """True at the k-th event from the target's first line on, or when the target's part is over
    (the target client's own end; for the server, the end of every client)."""
    counted = 0
    ended: set[str] = set()

    def predicate(event: Event) -> bool:
        nonlocal counted
        if event.service == HARNESS_SERVICE:
            return False
        if event.matches("shutdown", "success") and event.service in clients:
            ended.add(event.service)
            if event.service == target or ended >= set(clients):
                return True
        if counted == 0 and event.service != target:
            return False
        counted += 1
        return counted >= k

    return predicate


def _first_line(cluster: Cluster, service: str, since: int) -> None:
    """Wait for ``service``'s first event of this trial: from then on it handles SIGTERM."""
    cluster.wait_for(lambda e: e.service == service, START_TIMEOUT, f"{service}'s first line", since=since)


def _sigterm_unless_ended(cluster: Cluster, service: str) -> None:
    """SIGTERM ``service``; it may have ended by itself meanwhile (the engine then says 409)."""
    try:
        cluster.signal(service, "SIGTERM")
    except APIError as exc:
        if exc.status_code != CONFLICT or cluster.status(service) == "running":
            raise


def reset_storage(cluster: Cluster) -> None:
    """Remove the server's files (it must be stopped): the next start is a fresh lottery."""
    cluster.storage_dir.mkdir(parents=True, exist_ok=True)
    for path in cluster.storage_dir.iterdir():
        if path.is_file():
            path.unlink()


def sigterm_trial(cluster: Cluster, dataset: Dataset, trial: int, seed: int, grace: float = 10) -> TrialResult:
    """One trial on a cluster whose services are all stopped; they are all stopped again after it."""
    rng = random.Random(seed)
    services = ["server", *cluster.client_services]
    result = TrialResult(trial, seed, rng.choice(services), rng.randint(1, MAX_TRIGGER_EVENTS))
    started = time.monotonic()
    reset_storage(cluster)
    mark = cluster.mark()

    def window() -> EventLog:
        return EventLog(cluster.events()[mark:])

    cluster.note("trial", "in_progress", trial=trial, seed=seed, target=result.target, after_events=result.after_events)
    try:
        cluster.start(*services)
        fault = Terminate(result.target)
        try:
            cluster.inject(
                fault,
                after=kth_event(result.target, result.after_events, cluster.client_services),
                timeout=START_TIMEOUT,
                since=mark,
            )
            trigger = fault.trigger
            result.trigger = f"{trigger.service}: {trigger.action}" if trigger else ""
            result.delivered = trigger is not None and not trigger.matches("shutdown")  # not at a natural end
        except FaultError:
            if cluster.status(result.target) == "running":
                raise
        # wait_exit first: it also reads the service's log to its end, so the window holds its last line
        cluster.wait_exit(result.target, grace)
        verdicts = [check_graceful_exit(cluster, result.target, grace, events=window())]
        rest = [s for s in services if s != result.target and cluster.status(s) == "running"]
        for service in rest:
            _first_line(cluster, service, mark)
            _sigterm_unless_ended(cluster, service)
        others = [s for s in services if s != result.target]
        for service in others:  # those that ended by themselves too
            cluster.wait_exit(service, grace)
        ended = window()
        verdicts += [check_graceful_exit(cluster, service, grace, events=ended) for service in others]
        verdicts.append(check_acknowledged_bets_stored(cluster, dataset, events=window()))
        result.acknowledged = window().acknowledged_by_agency()
        verdict = result.verdict = merge(verdicts, "trial", f"trial {trial}", "every check of the trial passes")
        fault.teardown()
    except Exception as exc:  # a wait that timed out, an engine error
        cluster.note("trial", "fail", trial=trial, seed=seed)
        raise TrialFailed(f"{_failed(result)}\n{exc}") from exc
    if not verdict.passed:
        cluster.note("trial", "fail", trial=trial, seed=seed)
        raise TrialFailed(f"{_failed(result)}\n{verdict.message(evidence_lines=None)}", verdict)
    result.seconds = time.monotonic() - started
    cluster.note("trial", "success", trial=trial, seed=seed, delivered=result.delivered)
    return result


def _failed(result: TrialResult) -> str:
    return (
        f"trial {result.trial} failed (seed {result.seed}: SIGTERM to {result.target} after {result.after_events} "
        f"events); replay it with --harness-seed {result.seed} --harness-trials 1"
    )
