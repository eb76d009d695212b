"""READ_TIMEOUT drops a peer that sent nothing, never one whose bytes wait unread.

Found at 500 agencies on three local swarm nodes (docs/benchmarks.md, part 7): on a starved CPU one
worker tick outlasted READ_TIMEOUT, and at its end the worker dropped, as "idle", connections it
had accepted in that same tick with their first batch still unread in the socket (ERROR TIMEOUT,
agency 0). Here one ``Worker`` runs in this process, tick by tick, and its idle check is run with
a clock READ_TIMEOUT + 1 s ahead: the worker "did not look" for that long.
"""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from protocol import Error, ErrorCode, Ping, Pong, encode, recv_message
from server.config import ServerConfig
from server.state import SharedState
from server.worker import Worker

READ_TIMEOUT = 5.0
WAIT = 5.0  # seconds for the worker to accept a connection, and for a byte to cross loopback


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    listener.setblocking(False)
    config = ServerConfig(
        port=0,
        ip="127.0.0.1",
        listen_backlog=8,
        logging_level="INFO",
        agencies=1,
        storage_path=tmp_path / "bets.csv",
        workers=1,
        read_timeout=READ_TIMEOUT,
        winners_hold=1.0,
        storage_fsync=False,
    )
    worker = Worker(0, listener, config, SharedState(), os.getppid())
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def connect(worker: Worker) -> tuple[socket.socket, socket.socket]:
    """A client socket and the worker's side of it, once the worker accepted it."""
    client = socket.create_connection(worker.listener.getsockname()[:2], timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while not worker.connections:
        if time.monotonic() > deadline:
            client.close()
            raise AssertionError(f"the worker did not accept a connection within {WAIT}s")
        worker.tick()
    (accepted,) = worker.connections.values()
    return client, accepted.sock


def test_a_request_waiting_unread_past_read_timeout_is_answered_not_dropped(worker: Worker) -> None:
    client, server_side = connect(worker)
    with closing(client):
        client.sendall(encode(Ping(0, b"still here")))
        readable, _, _ = select.select([server_side], [], [], WAIT)
        assert readable, f"the PING did not reach the worker's socket within {WAIT}s"

        worker._drop_inactive(time.monotonic() + READ_TIMEOUT + 1)  # the end of a tick that took too long
        worker.tick()

        assert recv_message(client) == Pong(0, b"still here")
        assert len(worker.connections) == 1


def test_a_peer_that_sent_nothing_is_still_dropped_after_read_timeout(worker: Worker) -> None:
    client, _ = connect(worker)
    with closing(client):
        worker._drop_inactive(time.monotonic() + READ_TIMEOUT + 1)

        reply = recv_message(client)
        assert isinstance(reply, Error) and reply.code is ErrorCode.TIMEOUT, reply
        assert not worker.connections
