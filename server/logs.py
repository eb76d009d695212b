"""Log lines in the shared contract: ``action: X | result: Y | key: value ...`` (docs/CONVENTIONS.md).

Every process writes to stdout; each line is a single ``os.write`` so lines from the
parent and the workers never interleave (a pipe write of <= PIPE_BUF bytes is atomic).
"""

from __future__ import annotations

import logging
import os
import sys

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(message)s"
MAX_VALUE_CHARS = 1000

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


def clean_value(value: object) -> str:
    """A value safe inside a log line: no ``|`` separators, no line breaks, bounded length."""
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[:MAX_VALUE_CHARS] + "..."
    return text.replace("|", "/").replace("\r", " ").replace("\n", " ")


def event(action: str, result: str, **fields: object) -> str:
    parts = [f"action: {action}", f"result: {result}"]
    parts.extend(f"{key}: {clean_value(value)}" for key, value in fields.items())
    return " | ".join(parts)


def log_event(action: str, result: str, level: int = logging.INFO, **fields: object) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, event(action, result, **fields))
