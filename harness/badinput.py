"""Malformed input for a live server, and a model of what the server must answer to it.

A *probe* is the whole byte stream one connection sends (after it the sender half-closes):
optionally a few valid frames, then something malformed. ``ServerModel.predict`` says what
a correct server answers to it, frame by frame, from the server's rules (docs/CONVENTIONS.md,
server/README.md) and the reference decoder of ``protocol``: the replies (ACK, PONG,
NOT_READY), the ERROR code that ends the connection (or none), which batches it stores, and
whether it logs ``apuesta_recibida | result: fail``. ``commit`` applies a prediction once the
probe was sent, so the model follows the server's state (stored seqs, finished agencies).

The generators take a ``Draw`` (random numbers) so the same code serves hypothesis (fast
tests, shrinkable) and a seeded ``random.Random`` (container scenarios).
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

from harness.logs import Event, parse_line
from logline import clean_value
from protocol import (
    HEADER_SIZE,
    MAX_PAYLOAD_SIZE,
    Ack,
    AckStatus,
    Batch,
    BetData,
    Error,
    ErrorCode,
    Finished,
    FrameDecoder,
    Header,
    Message,
    MessageType,
    Ping,
    Pong,
    ProtocolError,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    decode,
    encode,
    parse_header,
)
from protocol.frame import HEADER, MAGIC, VERSION
from protocol.messages import BATCH_PREFIX

T = TypeVar("T")
_U16 = struct.Struct("!H")
_SERVER_ONLY = (Ack, Winners, Error, Pong)
NO_SEQ = 0


class Draw(Protocol):
    def integer(self, low: int, high: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...
    def raw(self, min_size: int, max_size: int) -> bytes: ...


class RandomDraw:
    """``Draw`` from a seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def raw(self, min_size: int, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(min_size, max_size))


# -- building blocks ------------------------------------------------------------------------

NAMES = ("Ana", "José María", 'Juan "el", h.', "Zoë | Luz", "Łukasz", "日本", "𝄞x", "O'Brien", "a\nb", "\x00")
BAD_UTF8 = (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"ab\xe2\x82", b"\x80abc")
BAD_DATES = (
    b"2000-02-30",
    b"2000-13-01",
    b"2000-00-10",
    b"20000101",
    b"2000-1-01",
    b"2000/01/01",
    b"2023-W01-1",
    b"",
    b"0000-01-01",
    "\uff12\uff10\uff10\uff10-01-01".encode(),  # full-width digits
    b"2000-01-01T00:00",
    b"  2000-01-1",
)
BAD_DIGITS = (b"", b"12a", b"-1", b" 1", b"1.5", b"+7", "٣".encode(), b"0x1f", b"1e3", b"\x00")
OUT_OF_RANGE_NUMBERS = (b"4294967296", b"99999999999", b"1" * 60)


def string(raw: bytes) -> bytes:
    return _U16.pack(len(raw)) + raw


def bet_fields(draw: Draw) -> list[bytes]:
    """The five raw fields of a valid bet."""
    day = date.fromordinal(draw.integer(date(1930, 1, 1).toordinal(), date(2005, 12, 31).toordinal()))
    return [
        draw.choice(NAMES).encode(),
        draw.choice(NAMES).encode(),
        str(draw.integer(1, 99_999_999)).encode(),
        day.isoformat().encode(),
        str(draw.choice((7574, draw.integer(0, 9999)))).encode(),
    ]


def raw_bet(fields: Sequence[bytes]) -> bytes:
    return b"".join(string(value) for value in fields)


def valid_bet(draw: Draw) -> BetData:
    first, last, document, birthdate, number = bet_fields(draw)
    return BetData(
        first.decode(), last.decode(), document.decode(), date.fromisoformat(birthdate.decode()), int(number)
    )


def batch_frame(agency: int, seq: int, bets: Sequence[bytes], count: int | None = None) -> bytes:
    payload = BATCH_PREFIX.pack(seq, len(bets) if count is None else count) + b"".join(bets)
    return raw_frame(MessageType.BATCH, agency, payload)


def raw_frame(type_code: int, agency: int, payload: bytes, length: int | None = None) -> bytes:
    """A frame with any header values (``length`` defaults to the payload's)."""
    declared = len(payload) if length is None else length
    return HEADER.pack(MAGIC, VERSION, type_code, agency, declared) + payload


def valid_batch(draw: Draw, agency: int, seq: int, bets: int | None = None) -> bytes:
    count = bets if bets is not None else draw.integer(1, 4)
    return encode(Batch(agency, seq, tuple(valid_bet(draw) for _ in range(count))))


