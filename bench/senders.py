"""The load of the ingest part (``bench.ingest``), the same for the server and the baseline.

Every agency's bets are encoded into BATCH frames with ``protocol.BatchBuilder`` before timing
starts, and sender processes (separate from the receiver and from this one) play them
stop-and-wait, like the real client: one frame, wait for its ACK, the next. A sender process
drives several connections with ``selectors``, so its cost per batch is one ``send`` and one
``recv`` (~20 us for 100 bets). The clock runs from the first frame sent to the last ACK received
(``perf_counter``, CLOCK_MONOTONIC, one clock for every process); the ACK latency is per batch,
send to ACK.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import selectors
import socket
import time
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Event as EventType

from bench.common import BenchError
from protocol import Ack, AckStatus, BatchBuilder, BetData, encode

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
