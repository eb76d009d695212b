"""A scripted fake server for the client's tests: a well-behaved lottery by default
(``LotteryBehaviour``), whose answers a test overrides with replies, holds and closes; it
records every frame it receives, one thread per connection."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from helpers.local import HOST, WAIT
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
)


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