# -- probes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    category: str
    stream: bytes


def _bad_bet_frame(draw: Draw, agency: int, field_index: int, value: bytes) -> bytes:
    """A BET or a BATCH in which one bet has ``value`` in field ``field_index``."""
    fields = bet_fields(draw)
    fields[field_index] = value
    bad = raw_bet(fields)
    if draw.integer(0, 1) == 0:
        return raw_frame(MessageType.BET, agency, bad)
    before = [raw_bet(bet_fields(draw)) for _ in range(draw.integer(0, 3))]
    after = [raw_bet(bet_fields(draw)) for _ in range(draw.integer(0, 2))]
    return batch_frame(agency, draw.integer(1, 2**32 - 1), [*before, bad, *after])


def _with_length(frame: bytes, length: int) -> bytes:
    return frame[:8] + _U16.pack(length) + frame[HEADER_SIZE:]


def _mutate(draw: Draw, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(draw.integer(1, 4)):
        position = draw.integer(0, max(0, len(data) - 1))
        operation = draw.choice(("set", "flip", "insert", "delete"))
        if operation == "set" and data:
            data[position] = draw.integer(0, 255)
        elif operation == "flip" and data:
            data[position] ^= 1 << draw.integer(0, 7)
        elif operation == "insert":
            data[position:position] = draw.raw(1, 3)
        elif data:
            del data[position]
    return bytes(data)


def _category_frames(draw: Draw, agency: int, category: str) -> bytes:
    bets = [raw_bet(bet_fields(draw)) for _ in range(draw.integer(1, 3))]
    frame = batch_frame(agency, draw.integer(1, 2**32 - 1), bets)
    if category == "random_bytes":
        prefix = draw.choice((b"", MAGIC, MAGIC + bytes([VERSION])))
        return prefix + draw.raw(1, 48)
    if category == "bad_magic":
        return draw.choice((b"XX", b"lt", b"TL", b"\x00\x00")) + frame[2:]
    if category == "bad_version":
        return frame[:2] + bytes([draw.choice((0, 2, 255))]) + frame[3:]
    if category == "truncated_header":
        return frame[: draw.integer(1, HEADER_SIZE - 1)]
    if category == "oversized_length":
        return _with_length(frame[:HEADER_SIZE], draw.integer(MAX_PAYLOAD_SIZE + 1, 65535)) + draw.raw(0, 16)
    if category == "length_shorter_than_payload":
        payload = len(frame) - HEADER_SIZE
        return _with_length(frame, draw.integer(0, payload - 1))
    if category == "length_longer_than_payload":
        payload = len(frame) - HEADER_SIZE
        return _with_length(frame, draw.integer(payload + 1, MAX_PAYLOAD_SIZE))
    if category == "unknown_type":
        return frame[:3] + bytes([draw.choice((0, *range(10, 256)))]) + frame[4:]
    if category == "invalid_utf8":
        field_index = draw.integer(0, 1)
        good = draw.choice(NAMES).encode()
        cut = draw.integer(0, len(good))
        return _bad_bet_frame(draw, agency, field_index, good[:cut] + draw.choice(BAD_UTF8) + good[cut:])
    if category == "bad_date":
        return _bad_bet_frame(draw, agency, 3, draw.choice(BAD_DATES))
    if category == "non_numeric_number":
        return _bad_bet_frame(draw, agency, 4, draw.choice(BAD_DIGITS + OUT_OF_RANGE_NUMBERS))
    if category == "non_numeric_document":
        return _bad_bet_frame(draw, agency, 2, draw.choice(BAD_DIGITS))
    if category == "empty_name":
        return _bad_bet_frame(draw, agency, draw.integer(0, 1), b"")
    if category == "empty_batch":
        return batch_frame(agency, draw.integer(1, 100), [], count=0)
    if category == "batch_count_mismatch":
        delta = draw.choice((-1, 1, 2, 100))
        return batch_frame(agency, draw.integer(1, 100), bets, count=max(0, len(bets) + delta))
    if category == "trailing_bytes":
        extra = draw.raw(1, 8)
        return _with_length(frame + extra, len(frame) - HEADER_SIZE + len(extra))
    if category == "seq_zero":
        return batch_frame(agency, 0, bets)
    if category == "agency_mismatch":
        other = agency + draw.integer(1, 1000)
        return valid_batch(draw, agency, 1) + valid_batch(draw, other, 1)
    if category == "winners_query_before_finished":
        return encode(WinnersQuery(agency))
    if category == "finished_twice":
        return encode(Finished(agency)) + encode(Finished(agency))
    if category == "bets_after_finished":
        return encode(Finished(agency)) + valid_batch(draw, agency, 1)
    if category == "bets_of_agency_zero":
        return draw.choice((valid_batch(draw, 0, 1), encode(SingleBet(0, valid_bet(draw)))))
    if category == "server_only_type":
        return draw.choice(
            (
                encode(Ack(agency, AckStatus.OK, 3)),
                encode(Winners(agency, WinnersStatus.READY, ("123",))),
                encode(Error(agency, ErrorCode.MALFORMED, "x")),
                encode(Pong(agency, b"p")),
            )
        )
    if category == "mutant":
        base = draw.choice((frame, encode(SingleBet(agency, valid_bet(draw))), encode(Finished(agency))))
        return _mutate(draw, base)
    raise ValueError(f"unknown category {category!r}")


CATEGORIES = (
    "random_bytes",
    "bad_magic",
    "bad_version",
    "truncated_header",
    "oversized_length",
    "length_shorter_than_payload",
    "length_longer_than_payload",
    "unknown_type",
    "invalid_utf8",
    "bad_date",
    "non_numeric_number",
    "non_numeric_document",
    "empty_name",
    "empty_batch",
    "batch_count_mismatch",
    "trailing_bytes",
    "seq_zero",
    "agency_mismatch",
    "winners_query_before_finished",
    "finished_twice",
    "bets_after_finished",
    "bets_of_agency_zero",
    "server_only_type",
    "mutant",
)


def probe(draw: Draw, agency: int, category: str | None = None) -> Probe:
    """One connection's bytes: maybe a PING and a valid batch or two of ``agency``, then the bad part."""
    category = category or draw.choice(CATEGORIES)
    prefix = b""
    if draw.integer(0, 3) == 0:
        prefix += encode(Ping(draw.choice((0, agency)), draw.raw(0, 8)))
    if category not in ("agency_mismatch", "bets_of_agency_zero") and draw.integer(0, 2) == 0:
        prefix += b"".join(valid_batch(draw, agency, seq) for seq in range(1, draw.integer(1, 2) + 1))
    return Probe(category, prefix + _category_frames(draw, agency, category))


# -- the model --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a correct server answers to one probe."""

    replies: list[tuple[str, int]] = field(default_factory=list)  # ("ACK", status), ("PONG", len), ("NOT_READY", 0)
    error: ErrorCode | None = None  # the ERROR that ends the connection; None: a clean close
    rejected_bets_logged: bool = False  # `apuesta_recibida | result: fail` expected
    stored: list[tuple[int, int, tuple[BetData, ...]]] = field(default_factory=list)  # (agency, seq, bets)
    finished: list[int] = field(default_factory=list)
    agencies: set[int] = field(default_factory=set)  # of every frame read: the state it may touch

    @property
    def malformed(self) -> bool:
        return self.error is not None


class ServerModel:
    """The server's rules (for ``agencies`` = its AGENCIES), as long as its draw does not happen:
    the probes must not finish every agency 1..AGENCIES (the generators use agencies far above)."""

    def __init__(self, agencies: int = 4_000_000_000) -> None:
        self.agencies = agencies
        self.seqs: dict[int, set[int]] = {}
        self.finished: set[int] = set()
        self.rows: dict[int, list[BetData]] = {}

    def predict(self, stream: bytes) -> Outcome:
        outcome = Outcome()
        new_seqs: set[tuple[int, int]] = set()  # stored by this probe (the model changes only on commit)
        finished = set(self.finished)
        connection_agency: int | None = None
        finished_here = False
        frames, refused_header, pending = _split_frames(stream)
        for header, payload in frames:
            outcome.agencies.add(header.agency)
            try:
                message = decode(header, payload)
            except ProtocolError:
                outcome.error = ErrorCode.MALFORMED
                outcome.rejected_bets_logged = header.type in (MessageType.BET, MessageType.BATCH)
                return outcome
            if isinstance(message, Ping):
                outcome.replies.append(("PONG", len(message.data)))
                continue
            carries_bets = isinstance(message, SingleBet | Batch)
            if connection_agency is None:
                connection_agency = message.agency
            elif message.agency != connection_agency:
                return self._reject(outcome, ErrorCode.AGENCY_MISMATCH, carries_bets)
            agency = message.agency
            if isinstance(message, SingleBet | Batch):  # carries_bets, spelled out for the type checker
                seq = message.seq if isinstance(message, Batch) else NO_SEQ
                bets = message.bets if isinstance(message, Batch) else (message.bet,)
                if agency == 0 or agency > self.agencies or finished_here:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, True)
                if seq != NO_SEQ and (seq in self.seqs.get(agency, ()) or (agency, seq) in new_seqs):
                    outcome.replies.append(("ACK", AckStatus.DUPLICATE))
                    continue
                if agency in finished:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, True)
                new_seqs.add((agency, seq))
                outcome.stored.append((agency, seq, tuple(bets)))
                outcome.replies.append(("ACK", AckStatus.OK))
            elif isinstance(message, Finished):
                if agency == 0 or agency > self.agencies or finished_here:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
                finished_here = True
                status = AckStatus.DUPLICATE if agency in finished else AckStatus.OK
                finished.add(agency)
                outcome.finished.append(agency)
                outcome.replies.append(("ACK", status))
            elif isinstance(message, WinnersQuery):
                if agency not in finished:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
                outcome.replies.append(("NOT_READY", 0))  # the draw never happens here
            else:  # ACK, WINNERS, ERROR, PONG: only the server sends them
                return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
        if refused_header is not None:  # bets are logged only when magic and version were fine
            outcome.error = ErrorCode.MALFORMED
            outcome.rejected_bets_logged = refused_header[:3] == MAGIC + bytes([VERSION]) and refused_header[3] in (
                1,
                2,
            )
        elif pending:  # the sender half-closes after its bytes: EOF mid-frame
            outcome.error = ErrorCode.MALFORMED
        return outcome

    @staticmethod
    def _reject(outcome: Outcome, code: ErrorCode, carries_bets: bool) -> Outcome:
        outcome.error = code
        outcome.rejected_bets_logged = carries_bets
        return outcome

    def commit(self, outcome: Outcome) -> None:
        for agency, seq, bets in outcome.stored:
            self.seqs.setdefault(agency, set()).add(seq)
            self.rows.setdefault(agency, []).extend(bets)
        self.finished.update(outcome.finished)


