"""Where and how long the helpers talk: everything binds 127.0.0.1 only, and no single wait
takes longer than ``WAIT``."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"
WAIT = 10.0  # the longest any single wait in these tests may take


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
