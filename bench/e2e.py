"""Part 2, end to end on the course's dataset in containers (images cached).

The clock starts when ``Cluster.up()`` returns. The phases come from the services' own log
timestamps (the containers share the host's clock; the log's ``asctime`` is UTC with
millisecond resolution): the server's first ``apuesta_recibida`` (first bet stored), the
clients' last ``lote_confirmado`` (last ACK), the server's ``sorteo`` (draw) and the
clients' last ``consulta_ganadores | result: success`` (last winners). Times are seconds
after ``up()`` returned; the first bet may come before it, since the clients start while
``up()`` is still listing containers and attaching log readers.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import BenchError, PartResult, Report, Row, median_row
from bench.containers import bench_cluster, event_epoch, images
from harness import data as datasets
from harness.assertions import assert_winners

CLIENT_TIMEOUT = 120.0

COLUMNS = [
    "agencies",
    "bets",
    "up_s",
    "first_bet_s",
    "last_ack_s",
    "draw_s",
    "last_winners_s",
    "draw_to_last_winners_s",
    "down_s",
]


def run_once(dataset: datasets.Dataset, workdir: Path) -> Row:
    clients = len(dataset.agencies)
    with bench_cluster(clients, dataset, workdir) as cluster:
        started = time.time()
        cluster.up()
        up_at = time.time()
        cluster.wait_exit_all_clients(timeout=CLIENT_TIMEOUT)
        events = cluster.events()
        assert_winners(events, dataset.expected_winners)
        stored = len(cluster.read_store())
        if stored != dataset.total_bets:
            raise BenchError(f"{stored} bets stored, {dataset.total_bets} sent")
        server = events.filter(service="server")
        clients_events = [e for e in events if e.service != "server"]
        marks = {
            "first_bet": event_epoch(server.first("apuesta_recibida", "success")),
            "last_ack": max(event_epoch(e) or 0 for e in clients_events if e.matches("lote_confirmado", "success")),
            "draw": event_epoch(server.first("sorteo", "success")),
            "last_winners": max(
                event_epoch(e) or 0
                for e in clients_events
                if e.matches("consulta_ganadores", "success") and "agencia" not in e.fields
            ),
        }
        if any(mark is None for mark in marks.values()):
            raise BenchError(f"missing events: {marks}")
        downing = time.time()
    down_s = time.time() - downing
    row = {"agencies": clients, "bets": dataset.total_bets, "up_s": round(up_at - started, 3)}
    for name, mark in marks.items():
        row[f"{name}_s"] = round(mark - up_at, 3)  # type: ignore[operator]
    row["draw_to_last_winners_s"] = round(marks["last_winners"] - marks["draw"], 3)  # type: ignore[operator]
    row["down_s"] = round(down_s, 3)
    return row


def run(runs: int, report: Report, source: Path | None = None) -> PartResult:
    part = PartResult("e2e", "End to end, the course's dataset, in containers", COLUMNS)
    source = source or datasets.real_dataset_path()
    if source is None:
        part.notes.append("skipped: the course's dataset (../shared/data/tp0-dataset.zip) is not present")
        report("e2e: skipped, no dataset")
        return part
    images()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        dataset = datasets.load(source, Path(tmp) / "data")
        part.notes.append(
            f"dataset {source.name}: {len(dataset.agencies)} agencies, {dataset.total_bets} bets; "
            "times in seconds after up() returned, from the services' log timestamps (ms)"
        )
        for attempt in range(runs):
            row = run_once(dataset, Path(tmp) / f"run-{attempt}")
            report(
                f"e2e run {attempt + 1}/{runs}: last winners at {row['last_winners_s']:.3f}s "
                f"(first bet {row['first_bet_s']:.3f}, last ACK {row['last_ack_s']:.3f}, draw {row['draw_s']:.3f}), "
                f"up {row['up_s']:.2f}s"
            )
            part.runs.append(row)
    part.rows.append(median_row(part.runs, ["agencies", "bets"], COLUMNS[2:]))
    return part