def _split_frames(stream: bytes) -> tuple[list[tuple[Header, bytes]], bytes | None, bool]:
    """(complete frames, the header refused after them or None, whether bytes of a frame are left).

    As the server reads: the 10 header bytes are checked as soon as they are in, before any payload.
    """
    frames: list[tuple[Header, bytes]] = []
    offset = 0
    while offset < len(stream):
        raw_header = stream[offset : offset + HEADER_SIZE]
        if len(raw_header) < HEADER_SIZE:
            return frames, None, True
        try:
            header = parse_header(raw_header)
        except ProtocolError:
            return frames, raw_header, False
        payload = stream[offset + HEADER_SIZE : offset + HEADER_SIZE + header.length]
        if len(payload) < header.length:
            return frames, None, True
        frames.append((header, payload))
        offset += HEADER_SIZE + header.length
    return frames, None, False


def reply_kind(message: object) -> tuple[str, int]:
    """A received reply in ``Outcome.replies``' terms (ERRORs are compared apart)."""
    if isinstance(message, Ack):
        return ("ACK", message.status)
    if isinstance(message, Pong):
        return ("PONG", len(message.data))
    if isinstance(message, Winners) and message.status is WinnersStatus.NOT_READY:
        return ("NOT_READY", 0)
    return (type(message).__name__, -1)


