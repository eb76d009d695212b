"""Messages and their payloads. Pure encode/decode: no sockets here.

Bets (``BetData``, their encoding and decoders) are in ``protocol.bets``; strings, integers and
the strict reader in ``protocol.payload``. See docs/protocol.md for the byte diagrams.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from protocol.bets import BetData, check_digits, encode_bet, parse_digits, read_bets
from protocol.errors import ProtocolError
from protocol.frame import HEADER_SIZE, MAX_PAYLOAD_SIZE, Header, MessageType, build_frame, parse_header
from protocol.payload import MAX_U16, MAX_U32, MAX_U64, U64, PayloadReader, encode_string

BATCH_PREFIX = struct.Struct("!IH")  # seq, count
_ACK = struct.Struct("!BI")  # status, count
_WINNERS_PREFIX = struct.Struct("!BH")  # status, count
_ERROR_PREFIX = struct.Struct("!H")  # code

NO_BET_KEY = 0  # a BET without an idempotency key: the server never deduplicates it


class AckStatus(IntEnum):
    OK = 0
    DUPLICATE = 1  # this batch was already stored; it was not stored again


class WinnersStatus(IntEnum):
    READY = 0
    NOT_READY = 1
    READY_MORE = 2  # ready, and another WINNERS frame with more documents follows


class ErrorCode(IntEnum):
    MALFORMED = 1
    INVALID_BET = 2
    AGENCY_MISMATCH = 3
    UNEXPECTED_MESSAGE = 4
    TIMEOUT = 5
    STORAGE = 6
    SHUTTING_DOWN = 7
    INTERNAL = 8
    CONFLICT = 9  # a resent BATCH seq whose content differs from the stored one: the store is an earlier run's


# -- messages ---------------------------------------------------------------------------


def _enum(kind: type[IntEnum], value: int, what: str) -> IntEnum:
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"{what}: unknown {kind.__name__} {value!r}") from None


def _u32(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U32:
        raise ProtocolError(f"{field} must be an integer in 0..{MAX_U32}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SingleBet:
    """One bet; ``key`` makes a resend recognisable (the client derives it from its run and the bet)."""

    TYPE: ClassVar[MessageType] = MessageType.BET
    agency: int
    bet: BetData
    key: int = NO_BET_KEY

    def payload(self) -> bytes:
        if isinstance(self.key, bool) or not isinstance(self.key, int) or not 0 <= self.key <= MAX_U64:
            raise ProtocolError(f"BET key must be an integer in 0..{MAX_U64}, got {self.key!r}")
        return encode_bet(self.bet) + U64.pack(self.key)

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> SingleBet:
        (bet,) = read_bets(reader, 1, None)
        (key,) = reader.unpack(U64, "key")
        return cls(agency, bet, key)


@dataclass(frozen=True, slots=True)
class Batch:
    """Many bets of one agency; ``seq`` numbers the agency's batches from 1."""

    TYPE: ClassVar[MessageType] = MessageType.BATCH
    agency: int
    seq: int
    bets: tuple[BetData, ...]

    def payload(self) -> bytes:
        return encode_batch_payload(self.seq, [encode_bet(bet) for bet in self.bets])

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Batch:
        seq, count = reader.unpack(BATCH_PREFIX, "seq and count")
        if seq == 0:
            raise ProtocolError("BATCH: seq 0 (an agency's batches are numbered from 1)")
        if count == 0:
            raise ProtocolError("BATCH: empty batch (count 0)")
        bets = read_bets(reader, count, "BATCH")
        return cls(agency, seq, tuple(bets))


def encode_batch_payload(seq: int, encoded_bets: list[bytes]) -> bytes:
    """``seq``, count and the already encoded bets (see ``encode_bet``)."""
    if not encoded_bets:
        raise ProtocolError("a batch needs at least one bet")
    if len(encoded_bets) > MAX_U16:
        raise ProtocolError(f"a batch holds at most {MAX_U16} bets, got {len(encoded_bets)}")
    if _u32(seq, "seq") == 0:
        raise ProtocolError("a batch's seq starts at 1")
    return BATCH_PREFIX.pack(seq, len(encoded_bets)) + b"".join(encoded_bets)


BATCH_OVERHEAD = BATCH_PREFIX.size


@dataclass(frozen=True, slots=True)
class Ack:
    TYPE: ClassVar[MessageType] = MessageType.ACK
    agency: int
    status: AckStatus
    count: int

    def payload(self) -> bytes:
        status = _enum(AckStatus, self.status, "ACK")
        return _ACK.pack(status, _u32(self.count, "count"))

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Ack:
        status, count = reader.unpack(_ACK, "status and count")
        try:
            return cls(agency, AckStatus(status), count)
        except ValueError:
            raise ProtocolError(f"ACK: unknown status {status}") from None


@dataclass(frozen=True, slots=True)
class Finished:
    TYPE: ClassVar[MessageType] = MessageType.FINISHED
    agency: int

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Finished:
        return cls(agency)


