"""Log hubs with lines at chosen times, for the report's tests (no containers)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from harness.lifecycle import ExitRecord
from harness.logstream import LogHub

T0 = 1_796_160_000.0  # an arbitrary UTC instant: every time below is relative to it


def docker_line(at: float, message: str, level: str = "INFO", asctime: bool = True) -> str:
    """What a ContainerLogReader hands the hub: Docker's timestamp, then the line as logged."""
    moment = datetime.fromtimestamp(T0 + at, UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # nanoseconds, as the engine writes them
    if not asctime:
        return f"{stamp} {message}"
    logged = moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}"
    return f"{stamp} {logged} {level:<8} {message}"


def hub_of(lines: list[tuple[str, float, str]]) -> LogHub:
    """A hub fed (service, seconds after T0, message) in time order."""
    hub = LogHub()
    for service, at, message in sorted(lines, key=lambda line: line[1]):
        hub.add_line(service, docker_line(at, message, asctime=not message.startswith(("Traceback", "  File"))))
    return hub


def faulty_run(batches: dict[int, int] | None = None, seed: int = 1) -> tuple[LogHub, list[ExitRecord]]:
    """Three agencies; the server paused from 2 s to 4 s while agency 2 sends; agency 2 killed at
    the end (exit 137); a traceback on client3; a SIGTERM marker. Lines and the engine's exits."""
    batches = batches or {1: 20, 2: 300, 3: 300}
    rng = random.Random(seed)
    lines: list[tuple[str, float, str]] = [("server", 0.3, "action: config | result: success | port: 12345")]
    for agency, count in batches.items():
        client = f"client{agency}"
        ip = f"172.20.0.{agency + 2}"
        lines += [
            (client, 0.5, f"action: config | result: success | client_id: {agency} | server_address: server:12345"),
            (client, 0.6, "action: connect | result: success | server_address: server:12345"),
            ("server", 0.6, f"action: accept_connections | result: success | ip: {ip}"),
        ]
        at, total = 0.7, 0
        for batch in range(1, count + 1):
            at += 0.01 + rng.random() * 0.01
            if agency == 2 and 2.0 < at < 4.0:
                at = 4.0
            total += 5
            lines.append(
                (
                    "server",
                    at - 0.002,
                    f"action: apuesta_recibida | result: success | cantidad: 5 | agencia: {agency} | lote: {batch}",
                )
            )
            lines.append(
                (
                    client,
                    at,
                    f"action: lote_confirmado | result: success | lote: {batch} | cantidad: 5 | total: {total}",
                )
            )
        lines += [
            (client, at + 0.01, f"action: finalizado | result: success | total: {total}"),
            ("server", at + 0.01, f"action: agencia_finalizada | result: success | agencia: {agency}"),
            (client, 6.1, "action: consulta_ganadores | result: success | cant_ganadores: 1 | dnis: 30904465"),
            ("server", 6.1, f"action: close_connection | result: success | ip: {ip} | agencia: {agency}"),
            (client, 6.2, "action: shutdown | result: success | reason: done"),
        ]
    lines += [
        (
            "harness",
            2.0,
            "action: fault | result: success | kind: pause | service: server | phase: inject"
            " | after: client2: lote_confirmado success",
        ),
        ("harness", 4.0, "action: fault | result: success | kind: pause | service: server | phase: undo"),
        (
            "client3",
            3.0,
            "action: connect | result: fail | error: connection lost: no reply within 1 s | retry_in: 0.05",
        ),
        ("client3", 3.1, "Traceback (most recent call last):"),
        ("client3", 3.1, '  File "/app/client/x.py", line 1, in <module> </script><b>'),
        ("server", 6.0, "action: sorteo | result: success | ganadores: 3"),
        ("harness", 6.5, "action: signal | result: success | service: client1 | signal: SIGTERM"),
    ]
    exits = [
        ExitRecord("server", T0 + 0.2, T0 + 7.5, 0),
        ExitRecord("client1", T0 + 0.4, T0 + 6.3, 0),
        ExitRecord("client2", T0 + 0.4, T0 + 6.3, 137),
        ExitRecord("client3", T0 + 0.4, T0 + 6.3, 0),
    ]
    return hub_of(lines), exits
