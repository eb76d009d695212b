"""The connection to the server, kept alive across drops: reconnect with back-off, send the request again.

Every request the client makes is safe to repeat (a batch carries its seq, FINISHED
and WINNERS_QUERY are idempotent on the server), so a request whose reply did not
arrive is simply sent again on a new connection.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from client.backoff import Backoff
from client.config import ServerAddress
from client.logs import seconds
from logline import FAIL, IN_PROGRESS, SUCCESS, format_event
from logline.actions import CONNECT
from protocol import Message, PeerClosed, ProtocolError, recv_message, send_frame

logger = logging.getLogger("client")

T = TypeVar("T")
Receive = Callable[[], Message]


class LinkFailure(Exception):
    """This connection cannot go on (unexpected reply, server going away): reconnect and send again."""


class ConnectDeadlineExceeded(Exception):
    """No working connection for ``connect_deadline`` seconds (already logged)."""


def describe_failure(exc: BaseException, read_timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no reply within {read_timeout:g} s"
    if isinstance(exc, PeerClosed):
        return "the server closed the connection"
    if isinstance(exc, ProtocolError | LinkFailure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class ServerLink:
    """Sends a request and reads its reply, reconnecting as often as needed.

    The deadline clock starts when a connection is first needed or breaks and stops at
    the next complete exchange; a connection that is accepted but never answers does
    not stop it, so a server that accepts and hangs up cannot keep the client forever.
    """

    def __init__(
        self,
        address: ServerAddress,
        backoff: Backoff,
        *,
        connect_deadline: float,
        read_timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._address = address
        self._backoff = backoff
        self._connect_deadline = connect_deadline
        self._read_timeout = read_timeout
        self._clock = clock
        self._sleep = sleep
        self._sock: socket.socket | None = None
        self._outage_started: float | None = None

    def __enter__(self) -> ServerLink:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def exchange(self, frame: bytes, read_reply: Callable[[Receive], T]) -> T:
        """Send ``frame`` and return ``read_reply(receive)``, where ``receive()`` reads one message.

        A broken connection, a reply timeout, a bad frame or a ``LinkFailure`` raised by
        ``read_reply`` closes the connection; the same frame then goes out on a new one.
        """
        while True:
            sock = self._connected_socket()
            try:
                send_frame(sock, frame)
                reply = read_reply(partial(recv_message, sock))
            except (OSError, PeerClosed, ProtocolError, LinkFailure) as exc:
                self.close()
                self._pause_before_retry(f"connection lost: {describe_failure(exc, self._read_timeout)}", lost=True)
                continue
            self._outage_started = None
            self._backoff.reset()
            return reply

    def _connected_socket(self) -> socket.socket:
        while self._sock is None:
            try:
                sock = socket.create_connection((self._address.host, self._address.port), self._read_timeout)
            except OSError as exc:
                self._pause_before_retry(describe_failure(exc, self._read_timeout), lost=False)
                continue
            sock.settimeout(self._read_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            logger.info(format_event(CONNECT, SUCCESS, server_address=self._address))
        return self._sock

    def _pause_before_retry(self, error: str, *, lost: bool) -> None:
        """Log the failure and sleep a back-off step, or give up once the deadline has passed.

        A connection ``lost`` mid-run is a failure (``result: fail``); an attempt to connect that
        did not work yet is part of the normal start (the server may not listen yet) or of the
        wait after a loss already logged: ``result: in_progress``."""
        now = self._clock()
        if self._outage_started is None:
            self._outage_started = now
        remaining = self._connect_deadline - (now - self._outage_started)
        if remaining <= 0:
            logger.error(
                format_event(
                    CONNECT,
                    FAIL,
                    error=f"{error}; giving up: no working connection for {self._connect_deadline:g} s",
                    server_address=self._address,
                )
            )
            raise ConnectDeadlineExceeded(error)
        delay = min(self._backoff.next_delay(), remaining)
        if lost:
            logger.warning(format_event(CONNECT, FAIL, error=error, retry_in=seconds(delay)))
        else:
            logger.info(format_event(CONNECT, IN_PROGRESS, error=error, retry_in=seconds(delay)))
        self._sleep(delay)
