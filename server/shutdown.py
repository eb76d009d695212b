"""Shutdown requests, socketserver style: the signal handler only sets a flag.

The supervisor installs the handler before forking, so every worker inherits it and the
flag (a module global, one copy per process) from its first instruction on: a SIGTERM
that reaches a worker before its loop starts is not lost.
"""

from __future__ import annotations

import signal
from types import FrameType

_requested = False


def _request(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = True


def install_handlers() -> None:
    signal.signal(signal.SIGTERM, _request)
    signal.signal(signal.SIGINT, _request)


def requested() -> bool:
    return _requested
