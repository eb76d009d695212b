"""The server's logging set-up; the lines themselves follow ``logline`` (docs/CONVENTIONS.md).

Every process writes to stdout; each line is a single ``os.write`` so lines from the
parent and the workers never interleave (a pipe write of <= PIPE_BUF bytes is atomic).
"""

from __future__ import annotations

import logging
import os
import sys

from logline import LOG_FORMAT, format_event

logger = logging.getLogger("server")


class AtomicLineHandler(logging.Handler):
    """Writes each record with one ``os.write`` call, bypassing Python's stream buffers."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "replace")
            while data:
                written = os.write(self.fd, data)
                data = data[written:]
        except Exception:
            self.handleError(record)


def setup_logging(level: str) -> None:
    handler = AtomicLineHandler(sys.stdout.fileno())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def log_event(action: str, result: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``logline.format_event(action, result, **fields)`` at ``level`` (formatted only if enabled)."""
    if logger.isEnabledFor(level):
        logger.log(level, format_event(action, result, **fields))
