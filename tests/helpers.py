"""Helpers of the fast tests: bets, the server as a local process, a minimal agency, a scripted
fake server and the client as a real subprocess.

Everything binds 127.0.0.1 only; every wait has a timeout; every helper that starts something
is a context manager (or closed by a fixture of ``conftest.py``) that stops its threads, sockets
and processes even when a test fails. One module on purpose (about 600 lines): the server and
the client tests share the bets, the waits and the processes, and each side's helpers are the
other side's peer.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from harness.localserver import REPO_ROOT, LocalServer, wait_until
from harness.store import StoredBet, read_store
from logline import parse_line
from protocol import (
    HEADER_SIZE,
    Ack,
    AckStatus,
    Batch,
    BetData,
    Finished,
    Message,
    PeerClosed,
    ProtocolError,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    decode,
    encode,
    parse_header,
    recv_exactly,
    recv_message,
    send_message,
)
from server.model import Bet

__all__ = ["REPO_ROOT", "wait_until"]  # re-exported for the tests

HOST = "127.0.0.1"
WAIT = 10.0  # the longest any single wait in these tests may take
WINNING_NUMBER = 7574
BET_ENV_VARS = ("NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO")
Row = tuple[int, str, str, str, str, int]


# -- bets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedBets:
    bets: list[BetData]

    @property
    def winners(self) -> list[str]:
        return [bet.document for bet in self.bets if bet.number == WINNING_NUMBER]


_NAMES = ["Ana", "José", "María, Luz", 'Juan "el"', "Zoë", "O'Brien", "Ñandú | x", "Lü\nna", "Ca\rrlos"]


def lottery_bets(agency: int, count: int, seed: int = 0, winner_ratio: float = 0.1) -> GeneratedBets:
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


TRICKY_NAMES = [
    ("Ana, María", 'Pérez "la rubia"'),
    ("Zoë | Ñandú", "O'Brien"),
    ("Línea\nnueva", "Retorno\rsolo"),
    ("  espacios  ", "fin\r\n"),
    ("ünïcödé 日本", "emoji 🎲"),
]


def tricky_bets(agency: int = 1) -> list[Bet]:
    """The server's own bets (``server.model.Bet``) with every character a CSV store must keep."""
    return [
        Bet(agency, first, last, str(30_000_000 + index), date(1990, 1, 1 + index), 7574 if index % 2 else 12)
        for index, (first, last) in enumerate(TRICKY_NAMES)
    ]


