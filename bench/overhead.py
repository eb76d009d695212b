"""Part 4, the harness's own cost: a no-op scenario's render, up and down (images cached).

The scenario does nothing between ``up()`` and ``down()``: what a test pays before its first
line and after its last. The clients get a one-bet file each; whatever they are doing when
``down()`` comes, they are stopped gracefully (SIGTERM, SIGKILL after the grace period).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import PartResult, Report, Row, median_row
from bench.containers import bench_cluster, images
from harness import data as datasets

COLUMNS = ["clients", "render_s", "up_s", "down_s", "total_s"]


def run_once(clients: int, dataset: datasets.Dataset, workdir: Path) -> Row:
    with bench_cluster(clients, dataset, workdir) as cluster:
        started = time.perf_counter()
        cluster.render()
        rendered = time.perf_counter()
        cluster.up()
        up = time.perf_counter()
        cluster.down()
        down = time.perf_counter()
    return {
        "clients": clients,
        "render_s": round(rendered - started, 3),
        "up_s": round(up - rendered, 3),
        "down_s": round(down - up, 3),
        "total_s": round(down - started, 3),
    }


def run(client_counts: list[int], runs: int, report: Report) -> PartResult:
    part = PartResult("overhead", "Harness overhead: a no-op scenario (render, up, down), images cached", COLUMNS)
    part.notes.append("each client has a one-bet file; down() stops gracefully (SIGTERM, grace 10 s) and removes all")
    images()
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for clients in client_counts:
            dataset = datasets.generate(Path(tmp) / f"data-{clients}", clients, 1)
            rows = []
            for attempt in range(runs):
                row = run_once(clients, dataset, Path(tmp) / f"run-{clients}-{attempt}")
                report(
                    f"overhead clients={clients} run {attempt + 1}/{runs}: total {row['total_s']:.2f}s "
                    f"(up {row['up_s']:.2f}, down {row['down_s']:.2f})"
                )
                rows.append(row)
            part.runs.extend(rows)
            part.rows.append(median_row(rows, ["clients"], COLUMNS[1:]))
    return part
