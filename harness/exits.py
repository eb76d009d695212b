"""What an agency's exit means for the lottery, in plain words: how it ended, and why the draw
(which waits for every agency) can or cannot happen. Both backends' clusters raise with it."""

from __future__ import annotations

import signal as signals

from harness.logs import EventLog, agency_from_service


def describe_client_exit(service: str, code: int, events: EventLog, waiting: list[str]) -> str:
    """In plain words: how ``service`` ended, and what it means for the draw."""
    if code > 128 and code - 128 in signals.valid_signals():
        how = f"was killed by {signals.Signals(code - 128).name} (exit {code})"
    else:
        how = {0: "exited 0", 1: "failed (exit 1)", 2: "refused its configuration (exit 2)"}.get(code, f"exit {code}")
    text = f"{service} {how}"
    if events.first("finalizado", "success", service=service) is None:
        agency = agency_from_service(service)
        text += f"; agency {agency} never sent FINISHED, so the draw (it waits for every agency) cannot happen"
        if waiting:
            text += f" and {', '.join(waiting)} would wait for their winners forever"
    return text


def unexpected_exit(service: str, code: int, expect: int, events: EventLog, waiting: list[str], tail: list[str]) -> str:
    """The error message for a client that ended with ``code`` instead of ``expect``; ``tail``: its
    last log lines."""
    described = describe_client_exit(service, code, events, waiting)
    tails = "\n".join(tail)
    return f"clients exited with {{{service!r}: {code}}}, expected {expect}: {described}\n{tails}"
