"""SIGTERM and SIGINT become an exception that unwinds the client from any blocking call."""

from __future__ import annotations

import signal
from types import FrameType


class ShutdownRequested(BaseException):
    """Raised by the signal handler; a BaseException so that no ``except Exception`` swallows it."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class ShutdownSignals:
    """Installs the handlers; the first signal raises ``ShutdownRequested``, later ones are ignored."""

    HANDLED = (signal.SIGTERM, signal.SIGINT)

    @classmethod
    def install(cls) -> ShutdownSignals:
        signals = cls()
        for signum in cls.HANDLED:
            signal.signal(signum, signals._handle)
        return signals

    def disarm(self) -> None:
        """Ignore the signals from now on: the client is about to exit and says so itself.

        SIG_IGN rather than a no-op handler: at exit the interpreter resets Python handlers to
        the default, which would let a late SIGTERM kill the finished client with -15.
        """
        for signum in self.HANDLED:
            signal.signal(signum, signal.SIG_IGN)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.disarm()
        raise ShutdownRequested(signal.Signals(signum).name)
