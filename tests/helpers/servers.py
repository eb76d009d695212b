"""The server as a local process (``harness.localserver``), a pool of them that a fixture kills at
the end, and a minimal blocking agency client that talks to one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from harness.localserver import LocalServer
from helpers.local import HOST, WAIT
from protocol import (
    Ack,
    AckStatus,
    Batch,
    BetData,
    Finished,
    Message,
    Winners,
    WinnersQuery,
    WinnersStatus,
    recv_message,
    send_message,
)


class ServerProcess(LocalServer):
    """``python -m server`` (``harness.localserver``) and ways to talk to it."""

    def connect(self) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=WAIT)

    def agency(self, agency: int) -> AgencyClient:
        return AgencyClient(self.connect(), agency)


SERVER_TEST_SETTINGS = {"WORKERS": 2, "AGENCIES": 1, "WINNERS_HOLD": 0.5, "READ_TIMEOUT": 5}


class ServerPool:
    """Starts servers in ``directory``; ``close()`` kills whatever is still running."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[ServerProcess] = []

    def start(self, wait: bool = True, **settings: object) -> ServerProcess:
        server = ServerProcess(self.directory, {**SERVER_TEST_SETTINGS, **settings})
        self.servers.append(server)
        return server.wait_ready() if wait else server

    def close(self) -> None:
        for server in self.servers:
            server.kill()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AgencyClient:
    """A minimal blocking client for one agency (independent of the ``client`` package)."""

    def __init__(self, sock: socket.socket, agency: int) -> None:
        self.sock = sock
        self.agency = agency

    def request(self, message: Message) -> Message:
        send_message(self.sock, message)
        return recv_message(self.sock)

    def send_batches(self, bets: list[BetData], batch_size: int, first_seq: int = 1) -> list[Ack]:
        acks = []
        for offset in range(0, len(bets), batch_size):
            seq = first_seq + offset // batch_size
            ack = self.request(Batch(self.agency, seq, tuple(bets[offset : offset + batch_size])))
            assert isinstance(ack, Ack), ack
            acks.append(ack)
        return acks

    def finish(self) -> Ack:
        ack = self.request(Finished(self.agency))
        assert isinstance(ack, Ack), ack
        return ack

    def query_winners(self) -> Winners | list[str]:
        """One query: the NOT_READY answer, or every document of a READY answer."""
        send_message(self.sock, WinnersQuery(self.agency))
        documents: list[str] = []
        while True:
            answer = recv_message(self.sock)
            assert isinstance(answer, Winners), answer
            if answer.status is WinnersStatus.NOT_READY:
                return answer
            documents.extend(answer.documents)
            if answer.status is WinnersStatus.READY:
                return documents

    def winners(self, timeout: float = 15.0) -> list[str]:
        """Query until READY."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.query_winners()
            if isinstance(answer, list):
                return answer
            assert time.monotonic() < deadline, "winners never became ready"

    def run(self, bets: list[BetData], batch_size: int = 10) -> list[str]:
        """The whole conversation: batches, FINISHED, winners."""
        acks = self.send_batches(bets, batch_size)
        assert all(ack.status is AckStatus.OK for ack in acks), acks
        assert sum(ack.count for ack in acks) == len(bets)
        finished = self.finish()
        assert finished.count == len(bets), finished
        return self.winners()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AgencyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