def split_replies(data: bytes) -> list[Message]:
    """Every complete frame in ``data``, decoded; a trailing partial frame is a ProtocolError."""
    decoder = FrameDecoder()
    messages = [decode(header, payload) for header, payload in decoder.feed(data)]
    if decoder.pending:
        raise ProtocolError(f"{decoder.pending} bytes of an incomplete reply frame")
    return messages


def random_probes(seed: int, count: int, first_agency: int) -> list[Probe]:
    """``count`` probes from a seeded generator, agency ``first_agency + i`` for the i-th."""
    draw = RandomDraw(random.Random(seed))
    return [probe(draw, first_agency + index) for index in range(count)]


# -- talking to a live server -------------------------------------------------------------------

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
    """The rows appended to a bets.csv since the last call (each batch is appended whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def new_rows(self) -> list[tuple[int, str, str, str, str, int]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        self._offset += len(data)
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
        return [(int(a), first, last, doc, birth, int(number)) for a, first, last, doc, birth, number in reader]


def as_row(agency: int, bet: BetData) -> tuple[int, str, str, str, str, int]:
    return (agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number)


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
    expected_rows: list[tuple[int, str, str, str, str, int]] = field(default_factory=list)

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
            self.expected_rows.extend(as_row(agency, bet) for bet in bets)
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


Row = tuple[int, str, str, str, str, int]


def _by_agency(rows: list[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped
