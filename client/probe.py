"""The in-network health probe (the course's exercise 3): PING the server, expect its PONG.

``python3 -m client.probe server:12345`` prints
``action: test_echo_server | result: success`` (exit 0) or ``result: fail | error: ...`` (exit 1).
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


def probe(address: str, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """None when the server echoed our PING, else what went wrong."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return f"bad address {address!r}, expected host:port"
    token = os.urandom(8)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            send_message(sock, Ping(0, token))
            answer = recv_message(sock)
    except (OSError, ProtocolError, PeerClosed) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(answer, Pong):
        return f"expected PONG, got {type(answer).__name__}"
    if answer.data != token:
        return "PONG did not echo the PING's payload"
    return None


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
