"""Talking to a live server: send probes in waves, check each answer against the model, follow
the server's log and store to check what it logged and kept."""

from __future__ import annotations

import contextlib
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.badinput.model import Outcome, ServerModel, reply_kind, split_replies
from harness.badinput.probes import Probe
from harness.logs import Event, parse_line
from harness.store import Row, StoredBet, as_rows, read_rows
from logline import clean_value
from protocol import Error

IO_TIMEOUT = 5.0


class LogFollower:
    """The events appended to a server's log file since the last call."""

    def __init__(self, path: Path, only: bytes | None = None) -> None:
        self.path = path
        self.only = only  # parse only the lines holding these bytes (thousands of lines: be quick)
        self._offset = 0
        self._pending = b""

    def new_events(self) -> list[Event]:
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        self._offset += len(data)
        data = self._pending + data
        *lines, self._pending = data.split(b"\n")
        wanted = (line for line in lines if self.only is None or self.only in line)
        events = (parse_line(line.decode("utf-8", "replace"), "server") for line in wanted)
        return [event for event in events if event is not None]


class StoreFollower:
    """The rows appended to a bets.csv since the last call (a row still being written waits for
    the next call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_rows(self) -> list[StoredBet]:
        rows, self._offset = read_rows(self.path, self._offset)
        return rows


@dataclass
class Exchange:
    """What one probe got back."""

    replies: list[object]
    error: Error | None
    reset: bool  # the server reset the connection (it closed with our bytes unread)


def exchange_many(host: str, port: int, streams: list[bytes]) -> list[Exchange]:
    """Send each stream on a connection of its own (all open together), half-close, and read what
    the server sends until it closes."""
    sockets = [socket.create_connection((host, port), timeout=IO_TIMEOUT) for _ in streams]
    try:
        for sock, stream in zip(sockets, streams, strict=True):
            with contextlib.suppress(OSError):  # the server may have answered and reset it already
                sock.sendall(stream)
                sock.shutdown(socket.SHUT_WR)
        return [_read_to_end(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _read_to_end(sock: socket.socket) -> Exchange:
    received = b""
    reset = False
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        reset = True
    replies = split_replies(received)
    errors = [reply for reply in replies if isinstance(reply, Error)]
    if errors and replies[-1] is not errors[0]:
        raise AssertionError(f"the server sent more after an ERROR: {replies}")
    return Exchange([r for r in replies if not isinstance(r, Error)], errors[0] if errors else None, reset)


@dataclass
class LiveChecker:
    """Sends probes to one live server and checks each against ``ServerModel``; keeps the tallies.

    ``check_log_and_store`` then checks the server's log and store caught up with them. The model
    must know the server's AGENCIES; probes use agencies from ``next_agency`` on."""

    host: str
    port: int
    new_events: Callable[[], list[Event]]  # the server's events since the last call
    store: StoreFollower
    model: ServerModel = field(default_factory=ServerModel)
    next_agency: int = 1_000
    malformed: int = 0
    probes: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)
    expected_fail_lines: int = 0
    expected_bet_fail_lines: int = 0
    seen_fail_lines: int = 0
    seen_bet_fail_lines: int = 0
    expected_reasons: Counter[str] = field(default_factory=Counter)
    seen_reasons: Counter[str] = field(default_factory=Counter)
    expected_rows: list[Row] = field(default_factory=list)

    def agency(self) -> int:
        self.next_agency += 1
        return self.next_agency

    def send(self, probe: Probe) -> Outcome:
        return self.send_many([probe])[0]

    def send_many(self, probes: list[Probe], wave: int = 32) -> list[Outcome]:
        """Send the probes and check each answer. Up to ``wave`` go out together, on as many
        connections, as long as no two read a frame of the same agency: then their order does not
        matter and predicting them all from the model's current state is exact."""
        outcomes: list[Outcome] = []
        pending = list(probes)
        while pending:
            group: list[tuple[Probe, Outcome]] = []
            touched: set[int] = set()
            for probe in pending:
                outcome = self.model.predict(probe.stream)
                if group and (len(group) == wave or touched & outcome.agencies):
                    break
                group.append((probe, outcome))
                touched |= outcome.agencies
            pending = pending[len(group) :]
            answers = exchange_many(self.host, self.port, [probe.stream for probe, _outcome in group])
            for (probe, outcome), answer in zip(group, answers, strict=True):
                self.model.commit(outcome)  # the server acted on the bytes whatever we find below
                self._check(probe, outcome, answer)
                outcomes.append(outcome)
        return outcomes

    def _check(self, probe: Probe, expected: Outcome, got: Exchange) -> None:
        for agency, _seq, bets in expected.stored:
            self.expected_rows.extend(as_rows(agency, bets))
        self.probes += 1
        self.by_category[probe.category] += 1
        context = f"probe {probe.category} {probe.stream!r}"
        assert [reply_kind(r) for r in got.replies] == expected.replies, f"{context}: replies {got.replies}"
        if expected.error is None:
            assert got.error is None, f"{context}: unexpected {got.error}"
            return
        self.malformed += 1
        self.expected_fail_lines += 1
        self.expected_bet_fail_lines += expected.rejected_bets_logged
        self.by_code[expected.error.name] += 1
        assert got.error is not None, f"{context}: expected ERROR {expected.error.name}, the connection just closed"
        assert got.error.code is expected.error, f"{context}: expected {expected.error.name}, got {got.error}"
        assert got.error.reason, f"{context}: ERROR without a reason"
        self.expected_reasons[clean_value(got.error.reason)] += 1

    def check_log_and_store(self, timeout: float = IO_TIMEOUT) -> None:
        """The server logged one ``connection | result: fail`` per malformed probe, naming the reason the
        client got, and one ``apuesta_recibida | result: fail`` per refused frame with bets; the store
        grew by exactly the acknowledged batches, whole and in order."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.new_events():
                self._count(event)
            caught_up = (
                self.seen_fail_lines >= self.expected_fail_lines
                and self.seen_bet_fail_lines >= self.expected_bet_fail_lines
            )
            if caught_up or time.monotonic() > deadline:
                break
            time.sleep(0.001)
        problems = []
        if self.seen_fail_lines != self.expected_fail_lines:
            problems.append(
                f"{self.seen_fail_lines} `connection | result: fail` lines, expected {self.expected_fail_lines}"
            )
        if self.seen_bet_fail_lines != self.expected_bet_fail_lines:
            problems.append(
                f"{self.seen_bet_fail_lines} `apuesta_recibida | result: fail` lines, "
                f"expected {self.expected_bet_fail_lines}"
            )
        missing = self.expected_reasons - self.seen_reasons
        if missing:
            problems.append(f"reasons sent in ERROR frames but not logged: {list(missing)[:5]}")
        rows = _by_agency(self.store.new_rows())
        expected = _by_agency(self.expected_rows)
        for agency in sorted(set(rows) | set(expected)):
            got, want = rows.get(agency, []), expected.get(agency, [])
            if got != want:
                problems.append(f"agency {agency}: {len(got)} new rows stored, expected the {len(want)} acknowledged")
        # start the next check from a clean slate, so that a failure does not leak into the next probes
        self.seen_fail_lines, self.seen_bet_fail_lines = self.expected_fail_lines, self.expected_bet_fail_lines
        self.expected_reasons.clear()
        self.seen_reasons.clear()
        self.expected_rows = []
        assert not problems, "; ".join(problems)

    def _count(self, event: Event) -> None:
        if event.matches("connection", "fail"):
            self.seen_fail_lines += 1
            self.seen_reasons[event.fields.get("error", "")] += 1
        elif event.matches("apuesta_recibida", "fail"):
            self.seen_bet_fail_lines += 1


def _by_agency(rows: Sequence[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped
