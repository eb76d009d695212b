"""Helpers for the server tests: run ``python -m server`` for real, talk to it with ``protocol.stream``.

Every server is started on 127.0.0.1 with port 0 (the port it got is read from its
``listen`` log line), in its own temp dir, and always killed by ``ServerPool.close()``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from logline import SUCCESS, LogEvent, parse_line
from logline.actions import LISTEN, WORKER_START
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

REPO_ROOT = Path(__file__).resolve().parent.parent
WINNING_NUMBER = 7574
START_TIMEOUT = 10.0
IO_TIMEOUT = 10.0


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class ServerProcess:
    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.storage_path = Path(env["STORAGE_PATH"])
        self.workers = int(env["WORKERS"])
        self.log_path = directory / f"server-{time.monotonic_ns()}.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill()/wait()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches the workers too
        )
        self.port = 0

    def wait_ready(self) -> ServerProcess:
        def listening() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
            return len(self.events(WORKER_START, SUCCESS)) >= self.workers and bool(self.events(LISTEN, SUCCESS))

        wait_until(listening, START_TIMEOUT, "the server to listen with every worker started")
        self.port = int(self.parsed_events(LISTEN, SUCCESS)[0].fields["port"])
        return self

    # -- output --------------------------------------------------------------------------

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self) -> list[str]:
        return self.output().splitlines()

    def parsed_events(self, action: str, result: str | None = None) -> list[LogEvent]:
        """The events of ``action`` (and ``result``) in order; a line that breaks the log contract
        raises ``LogLineError``, failing the test."""
        found = []
        for line in self.lines():
            parsed = parse_line(line)
            if parsed is not None and parsed.event.action == action and result in (None, parsed.event.result):
                found.append(parsed.event)
        return found

    def events(self, action: str, result: str | None = None) -> list[str]:
        """The messages (``action: ... | ...``) of the events of ``action`` (and ``result``)."""
        return [event.message() for event in self.parsed_events(action, result)]

    def wait_for(self, text: str, count: int = 1, timeout: float = 5.0) -> None:
        wait_until(lambda: sum(text in line for line in self.lines()) >= count, timeout, repr(text))

    # -- talking -------------------------------------------------------------------------

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
        return sock

    def agency(self, agency: int) -> AgencyClient:
        return AgencyClient(self.connect(), agency)

    # -- ending --------------------------------------------------------------------------

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 8.0) -> tuple[int, float]:
        """Signal the server and wait for it; returns (exit code, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._log_file.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        """Kill the server and its workers (its process group), whatever state they are in."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self._log_file.close()


class ServerPool:
    """Starts servers in ``directory``; ``close()`` kills whatever is still running."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: list[ServerProcess] = []

    def start(self, wait: bool = True, **settings: object) -> ServerProcess:
        config = self.directory / "config.ini"
        if not config.exists():
            config.write_text((REPO_ROOT / "server" / "config.ini").read_text())
        env = {key: value for key, value in os.environ.items() if key not in _SERVER_KEYS}
        env.update(
            SERVER_CONFIG=str(config),
            SERVER_IP="127.0.0.1",
            SERVER_PORT="0",
            SERVER_LISTEN_BACKLOG="128",
            STORAGE_PATH=str(self.directory / "bets.csv"),
            WORKERS="2",
            AGENCIES="1",
            WINNERS_HOLD="0.5",
            READ_TIMEOUT="5",
        )
        env.update({key: str(value) for key, value in settings.items()})
        server = ServerProcess(self.directory, env)
        self.servers.append(server)
        return server.wait_ready() if wait else server

    def close(self) -> None:
        for server in self.servers:
            server.kill()

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_SERVER_KEYS = {
    "SERVER_PORT",
    "SERVER_IP",
    "SERVER_LISTEN_BACKLOG",
    "LOGGING_LEVEL",
    "AGENCIES",
    "STORAGE_PATH",
    "WORKERS",
    "READ_TIMEOUT",
    "WINNERS_HOLD",
    "STORAGE_FSYNC",
    "SERVER_CONFIG",
}


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


@dataclass(frozen=True)
class GeneratedBets:
    bets: list[BetData]

    @property
    def winners(self) -> list[str]:
        return [bet.document for bet in self.bets if bet.number == WINNING_NUMBER]


_NAMES = ["Ana", "José", "María, Luz", 'Juan "el"', "Zoë", "O'Brien", "Ñandú | x", "Lü\nna", "Ca\rrlos"]


def make_bets(agency: int, count: int, seed: int = 0, winner_ratio: float = 0.1) -> GeneratedBets:
    rng = random.Random(seed * 1_000_003 + agency)
    bets = []
    for index in range(count):
        number = WINNING_NUMBER if rng.random() < winner_ratio else rng.randrange(0, 10000)
        if number == WINNING_NUMBER and winner_ratio == 0:
            number += 1
        bets.append(
            BetData(
                rng.choice(_NAMES),
                rng.choice(_NAMES[::-1]),
                str(agency * 10_000_000 + index),  # a document tells which agency's bet it is
                date(1950 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                number,
            )
        )
    return GeneratedBets(bets)


def stored_rows(storage_path: Path) -> list[tuple[int, str, str, str, str, int]]:
    from server.model import load_bets

    if not storage_path.exists():
        return []
    return [
        (bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number)
        for bet in load_bets(storage_path)
    ]


def as_rows(agency: int, bets: list[BetData]) -> list[tuple[int, str, str, str, str, int]]:
    return [(agency, b.first_name, b.last_name, b.document, b.birthdate.isoformat(), b.number) for b in bets]
