"""Part 1, ingest over loopback: the real server (``python -m server``) against a one-process baseline.

Both receivers get exactly the same bytes: every agency's bets are encoded into BATCH frames
with ``protocol.BatchBuilder`` before timing starts, and sender processes (separate from the
receiver and from this one) play them stop-and-wait, like the real client: one frame, wait
for its ACK, the next. A sender process drives several connections with ``selectors``, so
its cost per batch is one ``send`` and one ``recv`` (~20 us for 100 bets). The clock runs
from the first frame sent to the last ACK received (``perf_counter``, CLOCK_MONOTONIC, one
clock for every process); the ACK latency is per batch, send to ACK.

The baseline is the practical Python limit for the same job in one process: a plain socket
per agency, one ``selectors`` loop, strict ``protocol.decode``, ``csv.writer`` into a buffered
file, the same ACK frame. No ledger, no lock, no log, no recovery.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import random
import selectors
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import cast

from bench.common import REPO_ROOT, BenchError, PartResult, Report, median_row, percentile
from harness.localserver import LocalServer
from harness.store import STORE_FILE, read_store
from protocol import (
    HEADER_SIZE,
    Ack,
    AckStatus,
    Batch,
    BatchBuilder,
    BetData,
    Header,
    decode,
    encode,
    parse_header,
)

BATCH_SIZE = 100  # the client's default batch.maxAmount
RUN_TIMEOUT = 300.0  # a whole run, senders included
IO_TIMEOUT = 20.0  # one ACK
START_TIMEOUT = 20.0

_FIRST = ("Santiago Lionel", "Agustin Emanuel", "Tiago Nicolás", "María Sol", "Juan Pablo", "Valentina", "Lucía")
_LAST = ("Lorca", "Zambrano", "Rivera", "Gómez", "Fernández", "López", "Díaz", "Martínez", "Sosa")


def agency_bets(agency: int, count: int) -> list[BetData]:
    """Bets shaped like the course's dataset (plain names, 8-digit documents, 4-digit numbers)."""
    rng = random.Random(agency)
    first = date(1950, 1, 1).toordinal()
    return [
        BetData(
            rng.choice(_FIRST),
            rng.choice(_LAST),
            str(rng.randint(10_000_000, 45_000_000)),
            date.fromordinal(first + rng.randrange(20_000)),
            rng.randrange(10_000),
        )
        for _ in range(count)
    ]


def agency_frames(agency: int, count: int, batch_size: int = BATCH_SIZE) -> list[tuple[bytes, bytes]]:
    """(BATCH frame, the ACK frame expected for it) for each batch of ``agency``."""
    builder = BatchBuilder(agency, batch_size)
    built = [batch for bet in agency_bets(agency, count) if (batch := builder.add(bet)) is not None]
    last = builder.flush()
    if last is not None:
        built.append(last)
    return [(batch.frame, encode(Ack(agency, AckStatus.OK, batch.count))) for batch in built]


# -- senders ------------------------------------------------------------------------------


@dataclass
class _Flow:
    sock: socket.socket
    frames: list[tuple[bytes, bytes]]
    next: int = 0
    sent_at: float = 0.0
    pending: bytes = b""


def _send_next(flow: _Flow) -> None:
    flow.sent_at = time.perf_counter()
    flow.sock.sendall(flow.frames[flow.next][0])


