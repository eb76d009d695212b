"""Part 3, scale: N agencies, each in its own container, on this machine.

For each N: ``up()`` time, the time from ``up()`` returning to the last client's exit (and to
the draw, from the server's log), ``down()``
time, the whole wall time, the server container's peak memory and each client container's
(the working set ``docker stats`` shows: usage minus inactive file cache, sampled from the
containers' cgroups every 0.1-0.5 s). Per-client cost: the slope of the wall time over N
(least squares), and the mean client peak memory. Every run checks the winners and the store.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchError, PartResult, Report, Row, median_row
from bench.containers import MemorySampler, bench_cluster, event_epoch, images
from harness import data as datasets
from harness.assertions import assert_winners
from harness.engine import NetworkLeftByEngine

MiB = 2**20
COLUMNS = [
    "clients",
    "bets_each",
    "up_s",
    "run_s",
    "draw_s",
    "down_s",
    "wall_s",
    "server_peak_mib",
    "client_peak_mib",
]


def run_once(dataset: datasets.Dataset, workdir: Path, **cluster_options: Any) -> Row:
    clients = len(dataset.agencies)
    timeout = 120 + 3 * clients
    with bench_cluster(clients, dataset, workdir, **cluster_options) as cluster:
        started = time.perf_counter()
        cluster.up()
        up = time.perf_counter()
        up_epoch = time.time()
        sampler = MemorySampler(cluster, interval=max(0.1, 0.005 * (clients + 1)), max_seconds=timeout + 60)
        sampler.start()
        try:
            cluster.wait_exit_all_clients(timeout=timeout)
        finally:
            peaks = sampler.stop()
        finished = time.perf_counter()
        events = cluster.events()
        assert_winners(events, dataset.expected_winners)
        draw = event_epoch(events.first("sorteo", "success", service="server"))
        stored = len(cluster.read_store())
        if stored != dataset.total_bets:
            raise BenchError(f"{stored} bets stored, {dataset.total_bets} sent")
        down_error = None
        try:
            cluster.down()
        except NetworkLeftByEngine as exc:  # the run is done and measured; the engine's bug, not the system's
            down_error = f"down(): {str(exc).splitlines()[0][:200]}"
        down = time.perf_counter()
    client_peaks = [value for service, value in peaks.items() if service != "server"]
    return {
        "clients": clients,
        "bets_each": dataset.bets_per_agency[dataset.agencies[0]],
        "up_s": round(up - started, 3),
        "run_s": round(finished - up, 3),
        "draw_s": round(draw - up_epoch, 3) if draw is not None else None,
        "down_s": round(down - finished, 3),
        "wall_s": round(down - started, 3),
        "server_peak_mib": round(peaks["server"] / MiB, 1) if "server" in peaks else None,
        "client_peak_mib": round(statistics.mean(client_peaks) / MiB, 1) if client_peaks else None,
        "memory_source": sampler.source,
        "down_error": down_error,
    }


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return None
    mean_x = statistics.mean(x for x, _ in points)
    mean_y = statistics.mean(y for _, y in points)
    denominator = sum((x - mean_x) ** 2 for x, _ in points)
    if denominator == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / denominator


def run(client_counts: list[int], bets_each: int, runs: int, report: Report) -> PartResult:
    part = PartResult("scale", "Scale: N agencies in containers on this machine", COLUMNS)
    images()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for clients in client_counts:
            winners = {agency: agency % 3 for agency in range(1, clients + 1)}
            dataset = datasets.generate(Path(tmp) / f"data-{clients}", clients, bets_each, winners=winners)
            rows = []
            for attempt in range(runs):
                row = run_once(dataset, Path(tmp) / f"run-{clients}-{attempt}")
                report(
                    f"scale clients={clients} run {attempt + 1}/{runs}: wall {row['wall_s']:.2f}s "
                    f"(up {row['up_s']:.2f}, run {row['run_s']:.2f}, down {row['down_s']:.2f}); "
                    f"server peak {row['server_peak_mib']} MiB, client peak {row['client_peak_mib']} MiB"
                )
                rows.append(row)
            part.runs.extend(rows)
            part.rows.append(median_row(rows, ["clients", "bets_each"], COLUMNS[2:]))
    per_client = {
        name: slope([(row["clients"], row[name]) for row in part.rows if row[name] is not None])
        for name in ("wall_s", "up_s", "down_s")
    }
    memory = [row["client_peak_mib"] for row in part.rows if row["client_peak_mib"] is not None]
    summary = ", ".join(f"{name} {value:.3f} s" for name, value in per_client.items() if value is not None)
    if summary:
        part.notes.append(f"per extra client (least-squares slope over N): {summary}")
    if memory:
        part.notes.append(f"client container peak memory, mean over the runs: {statistics.mean(memory):.1f} MiB")
    part.notes.append(f"memory sampled from the containers' cgroups ({part.runs[0].get('memory_source', '?')})")
    return part
