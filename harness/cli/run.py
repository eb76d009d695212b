"""``harness run``: a cluster up, a live table of every agency's progress, the results checked
(exit codes, winners, the log contract, the stored bets), the cluster down; exit 0 only if every
check passed. ``--report FILE`` writes the run's timeline report."""

from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from collections.abc import Callable

from rich.live import Live
from rich.table import Table

from harness import data as datasets
from harness.assertions import assert_winners
from harness.cli.clusters import new_cluster
from harness.cli.console import console, err, report
from harness.cluster import Cluster, new_run_id
from harness.exits import describe_client_exit
from harness.logs import LogContractError, assert_log_contract
from harness.report import Failure, write_cluster_report


def _progress_table(
    cluster: Cluster, dataset: datasets.Dataset, exits: dict[str, int], stored: Counter[int] | None = None
) -> Table:
    """One row per agency; ``stored`` (rows per agency in the store) once the run is over."""
    table = Table(title=f"{cluster.project}: {len(dataset.agencies)} agencies, {dataset.total_bets} bets")
    columns = ["agency", "bets sent", "acknowledged", *(["stored"] if stored is not None else []), "winners", "status"]
    for column in columns:
        table.add_column(column, justify="right" if column != "status" else "left")
    events = cluster.events()
    acknowledged = events.acknowledged_by_agency()
    winners = events.winners_by_agency()
    for agency in range(1, cluster.clients + 1):
        service = f"client{agency}"
        code = exits.get(service)
        status = "running" if code is None else ("done" if code == 0 else f"exit {code}")
        found = winners.get(agency)
        cells = [str(agency), str(dataset.bets_per_agency.get(agency, 0)), str(acknowledged.get(agency, 0))]
        if stored is not None:
            cells.append(str(stored.get(agency, 0)))
        cells += ["-" if found is None else str(len(found)), status]
        table.add_row(*cells)
    return table


def _watch(
    cluster: Cluster, dataset: datasets.Dataset, timeout: float, render: Callable[[Table], None]
) -> dict[str, int]:
    """Poll exits until every client ended, one failed, or ``timeout``; returns exit codes seen."""
    deadline = time.monotonic() + timeout
    exits: dict[str, int] = {}
    while time.monotonic() < deadline:
        for service, container in cluster.containers().items():
            if service.startswith("client") and container.status == "exited":
                exits[service] = int(container.attrs["State"]["ExitCode"])
        render(_progress_table(cluster, dataset, exits))
        if len(exits) == cluster.clients or any(code != 0 for code in exits.values()):
            break
        time.sleep(0.25)
    return exits


def cmd_run(args: argparse.Namespace) -> int:
    run_id = new_run_id()
    started = time.monotonic()
    cluster, dataset = new_cluster(args, run_id)
    problems: list[str] = []
    crashed: BaseException | None = None
    try:
        cluster.up()
        report(f"cluster {cluster.project} up in {time.monotonic() - started:.1f}s")
        if console.is_terminal:
            with Live(console=console, refresh_per_second=4) as live:
                exits = _watch(cluster, dataset, args.timeout, live.update)
        else:
            exits = _watch(cluster, dataset, args.timeout, lambda table: None)
        missing = [s for s in cluster.client_services if s not in exits]
        failed = {s: code for s, code in exits.items() if code != 0}
        if failed:
            waiting = [s for s in cluster.client_services if s not in exits]
            reasons = "; ".join(describe_client_exit(s, code, cluster.events(), waiting) for s, code in failed.items())
            problems.append(f"clients exited non-zero: {failed}: {reasons}")
        if missing and not failed:
            problems.append(f"clients still running after {args.timeout}s: {', '.join(missing)}")
        if not failed and not missing:
            try:
                assert_winners(cluster.events(), dataset.expected_winners)
            except AssertionError as exc:
                problems.append(str(exc))
        try:
            assert_log_contract(cluster.events())  # a line the course's parser rejects fails the run
        except LogContractError as exc:
            problems.append(str(exc))
        stored = Counter(bet.agency for bet in cluster.read_store())
        if not problems and stored.total() != dataset.total_bets:
            problems.append(f"{stored.total()} bets stored, {dataset.total_bets} sent")
        table = _progress_table(cluster, dataset, exits, stored)
        table.caption = f"stored: {stored.total()} bets; draws: {cluster.events().count('sorteo', 'success')}"
        console.print(table)
    except BaseException as exc:
        crashed = exc
        raise
    finally:
        cluster.down()
        if args.report:
            _write_run_report(args, cluster, problems, crashed)
        shutil.rmtree(cluster.workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    for problem in problems:
        err.print(f"[red]harness: {problem}[/red]", markup=True)
    console.print(f"{'FAILED' if problems else 'OK'} in {elapsed:.1f}s")
    return 1 if problems else 0


def _write_run_report(
    args: argparse.Namespace, cluster: Cluster, problems: list[str], crashed: BaseException | None
) -> None:
    """``--report FILE``: the run's timeline; a failure to write it is said, never raised."""
    if crashed is not None:
        outcome, failure = "error", Failure(f"{type(crashed).__name__}: {crashed}")
    elif problems:
        outcome, failure = "failed", Failure("\n".join(problems))
    else:
        outcome, failure = "passed", None
    try:
        path = write_cluster_report(
            args.report,
            cluster,
            title=f"harness run --clients {args.clients}" + (f" --data {args.data}" if args.data else ""),
            outcome=outcome,
            failure=failure,
            seed=None if args.data else args.seed,
        )
    except Exception as exc:
        err.print(f"harness: report not written: {type(exc).__name__}: {exc}", markup=False)
        return
    report(f"report: {path}")
