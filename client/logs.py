"""The client's logging set-up; the lines themselves follow ``logline`` (docs/CONVENTIONS.md)."""

from __future__ import annotations

import logging
import sys

from logline import LOG_FORMAT

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


def seconds(value: float) -> str:
    """A duration for ``retry_in``-like fields: ``0.052``."""
    return f"{value:.3f}"