def agency_file_bets(count: int, *, long_every: int = 0, long_name_chars: int = 1200) -> list[BetData]:
    """``count`` bets with accented names; every ``long_every``-th one has a very long UTF-8 name."""
    bets = []
    for index in range(count):
        first = "José María" if index % 3 else 'Ñandú "el, raro"'
        last = "Pérez-Núñez" if index % 2 else "Gómez"
        if long_every and index % long_every == long_every - 1:
            first = "Ñ" * long_name_chars  # 2 bytes each in UTF-8
            last = "ü" * (long_name_chars // 2)
        bets.append(BetData(first, last, str(20_000_000 + index), _date(index), (index * 7919) % 10_000))
    return bets


def _date(index: int) -> date:
    return date(1950 + index % 50, 1 + index % 12, 1 + index % 28)


def write_agency_file(path: Path, bets: Iterable[BetData], extra_rows: Sequence[str] = ()) -> Path:
    """The course's format: no header, CRLF endings, five columns. ``extra_rows`` are appended raw."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        for bet in bets:
            writer.writerow([bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number])
        for row in extra_rows:
            file.write(row + "\r\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stored_rows(storage_path: Path) -> list[StoredBet]:
    """The server's store, read like the harness reads it (``harness.store``): rows equal tuples."""
    return read_store(storage_path)


def as_rows(agency: int, bets: list[BetData]) -> list[Row]:
    return [(agency, b.first_name, b.last_name, b.document, b.birthdate.isoformat(), b.number) for b in bets]


# -- the server -------------------------------------------------------------------------


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


# -- the fake server --------------------------------------------------------------------


class Close:
    """A scripted reply: close the connection now (after the replies before it)."""


@dataclass
class Hold:
    """A scripted reply: send nothing for ``seconds`` (cut short when the server stops)."""

    seconds: float


CLOSE = Close()
Reply = Message | Close | Hold


@dataclass
class Received:
    connection: int  # 1 for the first accepted connection, 2 for the next...
    frame: bytes
    message: Message


@dataclass
class LotteryBehaviour:
    """A well-behaved server; tests override ``respond`` (and call it for the default answer).

    ``not_ready``: how many winners queries get NOT_READY before the answer is ready.
    ``winners_per_frame``: documents per WINNERS frame (READY_MORE... READY beyond that).
    """

    winners: Sequence[str] = ()
    not_ready: int = 0
    winners_per_frame: int = 500
    stored_batches: dict[int, tuple[BetData, ...]] = field(default_factory=dict)
    single_bets: list[BetData] = field(default_factory=list)
    finished: bool = False
    queries: int = 0

    def stored_bets(self) -> list[BetData]:
        bets = [bet for seq in sorted(self.stored_batches) for bet in self.stored_batches[seq]]
        return bets + self.single_bets

    def store(self, message: Message) -> None:
        if isinstance(message, Batch):
            self.stored_batches.setdefault(message.seq, message.bets)
        elif isinstance(message, SingleBet):
            self.single_bets.append(message.bet)
        elif isinstance(message, Finished):
            self.finished = True

    def respond(self, connection: int, message: Message) -> list[Reply]:
        agency = message.agency
        if isinstance(message, Batch):
            duplicate = message.seq in self.stored_batches
            self.store(message)
            status = AckStatus.DUPLICATE if duplicate else AckStatus.OK
            return [Ack(agency, status, len(message.bets))]
        if isinstance(message, SingleBet):
            self.store(message)
            return [Ack(agency, AckStatus.OK, 1)]
        if isinstance(message, Finished):
            status = AckStatus.DUPLICATE if self.finished else AckStatus.OK
            self.store(message)
            return [Ack(agency, status, len(self.stored_bets()))]
        if isinstance(message, WinnersQuery):
            self.queries += 1
            if self.queries <= self.not_ready:
                return [Winners(agency, WinnersStatus.NOT_READY)]
            return list(winners_frames(agency, self.winners, self.winners_per_frame))
        raise AssertionError(f"the fake server got an unexpected {message!r}")


def winners_frames(agency: int, documents: Sequence[str], per_frame: int) -> list[Winners]:
    chunks = [tuple(documents[i : i + per_frame]) for i in range(0, len(documents), per_frame)] or [()]
    frames = [Winners(agency, WinnersStatus.READY_MORE, chunk) for chunk in chunks[:-1]]
    return [*frames, Winners(agency, WinnersStatus.READY, chunks[-1])]


class FakeServer:
    """A scripted server on 127.0.0.1: one thread per connection, records every frame it receives."""

    def __init__(self, behaviour: LotteryBehaviour | None = None, port: int = 0) -> None:
        self.behaviour = behaviour or LotteryBehaviour()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, port))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.received: list[Received] = []
        self.connections = 0
        self.closed_connections = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def __enter__(self) -> FakeServer:
        self._start_thread(self._accept_loop, "fake-server-accept")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(WAIT)
        for sock in sockets:
            sock.close()
        self._listener.close()
        if self._errors:
            raise AssertionError(f"the fake server failed: {self._errors[0]!r}") from self._errors[0]

    def wait_for(self, predicate: Callable[[FakeServer], bool], timeout: float = WAIT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self), timeout):
                raise AssertionError(f"the fake server did not see the expected state within {timeout} s")

    def messages(self, kind: type | None = None) -> list[Message]:
        with self._changed:
            return [r.message for r in self.received if kind is None or isinstance(r.message, kind)]

    # -- internals --

    def _start_thread(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=self._guard, args=(target, *args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guard(self, target: Callable[..., None], *args: object) -> None:
        try:
            target(*args)
        except BaseException as exc:
            self._errors.append(exc)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._changed:
                self.connections += 1
                number = self.connections
                self._sockets.append(conn)
                self._changed.notify_all()
            self._start_thread(self._serve, f"fake-server-conn-{number}", conn, number)

    def _hold(self, conn: socket.socket, seconds: float) -> bool:
        """Stay silent for ``seconds``; False as soon as the server stops or the peer hangs up."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([conn], [], [], 0.02)
            if readable:
                try:
                    if not conn.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                time.sleep(0.02)  # the peer sent more: it waits in the socket until the hold ends
        return not self._stop.is_set()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            while not self._stop.is_set():
                try:
                    header_bytes = recv_exactly(conn, HEADER_SIZE, at_boundary=True)
                    header = parse_header(header_bytes)
                    payload = recv_exactly(conn, header.length) if header.length else b""
                except (PeerClosed, ProtocolError, OSError):
                    return
                message = decode(header, payload)
                with self._changed:
                    self.received.append(Received(number, header_bytes + payload, message))
                    replies = self.behaviour.respond(number, message)
                    self._changed.notify_all()
                for reply in replies:
                    if isinstance(reply, Close):
                        return
                    if isinstance(reply, Hold):
                        if not self._hold(conn, reply.seconds):
                            return
                        continue
                    try:
                        conn.sendall(encode(reply))
                    except OSError:
                        return
        finally:
            conn.close()
            with self._changed:
                self.closed_connections += 1
                self._changed.notify_all()


# -- the client process -----------------------------------------------------------------


FAST_SETTINGS = {
    "CLI_BACKOFF_INITIAL": "0.02",
    "CLI_BACKOFF_MAX": "0.1",
    "CLI_CONNECT_DEADLINE": "5",
    "CLI_READ_TIMEOUT": "3",
    "CLI_LOG_LEVEL": "DEBUG",
}


class ClientProcess:
    """``python -m client`` from the repository root, with only the given CLI_* / bet variables set."""

    def __init__(self, env: dict[str, str]) -> None:
        clean_env = {
            key: value for key, value in os.environ.items() if not key.startswith("CLI_") and key not in BET_ENV_VARS
        }
        clean_env["PYTHONUNBUFFERED"] = "1"
        clean_env.update(env)
        self.lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._changed = threading.Condition()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "client"],
            cwd=REPO_ROOT,
            env=clean_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> ClientProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def _read(self, pipe, into: list[str]) -> None:
        for line in pipe:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float = WAIT) -> str:
        """The first stderr line containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._readers_alive()):
                    raise AssertionError(f"no line with {text!r} within {timeout} s; got:\n" + self.output())
                self._changed.wait(min(remaining, 0.05))

    def wait_for_events(
        self, action: str, result: str | None = None, count: int = 1, timeout: float = WAIT
    ) -> list[dict[str, str]]:
        """The ``action`` (``result``) events, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(action, result)
            if len(found) >= count:
                return found
            with self._changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._readers_alive()):
                    raise AssertionError(
                        f"no {count} `{action} | {result}` events within {timeout} s; got:\n" + "\n".join(self.lines)
                    )
                self._changed.wait(min(remaining, 0.05))

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def wait(self, timeout: float = WAIT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the client did not exit within {timeout} s; output:\n{self.output()}") from None
        for reader in self._readers:
            reader.join(WAIT)
        return code

    def signal(self, signum: signal.Signals) -> float:
        """Send ``signum``; the moment it was sent."""
        self.process.send_signal(signum)
        return time.monotonic()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def events(self, action: str, result: str | None = None) -> list[dict[str, str]]:
        """The ``action: X | result: Y | k: v`` lines of ``action`` as field dicts (without the prefix)."""
        found = []
        with self._changed:
            lines = list(self.lines)
        for line in lines:
            parsed = parse_line(line)  # a line that breaks the log contract raises: the test fails
            if parsed is None or parsed.event.action != action or result not in (None, parsed.event.result):
                continue
            found.append({"action": parsed.event.action, "result": parsed.event.result, **parsed.event.fields})
        return found


def client_env(agency: int, server_address: str, data_path: Path | str, **extra: str) -> dict[str, str]:
    return {
        **FAST_SETTINGS,
        "CLI_ID": str(agency),
        "CLI_SERVER_ADDRESS": server_address,
        "CLI_DATA_PATH": str(data_path),
        **extra,
    }
