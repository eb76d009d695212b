"""Exponential back-off with equal jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffSettings:
    initial: float  # seconds, the first step
    maximum: float  # seconds, the cap of a step
    multiplier: float  # each step is this times the previous one


class Backoff:
    """Delays of ``initial``, ``initial * multiplier``, ... capped at ``maximum``.

    Equal jitter: each delay is drawn from [step / 2, step], so clients that failed
    together do not retry together, and no delay is ever close to zero.
    """

    def __init__(self, settings: BackoffSettings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random()
        self._step = settings.initial

    def next_delay(self) -> float:
        step = min(self._step, self._settings.maximum)
        self._step = min(self._step * self._settings.multiplier, self._settings.maximum)
        return step / 2 + self._rng.uniform(0, step / 2)

    def reset(self) -> None:
        self._step = self._settings.initial
