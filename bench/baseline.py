"""The baseline of the ingest part: the practical Python limit for the server's job in one
process. A plain socket per agency, one ``selectors`` loop, strict ``protocol.decode``,
``csv.writer`` into a buffered file, the same ACK frame. No ledger, no lock, no log, no recovery."""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import selectors
import socket
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import cast

from bench.common import BenchError
from bench.senders import RUN_TIMEOUT, START_TIMEOUT, Measured, drive
from protocol import HEADER_SIZE, Ack, AckStatus, Batch, Header, decode, encode, parse_header


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
