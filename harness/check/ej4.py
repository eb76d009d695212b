"""Exercise 4: SIGTERM to a client mid-loop, to the server with and without clients, to all: exit 0 in time."""

from __future__ import annotations

import contextlib
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from harness.check.context import (
    Check,
    CheckContext,
    contract_problems,
    now_stamp,
    wait_for_any_line,
)
from harness.check.inputs import edit_client_config, write_agency
from harness.check.lines import shown
from harness.check.run import SutRun
from harness.logstream import sortable_timestamp
from harness.verdicts import Verdict, judge

GRACE = 10.0  # seconds between SIGTERM and "did not exit in time": `docker stop`'s default; 5 s flaked under load
START_TIMEOUT = 30
RESIGNAL_EVERY = 1.0
BUSY_LOOP = {"loop.amount": 100_000, "loop.period": "100ms"}
BUSY_ROWS = 3_000


@dataclass(frozen=True)
class Stopped:
    service: str
    code: int | None  # None: still running after GRACE (then killed)
    seconds: float
    stamp: str  # when the SIGTERM was sent, as an engine stamp
    exited_before: bool = False  # it had already ended when the signal was sent


def sigterm(run: SutRun, service: str, grace: float = GRACE) -> Stopped:
    """SIGTERM ``service`` and wait ``grace`` s for its exit code (the engine's); SIGKILL after.

    The SIGTERM is repeated every RESIGNAL_EVERY s until the exit: a container's PID 1 ignores a
    signal it has no handler for yet, so one sent just before the program installs its handler
    (e.g. right after its first log line) would be lost, and the check would blame the program."""
    container = run.cluster.container(service)
    stamp = now_stamp()
    started = time.monotonic()
    deadline = started + grace
    code: int | None = None
    while code is None:
        with contextlib.suppress(APIError):  # it may have exited meanwhile
            container.kill(signal="SIGTERM")
        remaining = deadline - time.monotonic()
        try:
            code = int(container.wait(timeout=max(0.01, min(RESIGNAL_EVERY, remaining)))["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            if remaining <= RESIGNAL_EVERY:
                break
    if code is None:
        with contextlib.suppress(APIError):
            container.kill(signal="SIGKILL")
    seconds = time.monotonic() - started
    container.reload()
    finished = str(container.attrs.get("State", {}).get("FinishedAt", ""))
    exited_before = code is not None and bool(finished) and sortable_timestamp(finished) < stamp
    return Stopped(service, code, seconds, stamp, exited_before)


def _busy_tree(tree: Path, clients: int) -> None:
    """Agencies with enough to do, and an echo loop long enough, to be mid-loop when signalled."""
    for agency in range(1, clients + 1):
        write_agency(tree / ".data", agency, BUSY_ROWS)
    edit_client_config(tree, BUSY_LOOP)


def _shutdown_verdict(name: str, run: SutRun, stopped: list[Stopped], running_before: list[str]) -> Verdict:
    log = run.log()
    problems: list[str] = []
    evidence: list[str] = []
    for stop in stopped:
        if stop.exited_before:
            problems.append(f"{stop.service} had already exited ({stop.code}) before the SIGTERM")
        elif stop.code is None:
            problems.append(f"{stop.service} did not exit within {GRACE:.0f}s of SIGTERM (killed)")
        elif stop.code != 0:
            problems.append(f"{stop.service} exited {stop.code} on SIGTERM, expected 0")
        evidence.append(
            f"{stop.service}: SIGTERM -> "
            + ("no exit" if stop.code is None else f"exit {stop.code}")
            + f" after {stop.seconds:.2f}s"
        )
        tail = log.of(stop.service)[-2:]
        evidence += shown(tail)
    first_signal = min(stop.stamp for stop in stopped)
    before = [line for line in log.lines if line.stamp < first_signal]
    line_problems, line_evidence = contract_problems(before)
    problems += [f"before the stop: {problem}" for problem in line_problems]
    broken_after = [line for line in log.broken() if line.stamp >= first_signal]
    if broken_after:
        problems.append(f"after the stop, line(s) that break the log contract: {broken_after[0].broken}")
        line_evidence += shown(broken_after[:3])
    problems += [f"{service} was not running when signalled" for service in running_before]
    expected = f"exit 0 within {GRACE:.0f}s of SIGTERM; no `result: fail` before it"
    seen = "; ".join(evidence[:1]) if not problems else ""
    return judge("ej4", name, problems, expected, seen, line_evidence + evidence)


def _not_running(run: SutRun, services: list[str]) -> list[str]:
    return [service for service in services if run.exit_code(service) is not None]


def check_sigterm_client(ctx: CheckContext) -> list[Verdict]:
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, 2)
        with ctx.run(tree, images, 2, "sigterm-client", deferred=["client2"]) as run:
            wait_for_any_line(run, "client1", START_TIMEOUT)
            idle = _not_running(run, ["client1"])
            stopped = [sigterm(run, "client1")]
            return [_shutdown_verdict("client mid-loop", run, stopped, idle)]


def check_sigterm_server(ctx: CheckContext, *, with_clients: bool) -> list[Verdict]:
    clients = 2 if with_clients else 0
    name = "server with clients" if with_clients else "server without clients"
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, clients)
        with ctx.run(tree, images, clients, name, deferred=["client2"] if with_clients else ()) as run:
            wait_for_any_line(run, "client1" if with_clients else "server", START_TIMEOUT)
            idle = _not_running(run, ["server"])
            stopped = [sigterm(run, "server")]
            return [_shutdown_verdict(name, run, stopped, idle)]


def check_sigterm_all(ctx: CheckContext) -> list[Verdict]:
    """``docker compose down -t G``'s order: the clients (at once), then the server."""
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, 3)
        with ctx.run(tree, images, 3, "sigterm-all", deferred=["client3"]) as run:
            for service in ("client1", "client2"):
                wait_for_any_line(run, service, START_TIMEOUT)
            idle = _not_running(run, ["server", "client1", "client2"])
            with ThreadPoolExecutor(max_workers=2) as pool:
                stopped = list(pool.map(lambda service: sigterm(run, service), ["client1", "client2"]))
            stopped.append(sigterm(run, "server"))
            return [_shutdown_verdict("all", run, stopped, idle)]


CHECKS: list[Check] = [
    Check(
        "ej4", "client mid-loop", "a client exits 0 on SIGTERM mid-loop, within the grace period", check_sigterm_client
    ),
    Check(
        "ej4",
        "server with clients",
        "the server exits 0 on SIGTERM while clients are connected",
        functools.partial(check_sigterm_server, with_clients=True),
    ),
    Check(
        "ej4",
        "server without clients",
        "the server exits 0 on SIGTERM with no client",
        functools.partial(check_sigterm_server, with_clients=False),
    ),
    Check("ej4", "all", "every container exits 0 when all are stopped (compose down -t)", check_sigterm_all),
]
