"""Messages and their payloads. Pure encode/decode: no sockets here.

Strings are a u16 byte length followed by that many bytes of UTF-8, so a name may
hold any character (``|``, ``,``, quotes, newlines). A bet is five strings:
first name, last name, document (ASCII digits), birthdate (``YYYY-MM-DD``) and
number (ASCII digits). See docs/protocol.md for the byte diagrams.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import ClassVar, NamedTuple

from protocol.errors import ProtocolError
from protocol.frame import HEADER_SIZE, MAX_PAYLOAD_SIZE, Header, MessageType, build_frame, parse_header

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_BATCH_PREFIX = struct.Struct("!IH")  # seq, count
_ACK = struct.Struct("!BI")  # status, count
_WINNERS_PREFIX = struct.Struct("!BH")  # status, count
_ERROR_PREFIX = struct.Struct("!H")  # code

MAX_U32 = 2**32 - 1


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


class BetData(NamedTuple):
    """One bet as it travels: the agency is the frame's."""

    first_name: str
    last_name: str
    document: str
    birthdate: date
    number: int


# -- encoding ---------------------------------------------------------------------------


def _string(value: str, field: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > MAX_PAYLOAD_SIZE:
        raise ProtocolError(f"{field} of {len(data)} bytes cannot fit in a frame")
    return _U16.pack(len(data)) + data


def _check_digits(value: str, field: str) -> None:
    if not (value.isascii() and value.isdigit()):
        raise ProtocolError(f"{field} must be ASCII digits, got {value!r}")


def encode_bet(bet: BetData) -> bytes:
    """The wire bytes of one bet; refuses values the decoder would reject."""
    if not bet.first_name or not bet.last_name:
        raise ProtocolError("first_name and last_name must not be empty")
    _check_digits(bet.document, "document")
    if not isinstance(bet.birthdate, date):
        raise ProtocolError(f"birthdate must be a date, got {bet.birthdate!r}")
    if isinstance(bet.number, bool) or not isinstance(bet.number, int) or not 0 <= bet.number <= MAX_U32:
        raise ProtocolError(f"number must be an integer in 0..{MAX_U32}, got {bet.number!r}")
    return b"".join(
        (
            _string(bet.first_name, "first_name"),
            _string(bet.last_name, "last_name"),
            _string(bet.document, "document"),
            _string(bet.birthdate.isoformat(), "birthdate"),
            _string(str(bet.number), "number"),
        )
    )


# -- decoding ---------------------------------------------------------------------------


class _Reader:
    """Reads a payload left to right; every shortfall is a precise ProtocolError."""

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._offset = 0
        self._what = what

    def _take(self, size: int, field: str) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise ProtocolError(
                f"{self._what}: {field} needs {size} bytes at offset {self._offset}, "
                f"payload has {len(self._data) - self._offset} left"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def unpack(self, fmt: struct.Struct, field: str) -> tuple[int, ...]:
        return fmt.unpack(self._take(fmt.size, field))

    def string(self, field: str) -> str:
        (length,) = _U16.unpack(self._take(2, f"{field} length"))
        raw = self._take(length, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self._what}: {field} is not valid UTF-8 ({exc.reason})") from None

    def rest(self) -> bytes:
        chunk = self._data[self._offset :]
        self._offset = len(self._data)
        return chunk

    def end(self) -> None:
        if self._offset != len(self._data):
            raise ProtocolError(f"{self._what}: {len(self._data) - self._offset} trailing bytes")


def _parse_digits(value: str, field: str, what: str) -> str:
    if not value or not (value.isascii() and value.isdigit()):
        raise ProtocolError(f"{what}: {field} must be ASCII digits, got {value!r}")
    return value


def _read_bet(reader: _Reader, what: str) -> BetData:
    first_name = reader.string("first_name")
    last_name = reader.string("last_name")
    if not first_name or not last_name:
        raise ProtocolError(f"{what}: first_name and last_name must not be empty")
    document = _parse_digits(reader.string("document"), "document", what)
    raw_date = reader.string("birthdate")
    try:
        if len(raw_date) != 10:
            raise ValueError
        birthdate = date.fromisoformat(raw_date)
    except ValueError:
        raise ProtocolError(f"{what}: birthdate {raw_date!r} is not a YYYY-MM-DD date") from None
    number = int(_parse_digits(reader.string("number"), "number", what))
    if number > MAX_U32:
        raise ProtocolError(f"{what}: number {number} out of range 0..{MAX_U32}")
    return BetData(first_name, last_name, document, birthdate, number)


# -- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SingleBet:
    TYPE: ClassVar[MessageType] = MessageType.BET
    agency: int
    bet: BetData

    def payload(self) -> bytes:
        return encode_bet(self.bet)

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> SingleBet:
        return cls(agency, _read_bet(reader, "BET"))


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
    def parse(cls, agency: int, reader: _Reader) -> Batch:
        seq, count = reader.unpack(_BATCH_PREFIX, "seq and count")
        if count == 0:
            raise ProtocolError("BATCH: empty batch (count 0)")
        bets = tuple(_read_bet(reader, f"BATCH bet {index + 1}/{count}") for index in range(count))
        return cls(agency, seq, bets)


def encode_batch_payload(seq: int, encoded_bets: list[bytes]) -> bytes:
    if not encoded_bets:
        raise ProtocolError("a batch needs at least one bet")
    return _BATCH_PREFIX.pack(seq, len(encoded_bets)) + b"".join(encoded_bets)


BATCH_OVERHEAD = _BATCH_PREFIX.size


@dataclass(frozen=True, slots=True)
class Ack:
    TYPE: ClassVar[MessageType] = MessageType.ACK
    agency: int
    status: AckStatus
    count: int

    def payload(self) -> bytes:
        return _ACK.pack(self.status, self.count)

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> Ack:
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
    def parse(cls, agency: int, reader: _Reader) -> Finished:
        return cls(agency)


@dataclass(frozen=True, slots=True)
class WinnersQuery:
    TYPE: ClassVar[MessageType] = MessageType.WINNERS_QUERY
    agency: int

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> WinnersQuery:
        return cls(agency)


@dataclass(frozen=True, slots=True)
class Winners:
    TYPE: ClassVar[MessageType] = MessageType.WINNERS
    agency: int
    status: WinnersStatus
    documents: tuple[str, ...] = ()

    def payload(self) -> bytes:
        if self.status is WinnersStatus.NOT_READY and self.documents:
            raise ProtocolError("WINNERS: a not-ready answer carries no documents")
        for document in self.documents:
            _check_digits(document, "document")
        body = b"".join(_string(document, "document") for document in self.documents)
        return _WINNERS_PREFIX.pack(self.status, len(self.documents)) + body

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> Winners:
        status_code, count = reader.unpack(_WINNERS_PREFIX, "status and count")
        try:
            status = WinnersStatus(status_code)
        except ValueError:
            raise ProtocolError(f"WINNERS: unknown status {status_code}") from None
        if status is WinnersStatus.NOT_READY and count:
            raise ProtocolError("WINNERS: a not-ready answer carries no documents")
        documents = tuple(
            _parse_digits(reader.string("document"), "document", "WINNERS") for _ in range(count)
        )
        return cls(agency, status, documents)


@dataclass(frozen=True, slots=True)
class Error:
    TYPE: ClassVar[MessageType] = MessageType.ERROR
    agency: int
    code: ErrorCode
    reason: str

    def payload(self) -> bytes:
        reason = self.reason.encode("utf-8")[: MAX_PAYLOAD_SIZE - 4].decode("utf-8", "ignore")
        return _ERROR_PREFIX.pack(self.code) + _string(reason, "reason")

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> Error:
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
    def parse(cls, agency: int, reader: _Reader) -> Ping:
        return cls(agency, reader.rest())


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[MessageType] = MessageType.PONG
    agency: int
    data: bytes = b""

    def payload(self) -> bytes:
        return self.data

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> Pong:
        return cls(agency, reader.rest())


Message = SingleBet | Batch | Ack | Finished | WinnersQuery | Winners | Error | Ping | Pong

_BY_TYPE: dict[MessageType, type[Message]] = {
    cls.TYPE: cls  # type: ignore[misc]
    for cls in (SingleBet, Batch, Ack, Finished, WinnersQuery, Winners, Error, Ping, Pong)
}


def encode(message: Message) -> bytes:
    """The whole frame (header + payload) of ``message``."""
    return build_frame(message.TYPE, message.agency, message.payload())


def decode(header: Header, payload: bytes) -> Message:
    """Strictly decode a payload whose header was already parsed."""
    if len(payload) != header.length:
        raise ProtocolError(f"header declares {header.length} payload bytes, got {len(payload)}")
    reader = _Reader(payload, header.type.name)
    message = _BY_TYPE[header.type].parse(header.agency, reader)
    reader.end()
    return message


def decode_frame(frame: bytes) -> Message:
    """Decode one complete frame; extra or missing bytes are errors."""
    header = parse_header(frame)
    return decode(header, frame[HEADER_SIZE:])