@dataclass(frozen=True, slots=True)
class WinnersQuery:
    TYPE: ClassVar[MessageType] = MessageType.WINNERS_QUERY
    agency: int

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> WinnersQuery:
        return cls(agency)


WINNERS_OVERHEAD = _WINNERS_PREFIX.size


@dataclass(frozen=True, slots=True)
class Winners:
    TYPE: ClassVar[MessageType] = MessageType.WINNERS
    agency: int
    status: WinnersStatus
    documents: tuple[str, ...] = ()

    def payload(self) -> bytes:
        status = _enum(WinnersStatus, self.status, "WINNERS")
        if status is WinnersStatus.NOT_READY and self.documents:
            raise ProtocolError("WINNERS: a not-ready answer carries no documents")
        if len(self.documents) > MAX_U16:
            raise ProtocolError(f"WINNERS: at most {MAX_U16} documents per frame, got {len(self.documents)}")
        for document in self.documents:
            check_digits(document, "document")
        body = b"".join(encode_string(document, "document") for document in self.documents)
        return _WINNERS_PREFIX.pack(status, len(self.documents)) + body

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Winners:
        status_code, count = reader.unpack(_WINNERS_PREFIX, "status and count")
        try:
            status = WinnersStatus(status_code)
        except ValueError:
            raise ProtocolError(f"WINNERS: unknown status {status_code}") from None
        if status is WinnersStatus.NOT_READY and count:
            raise ProtocolError("WINNERS: a not-ready answer carries no documents")
        documents = tuple(parse_digits(reader.string("document"), "document", "WINNERS") for _ in range(count))
        return cls(agency, status, documents)


def split_winners(agency: int, documents: Iterable[str]) -> list[Winners]:
    """The WINNERS READY answer for ``documents``, as as many frames as needed.

    Every frame but the last is ``READY_MORE``; the last is ``READY`` (a single
    ``READY`` frame with no documents when there are none). Each frame fits in
    ``MAX_FRAME_SIZE``; documents keep their order.
    """
    frames: list[Winners] = []
    chunk: list[str] = []
    size = WINNERS_OVERHEAD
    for document in documents:
        check_digits(document, "document")
        needed = 2 + len(document)
        if needed + WINNERS_OVERHEAD > MAX_PAYLOAD_SIZE:
            raise ProtocolError(f"a document of {len(document)} digits cannot fit in any frame")
        if size + needed > MAX_PAYLOAD_SIZE or len(chunk) == MAX_U16:
            frames.append(Winners(agency, WinnersStatus.READY_MORE, tuple(chunk)))
            chunk, size = [], WINNERS_OVERHEAD
        chunk.append(document)
        size += needed
    frames.append(Winners(agency, WinnersStatus.READY, tuple(chunk)))
    return frames


@dataclass(frozen=True, slots=True)
class Error:
    TYPE: ClassVar[MessageType] = MessageType.ERROR
    agency: int
    code: ErrorCode
    reason: str

    def payload(self) -> bytes:
        code = _enum(ErrorCode, self.code, "ERROR")
        raw = self.reason.encode("utf-8", "replace")[: MAX_PAYLOAD_SIZE - 4]
        return _ERROR_PREFIX.pack(code) + encode_string(raw.decode("utf-8", "ignore"), "reason")

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Error:
        (code,) = reader.unpack(_ERROR_PREFIX, "code")
        try:
            error_code = ErrorCode(code)
        except ValueError:
            raise ProtocolError(f"ERROR: unknown error code {code}") from None
        return cls(agency, error_code, reader.string("reason"))


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[MessageType] = MessageType.PING
    agency: int
    data: bytes = b""

    def payload(self) -> bytes:
        return self.data

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Ping:
        return cls(agency, reader.rest())


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[MessageType] = MessageType.PONG
    agency: int
    data: bytes = b""

    def payload(self) -> bytes:
        return self.data

    @classmethod
    def parse(cls, agency: int, reader: PayloadReader) -> Pong:
        return cls(agency, reader.rest())


Message = SingleBet | Batch | Ack | Finished | WinnersQuery | Winners | Error | Ping | Pong

_BY_TYPE: dict[MessageType, type[Message]] = {
    cls.TYPE: cls  # type: ignore[misc]
    for cls in (SingleBet, Batch, Ack, Finished, WinnersQuery, Winners, Error, Ping, Pong)
}


def encode(message: Message) -> bytes:
    """The whole frame (header + payload) of ``message``."""
    return build_frame(message.TYPE, message.agency, message.payload())


def decode(header: Header, payload: bytes | bytearray | memoryview) -> Message:
    """Strictly decode a payload whose header was already parsed."""
    if len(payload) != header.length:
        raise ProtocolError(f"header declares {header.length} payload bytes, got {len(payload)}")
    reader = PayloadReader(payload, header.type.name)
    message = _BY_TYPE[header.type].parse(header.agency, reader)
    reader.end()
    return message


def decode_frame(frame: bytes | bytearray | memoryview) -> Message:
    """Decode one complete frame; extra or missing bytes are errors."""
    header = parse_header(frame)
    return decode(header, frame[HEADER_SIZE:])
