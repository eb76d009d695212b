"""The one knob for latency bounds in the tests: ``HARNESS_TIME_SCALE`` (default 1) multiplies every
bound where latency is the point, so a loaded or slow machine can widen them all at once."""

from __future__ import annotations

import os

TIME_SCALE = float(os.environ.get("HARNESS_TIME_SCALE", "1"))


def scaled(seconds: float) -> float:
    """``seconds`` times ``HARNESS_TIME_SCALE``."""
    return seconds * TIME_SCALE
