"""Exponential back-off with equal jitter, and the growing gaps between progress lines."""

from __future__ import annotations

import random
from collections.abc import Callable
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


class GrowingInterval:
    """Says when a repeated step is worth an INFO line: the first time, then after gaps that grow
    like a back-off (``first``, twice that, ... up to ``maximum`` seconds), so a long wait shows
    it is alive without a line per poll."""

    def __init__(
        self, clock: Callable[[], float], first: float = 1.0, multiplier: float = 2.0, maximum: float = 30.0
    ) -> None:
        self._clock = clock
        self._gap = first
        self._multiplier = multiplier
        self._maximum = maximum
        self._next_due: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._next_due is not None and now < self._next_due:
            return False
        self._next_due = now + self._gap
        self._gap = min(self._gap * self._multiplier, self._maximum)
        return True