def _sender(port: int, frames: dict[int, list[tuple[bytes, bytes]]], go: EventType, out: Pipe) -> None:
    """One sender process: connect every agency given, wait for ``go``, play the frames stop-and-wait."""
    try:
        flows = []
        for agency_frames_ in frames.values():
            sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            flows.append(_Flow(sock, agency_frames_))
        out.send("ready")
        if not go.wait(START_TIMEOUT):
            raise BenchError("no start signal")
        latencies: list[float] = []
        selector = selectors.DefaultSelector()
        started = time.perf_counter()
        deadline = started + RUN_TIMEOUT
        for flow in flows:
            selector.register(flow.sock, selectors.EVENT_READ, flow)
            _send_next(flow)
        open_flows = len(flows)
        while open_flows:
            events = selector.select(timeout=IO_TIMEOUT)
            if not events or time.perf_counter() > deadline:
                raise BenchError(f"no ACK within {IO_TIMEOUT}s (or the run took over {RUN_TIMEOUT}s)")
            for key, _ in events:
                flow = key.data
                chunk = flow.sock.recv(4096)
                if not chunk:
                    raise BenchError("the receiver closed a connection")
                flow.pending += chunk
                expected = flow.frames[flow.next][1]
                if len(flow.pending) < len(expected):
                    continue
                if flow.pending != expected:
                    raise BenchError(f"unexpected reply {flow.pending!r}, expected {expected!r}")
                now = time.perf_counter()
                latencies.append(now - flow.sent_at)
                flow.pending = b""
                flow.next += 1
                if flow.next < len(flow.frames):
                    _send_next(flow)
                else:
                    selector.unregister(flow.sock)
                    flow.sock.close()
                    open_flows -= 1
        out.send(("done", started, time.perf_counter(), latencies))
    except BaseException as exc:  # reported, not raised: the parent decides
        with contextlib.suppress(Exception):
            out.send(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class Measured:
    seconds: float
    latencies: list[float]
    cpu_seconds: float | None = None  # the receiver's CPU time during the run


def drive(port: int, frames: dict[int, list[tuple[bytes, bytes]]], senders: int) -> Measured:
    """Play ``frames`` (agency -> frames) against ``port`` from ``senders`` processes."""
    context = multiprocessing.get_context("fork")  # the frames are inherited, not pickled
    agencies = sorted(frames)
    shares = [agencies[i::senders] for i in range(min(senders, len(agencies)))]
    go = context.Event()
    processes, pipes = [], []
    try:
        for share in shares:
            parent_end, child_end = context.Pipe(duplex=False)
            process = context.Process(
                target=_sender, args=(port, {a: frames[a] for a in share}, go, child_end), daemon=True
            )
            process.start()
            child_end.close()
            processes.append(process)
            pipes.append(parent_end)
        for pipe in pipes:
            _expect(pipe, START_TIMEOUT, "ready")
        go.set()
        results = [_expect(pipe, RUN_TIMEOUT, "done") for pipe in pipes]
        started = min(result[1] for result in results)
        ended = max(result[2] for result in results)
        latencies = [latency for result in results for latency in result[3]]
        return Measured(ended - started, latencies)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def _expect(pipe: Pipe, timeout: float, what: str) -> tuple:
    if not pipe.poll(timeout):
        raise BenchError(f"a sender did not report {what!r} within {timeout}s")
    message = pipe.recv()
    if message == what:
        return (message,)
    if isinstance(message, tuple) and message[0] == what:
        return message
    raise BenchError(f"sender failed: {message[1] if isinstance(message, tuple) else message}")


# -- the real server ----------------------------------------------------------------------


def local_server(directory: Path, agencies: int, workers: int, root: Path = REPO_ROOT) -> LocalServer:
    """The server as the benchmark runs it: INFO to a file, a read timeout no run reaches."""
    settings = {"LOGGING_LEVEL": "INFO", "AGENCIES": agencies, "WORKERS": workers, "READ_TIMEOUT": 30}
    return LocalServer(directory, settings, root)


# -- the baseline -------------------------------------------------------------------------


def _baseline_receiver(path: str, connections: int, out: Pipe) -> None:
    """One process: accept ``connections``, then decode -> csv.writer -> ACK until all close."""
    try:
        listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        out.send(listener.getsockname()[1])
        selector = selectors.DefaultSelector()
        buffers: dict[socket.socket, bytearray] = {}
        for _ in range(connections):
            sock, _ = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buffers[sock] = bytearray()
            selector.register(sock, selectors.EVENT_READ)
        listener.close()
        cpu_before = time.process_time()
        with open(path, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            while buffers:
                for key, _ in selector.select(timeout=RUN_TIMEOUT):
                    sock = cast(socket.socket, key.fileobj)
                    chunk = sock.recv(65536)
                    if not chunk:
                        selector.unregister(sock)
                        sock.close()
                        del buffers[sock]
                        continue
                    buffer = buffers[sock]
                    buffer += chunk
                    while len(buffer) >= HEADER_SIZE:
                        header: Header = parse_header(buffer)
                        end = HEADER_SIZE + header.length
                        if len(buffer) < end:
                            break
                        batch = decode(header, bytes(buffer[HEADER_SIZE:end]))
                        del buffer[:end]
                        if not isinstance(batch, Batch):
                            raise BenchError(f"the baseline takes BATCH frames only, got {header.type.name}")
                        agency = batch.agency
                        writer.writerows(
                            (agency, b.first_name, b.last_name, b.document, b.birthdate.isoformat(), b.number)
                            for b in batch.bets
                        )
                        sock.sendall(encode(Ack(agency, AckStatus.OK, len(batch.bets))))
        out.send(("done", time.process_time() - cpu_before))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            out.send(f"error: {type(exc).__name__}: {exc}")


def run_baseline(frames: dict[int, list[tuple[bytes, bytes]]], senders: int, directory: Path) -> Measured:
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe(duplex=False)
    receiver = context.Process(
        target=_baseline_receiver, args=(str(directory / "baseline.csv"), len(frames), child_end), daemon=True
    )
    receiver.start()
    child_end.close()
    try:
        if not parent_end.poll(START_TIMEOUT):
            raise BenchError("the baseline receiver did not start")
        port = parent_end.recv()
        if not isinstance(port, int):
            raise BenchError(f"baseline receiver failed: {port}")
        measured = drive(port, frames, senders)
        message = parent_end.recv() if parent_end.poll(10) else None
        if not (isinstance(message, tuple) and message[0] == "done"):
            raise BenchError(f"the baseline receiver did not finish cleanly: {message}")
        measured.cpu_seconds = message[1]
        return measured
    finally:
        receiver.join(timeout=5)
        if receiver.is_alive():
            receiver.kill()
            receiver.join(timeout=5)


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
