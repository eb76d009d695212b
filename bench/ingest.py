"""Part 1, ingest over loopback: the real server (``python -m server``) against a one-process baseline.

Both receivers get exactly the same bytes, played by the same senders: ``bench.senders`` (the
frames, encoded before timing starts, sent stop-and-wait like the real client; the clock and the
per-batch ACK latency) and ``bench.baseline`` (the practical Python limit for the same job in one
process). This module runs the real server, checks what it stored, and makes the part's table.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bench.baseline import run_baseline
from bench.common import REPO_ROOT, BenchError, PartResult, Report, median_row, percentile
from bench.senders import BATCH_SIZE, START_TIMEOUT, Measured, agency_frames, drive
from harness.localserver import LocalServer
from harness.store import STORE_FILE, read_store

# -- the real server ----------------------------------------------------------------------


def local_server(directory: Path, agencies: int, workers: int, root: Path = REPO_ROOT) -> LocalServer:
    """The server as the benchmark runs it: INFO to a file, a read timeout no run reaches."""
    settings = {"LOGGING_LEVEL": "INFO", "AGENCIES": agencies, "WORKERS": workers, "READ_TIMEOUT": 30}
    return LocalServer(directory, settings, root)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group ``pgid`` (the server and its workers)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_server(
    frames: dict[int, list[tuple[bytes, bytes]]], senders: int, directory: Path, workers: int, root: Path = REPO_ROOT
) -> Measured:
    server = local_server(directory, agencies=len(frames), workers=workers, root=root)
    try:
        server.wait_ready(START_TIMEOUT)
        cpu_before = group_cpu_seconds(server.process.pid)
        measured = drive(server.port, frames, senders)
        measured.cpu_seconds = group_cpu_seconds(server.process.pid) - cpu_before
        return measured
    finally:
        server.close()


# -- the part -----------------------------------------------------------------------------

COLUMNS = [
    "agencies",
    "bets_each",
    "receiver",
    "bets_per_s",
    "p50_ack_ms",
    "p99_ack_ms",
    "seconds",
    "cpu_us_per_bet",
    "ratio_to_baseline",
]


def run(
    agencies: list[int],
    bets_each: int,
    runs: int,
    report: Report,
    senders: int = 1,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    server_root: Path = REPO_ROOT,
    baseline: bool = True,
) -> PartResult:
    workers = workers or os.cpu_count() or 1
    part = PartResult("ingest", "Server ingest over loopback (local processes)", COLUMNS)
    part.notes.append(
        f"server: python -m server, WORKERS={workers}, LOGGING_LEVEL=INFO to a file; batches of {batch_size} bets "
        f"pre-encoded with BatchBuilder; {senders} sender process(es), stop-and-wait per agency"
    )
    cache: dict[int, list[tuple[bytes, bytes]]] = {}
    for count in agencies:
        for agency in range(1, count + 1):
            if agency not in cache:
                cache[agency] = agency_frames(agency, bets_each, batch_size)
        frames = {agency: cache[agency] for agency in range(1, count + 1)}
        total = count * bets_each
        for receiver in ("server", "baseline") if baseline else ("server",):
            measured_runs = []
            for attempt in range(runs):
                with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                    if receiver == "server":
                        measured = run_server(frames, senders, Path(tmp), workers, server_root)
                        stored = _stored(Path(tmp))
                        if stored != total:
                            raise BenchError(f"server stored {stored} bets, {total} were sent")
                    else:
                        measured = run_baseline(frames, senders, Path(tmp))
                row = {
                    "agencies": count,
                    "bets_each": bets_each,
                    "receiver": receiver,
                    "bets_per_s": round(total / measured.seconds),
                    "p50_ack_ms": round(percentile(measured.latencies, 0.50) * 1e3, 3),
                    "p99_ack_ms": round(percentile(measured.latencies, 0.99) * 1e3, 3),
                    "seconds": round(measured.seconds, 3),
                    "cpu_us_per_bet": round(measured.cpu_seconds * 1e6 / total, 2)
                    if measured.cpu_seconds is not None
                    else None,
                }
                report(
                    f"ingest {receiver:8s} agencies={count:<3d} run {attempt + 1}/{runs}: "
                    f"{row['bets_per_s']:>9,} bets/s  p50 {row['p50_ack_ms']:.2f} ms  p99 {row['p99_ack_ms']:.2f} ms  "
                    f"cpu {row['cpu_us_per_bet']} us/bet"
                )
                part.runs.append(row)
                measured_runs.append(row)
            part.rows.append(
                median_row(
                    measured_runs,
                    ["agencies", "bets_each", "receiver"],
                    ["bets_per_s", "p50_ack_ms", "p99_ack_ms", "seconds", "cpu_us_per_bet"],
                )
            )
        if baseline:
            server_row, baseline_row = part.rows[-2], part.rows[-1]
            server_row["ratio_to_baseline"] = round(server_row["bets_per_s"] / baseline_row["bets_per_s"], 3)
            baseline_row["ratio_to_baseline"] = 1.0
    return part


def _stored(directory: Path) -> int:
    return len(read_store(directory / STORE_FILE))
