"""The in-network health probe (the course's exercise 3): is the server there and answering sensibly?

``python3 -m client.probe server:12345`` prints ``action: test_echo_server | result: success``
(exit 0) or ``action: test_echo_server | result: fail | error: ...`` (exit 1).

Success is either of two answers, each tried on its own connection:

1. this repository's server: a PING frame is answered by a PONG carrying the same payload;
2. an echo: a text line sent comes back unchanged (the course's echo server of exercises 1-4).

The PING goes first so that this repository's server never sees the text line (which it would
log as a broken frame); the PING's payload is ASCII, so an echo server can read it as text.

Anything else — no answer, a refused connection, other bytes — is a failure.
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import datetime

from logline import FAIL, SUCCESS, format_event, format_line
from logline.actions import TEST_ECHO_SERVER
from protocol import PeerClosed, Ping, Pong, ProtocolError, recv_message, send_message

DEFAULT_TIMEOUT = 3.0


def _address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad address {address!r}, expected host:port")
    return host.strip("[]"), int(port)


def _echoes(address: tuple[str, int], timeout: float) -> str | None:
    """None when a text line comes back unchanged, else what came back instead."""
    line = f"test_echo_server {os.urandom(6).hex()}\n".encode()
    received = b""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(line)
        while len(received) < len(line):
            chunk = sock.recv(len(line) - len(received))
            if not chunk:
                break
            received += chunk
    if received == line:
        return None
    return f"echo test: sent {line!r}, got {received!r}"


def _pongs(address: tuple[str, int], timeout: float) -> str | None:
    """None when a PING is answered by a PONG with its payload, else what went wrong."""
    token = os.urandom(8).hex().encode()
    with socket.create_connection(address, timeout=timeout) as sock:
        send_message(sock, Ping(0, token))
        answer = recv_message(sock)
    if not isinstance(answer, Pong):
        return f"PING test: expected PONG, got {type(answer).__name__}"
    if answer.data != token:
        return "PING test: the PONG did not carry the PING's payload"
    return None


def probe(address: str, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """None when the server echoed a line or PONGed a PING, else why neither happened."""
    try:
        target = _address(address)
    except ValueError as exc:
        return str(exc)
    problems = []
    for attempt in (_pongs, _echoes):
        try:
            problem = attempt(target, timeout)
        except (OSError, ProtocolError, PeerClosed) as exc:
            problem = f"{attempt.__name__.strip('_')}: {type(exc).__name__}: {exc}"
        if problem is None:
            return None
        problems.append(problem)
    return "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    address = args[0] if args else os.environ.get("PROBE_ADDRESS", "server:12345")
    error = probe(address)
    now = datetime.now()  # local time, as logging's asctime
    if error is None:
        print(format_line(format_event(TEST_ECHO_SERVER, SUCCESS, server_address=address), "INFO", now))
        return 0
    print(format_line(format_event(TEST_ECHO_SERVER, FAIL, server_address=address, error=error), "ERROR", now))
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
