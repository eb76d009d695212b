"""Log set-up and the ``action: X | result: Y | key: value`` lines of docs/CONVENTIONS.md."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(message)s"
FIELD_SEPARATOR = " | "

logger = logging.getLogger("client")


def configure_logging(level: str = "INFO") -> None:
    """Every line to stderr in the contract's format; safe to call again to change the level."""
    root = logging.getLogger()
    if not any(getattr(handler, "_client_handler", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._client_handler = True  # type: ignore[attr-defined]
        root.handlers = [handler]
    root.setLevel(level)


def clean(value: object) -> str:
    """A value that cannot break the line: no newlines, no ``|``."""
    return " ".join(str(value).splitlines()).replace("|", "/")


def event(action: str, result: str, **fields: object) -> str:
    """``action: A | result: R | k1: v1 | k2: v2`` with the keys in the given order."""
    parts = [f"action: {action}", f"result: {result}"]
    parts.extend(f"{key}: {clean(value)}" for key, value in fields.items())
    return FIELD_SEPARATOR.join(parts)


def seconds(value: float) -> str:
    """A duration for ``retry_in``-like fields: ``0.052``."""
    return f"{value:.3f}"
