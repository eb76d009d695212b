"""Part swarm-scale: N agencies on Docker Swarm (one replicated ``client`` service) beside compose.

For each N, in the same run: the compose backend (one container per agency, as the scale part),
the one-node swarm of this engine, and with ``--swarm-nodes M`` a swarm of M local nodes (one
dockerd each, harness.swarm.nodes; made for the part and removed after it). Per run: up, run
(to the last agency's exit), down and wall time, the server's peak memory and the mean agency
task's peak (cgroup working set). Per backend: the time per extra agency (least-squares slope of
the wall time over N). Every run checks the winners and the store (bench.scale.run_once).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import PartResult, Report, Row, failure, median_row
from bench.containers import images
from bench.scale import run_once, slope
from harness import data as datasets

COLUMNS = [
    "backend",
    "clients",
    "bets_each",
    "up_s",
    "run_s",
    "down_s",
    "wall_s",
    "server_peak_mib",
    "client_peak_mib",
]


def loaded_machine_settings(clients: int) -> dict[str, dict[str, str]]:
    """The system's settings for hundreds of agencies sharing 2 cores with their server, on every
    backend alike (docs/benchmarks.md, part 7). While the agencies start, each server worker gets
    0.1-1% of a CPU and waits on the run queue 50-130% of the wall time (one container among
    hundreds of equal CPU shares), so replies take far longer than the agencies' default 10 s; they
    time out and reconnect together, and the course's listen backlog of 5 drops their SYNs
    (8,420 listen overflows in one run). So: a backlog for every agency at once, and agencies that
    wait for a starved server (60 s per reply, 300 s without a working connection). And a
    winners query held 20 s instead of 1 s: hundreds of agencies polling every 1-3 s ask more than
    a starved server answers."""
    return {
        "server_env": {"SERVER_LISTEN_BACKLOG": str(max(clients, 128)), "WINNERS_HOLD": "20"},
        "client_env": {"CLI_READ_TIMEOUT": "60", "CLI_CONNECT_DEADLINE": "300"},
    }


def run(client_counts: list[int], bets_each: int, runs: int, nodes: int, report: Report) -> PartResult:
    from harness.swarm.engines import local_swarm
    from harness.swarm.nodes import LocalSwarmNodes, nodes_up

    on_nodes = f", and on {nodes} local nodes" if nodes else ""
    title = f"Swarm scale: N agencies, compose vs a one-node swarm (replicated `client` service){on_nodes}"
    part = PartResult("swarm-scale", title, COLUMNS)
    found = images()
    local = local_swarm(f"bench-{os.getpid()}", os.getpid())
    node_swarm: LocalSwarmNodes | None = None
    try:
        backends: dict[str, Callable[[], dict[str, object]]] = {
            "compose": dict,
            "swarm-1": lambda: {"backend": "swarm", "shape": "replicated", "swarm": local},
        }
        if nodes:
            node_swarm = nodes_up(nodes, [found.server, found.client], report)
            engine = node_swarm.engine()
            backends[f"swarm-{nodes}"] = lambda: {"backend": "swarm", "shape": "replicated", "swarm": engine}
        with tempfile.TemporaryDirectory(prefix="bench-swarm-scale-") as tmp:
            for clients in client_counts:
                winners = {agency: agency % 3 for agency in range(1, clients + 1)}
                dataset = datasets.generate(Path(tmp) / f"data-{clients}", clients, bets_each, winners=winners)
                for backend, options in backends.items():
                    rows: list[Row] = []
                    for attempt in range(runs):
                        workdir = Path(tmp) / f"{backend}-{clients}-{attempt}"
                        try:
                            settings = loaded_machine_settings(clients)
                            row = {"backend": backend, **run_once(dataset, workdir, **options(), **settings)}
                        except Exception as exc:  # one failed run is a row with its error; the rest still run
                            error = failure(exc)
                            failed = f"swarm-scale {backend} clients={clients} run {attempt + 1}/{runs}: FAILED"
                            report(f"{failed}: {error[:600]}")
                            part.runs.append({"backend": backend, "clients": clients, "error": error[:2000]})
                            part.notes.append(f"{backend} at {clients} agencies FAILED: {error.splitlines()[0][:300]}")
                            continue
                        report(
                            f"swarm-scale {backend} clients={clients} run {attempt + 1}/{runs}: "
                            f"wall {row['wall_s']:.2f}s "
                            f"(up {row['up_s']:.2f}, run {row['run_s']:.2f}, down {row['down_s']:.2f}); "
                            f"server peak {row['server_peak_mib']} MiB, client peak {row['client_peak_mib']} MiB"
                        )
                        if row["down_error"]:
                            report(f"  {row['down_error']}")
                            part.notes.append(f"{backend} at {clients} agencies: {row['down_error']}")
                        rows.append(row)
                    if rows:
                        part.runs.extend(rows)
                        part.rows.append(median_row(rows, ["backend", "clients", "bets_each"], COLUMNS[3:]))
    finally:
        if node_swarm is not None:
            node_swarm.down(report)
        local.release()
    for backend in dict.fromkeys(row["backend"] for row in part.rows):
        rows = [row for row in part.rows if row["backend"] == backend]
        wall = slope([(row["clients"], row["wall_s"]) for row in rows])
        memory = [row["client_peak_mib"] for row in rows if row["client_peak_mib"] is not None]
        figures = [f"per extra agency {wall:.3f} s"] if wall is not None else []
        if memory:
            figures.append(f"{statistics.mean(memory):.1f} MiB per agency task")
        part.notes.append(f"{backend}: {', '.join(figures) or 'one N only'}")
    return part
