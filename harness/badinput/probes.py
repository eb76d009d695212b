"""Malformed input for a live server: the probes, one table of categories and their generators.

A *probe* is the whole byte stream one connection sends (after it the sender half-closes):
optionally a few valid frames, then something malformed of one category. The generators take a
``Draw`` (random numbers) so the same code serves hypothesis (fast tests, shrinkable) and a seeded
``random.Random`` (container scenarios).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol, TypeVar

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
    MessageType,
    Ping,
    Pong,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    encode,
)
from protocol.frame import HEADER, MAGIC, VERSION
from protocol.messages import BATCH_PREFIX

T = TypeVar("T")
_U16 = struct.Struct("!H")


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


Generator = Callable[[Draw, int, bytes, list[bytes]], bytes]
"""A category's malformed part: from a draw, the probe's agency, a valid BATCH frame of it and
that frame's raw bets (for the categories that bend a valid frame)."""


def _random_bytes(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    prefix = draw.choice((b"", MAGIC, MAGIC + bytes([VERSION])))
    return prefix + draw.raw(1, 48)


def _bad_magic(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return draw.choice((b"XX", b"lt", b"TL", b"\x00\x00")) + frame[2:]


def _bad_version(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return frame[:2] + bytes([draw.choice((0, 2, 255))]) + frame[3:]


def _truncated_header(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return frame[: draw.integer(1, HEADER_SIZE - 1)]


def _oversized_length(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return _with_length(frame[:HEADER_SIZE], draw.integer(MAX_PAYLOAD_SIZE + 1, 65535)) + draw.raw(0, 16)


def _length_shorter_than_payload(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    payload = len(frame) - HEADER_SIZE
    return _with_length(frame, draw.integer(0, payload - 1))


def _length_longer_than_payload(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    payload = len(frame) - HEADER_SIZE
    return _with_length(frame, draw.integer(payload + 1, MAX_PAYLOAD_SIZE))


def _unknown_type(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return frame[:3] + bytes([draw.choice((0, *range(10, 256)))]) + frame[4:]


def _invalid_utf8(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    field_index = draw.integer(0, 1)
    good = draw.choice(NAMES).encode()
    cut = draw.integer(0, len(good))
    return _bad_bet_frame(draw, agency, field_index, good[:cut] + draw.choice(BAD_UTF8) + good[cut:])


def _bad_date(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return _bad_bet_frame(draw, agency, 3, draw.choice(BAD_DATES))


def _non_numeric_number(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return _bad_bet_frame(draw, agency, 4, draw.choice(BAD_DIGITS + OUT_OF_RANGE_NUMBERS))


def _non_numeric_document(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return _bad_bet_frame(draw, agency, 2, draw.choice(BAD_DIGITS))


def _empty_name(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return _bad_bet_frame(draw, agency, draw.integer(0, 1), b"")


def _empty_batch(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return batch_frame(agency, draw.integer(1, 100), [], count=0)


def _batch_count_mismatch(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    delta = draw.choice((-1, 1, 2, 100))
    return batch_frame(agency, draw.integer(1, 100), bets, count=max(0, len(bets) + delta))


def _trailing_bytes(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    extra = draw.raw(1, 8)
    return _with_length(frame + extra, len(frame) - HEADER_SIZE + len(extra))


def _seq_zero(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return batch_frame(agency, 0, bets)


def _agency_mismatch(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    other = agency + draw.integer(1, 1000)
    return valid_batch(draw, agency, 1) + valid_batch(draw, other, 1)


def _winners_query_before_finished(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return encode(WinnersQuery(agency))


def _finished_twice(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return encode(Finished(agency)) + encode(Finished(agency))


def _bets_after_finished(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return encode(Finished(agency)) + valid_batch(draw, agency, 1)


def _bets_of_agency_zero(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return draw.choice((valid_batch(draw, 0, 1), encode(SingleBet(0, valid_bet(draw)))))


def _server_only_type(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    return draw.choice(
        (
            encode(Ack(agency, AckStatus.OK, 3)),
            encode(Winners(agency, WinnersStatus.READY, ("123",))),
            encode(Error(agency, ErrorCode.MALFORMED, "x")),
            encode(Pong(agency, b"p")),
        )
    )


def _mutant(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    base = draw.choice((frame, encode(SingleBet(agency, valid_bet(draw))), encode(Finished(agency))))
    return _mutate(draw, base)


def _seq_reused_with_other_bets(draw: Draw, agency: int, frame: bytes, bets: list[bytes]) -> bytes:
    seq = draw.integer(3, 2**32 - 1)  # the prefix's batches are 1 and 2
    return valid_batch(draw, agency, seq) + valid_batch(draw, agency, seq)


# The one table of categories: a name cannot exist without its generator.
GENERATORS: dict[str, Generator] = {
    "random_bytes": _random_bytes,
    "bad_magic": _bad_magic,
    "bad_version": _bad_version,
    "truncated_header": _truncated_header,
    "oversized_length": _oversized_length,
    "length_shorter_than_payload": _length_shorter_than_payload,
    "length_longer_than_payload": _length_longer_than_payload,
    "unknown_type": _unknown_type,
    "invalid_utf8": _invalid_utf8,
    "bad_date": _bad_date,
    "non_numeric_number": _non_numeric_number,
    "non_numeric_document": _non_numeric_document,
    "empty_name": _empty_name,
    "empty_batch": _empty_batch,
    "batch_count_mismatch": _batch_count_mismatch,
    "trailing_bytes": _trailing_bytes,
    "seq_zero": _seq_zero,
    "agency_mismatch": _agency_mismatch,
    "winners_query_before_finished": _winners_query_before_finished,
    "finished_twice": _finished_twice,
    "bets_after_finished": _bets_after_finished,
    "bets_of_agency_zero": _bets_of_agency_zero,
    "server_only_type": _server_only_type,
    "mutant": _mutant,
    "seq_reused_with_other_bets": _seq_reused_with_other_bets,
}
CATEGORIES = tuple(GENERATORS)


def probe(draw: Draw, agency: int, category: str | None = None) -> Probe:
    """One connection's bytes: maybe a PING, maybe a valid batch or two of ``agency`` and a keyed
    single bet sent twice, then the bad part."""
    category = category or draw.choice(CATEGORIES)
    prefix = b""
    if draw.integer(0, 3) == 0:
        prefix += encode(Ping(draw.choice((0, agency)), draw.raw(0, 8)))
    if category not in ("agency_mismatch", "bets_of_agency_zero") and draw.integer(0, 2) == 0:
        prefix += b"".join(valid_batch(draw, agency, seq) for seq in range(1, draw.integer(1, 2) + 1))
        if draw.integer(0, 1) == 0:  # a single bet with its key, resent as after a lost ACK: stored once
            bet = encode(SingleBet(agency, valid_bet(draw), draw.integer(1, 2**64 - 1)))
            prefix += bet + bet
    if category not in GENERATORS:
        raise ValueError(f"unknown category {category!r}")
    bets = [raw_bet(bet_fields(draw)) for _ in range(draw.integer(1, 3))]
    frame = batch_frame(agency, draw.integer(1, 2**32 - 1), bets)
    return Probe(category, prefix + GENERATORS[category](draw, agency, frame, bets))


def random_probes(seed: int, count: int, first_agency: int) -> list[Probe]:
    """``count`` probes from a seeded generator, agency ``first_agency + i`` for the i-th."""
    draw = RandomDraw(random.Random(seed))
    return [probe(draw, first_agency + index) for index in range(count)]
