"""Messages and their payloads. Pure encode/decode: no sockets here.

Strings are a u16 byte length followed by that many bytes of UTF-8, so a name may
hold any character (``|``, ``,``, quotes, newlines). A bet is five strings:
first name, last name, document (ASCII digits), birthdate (``YYYY-MM-DD``) and
number (ASCII digits, at most 4294967295). See docs/protocol.md for the byte diagrams.

Decoding bets is the server's hot path, so it has two implementations: ``_read_bets``
is a tight loop that only recognises fully valid bets and, on the first anything
unusual (a short payload, bad UTF-8, a bad field), hands that bet to the reference
decoder ``_read_bet``, which raises the precise ``ProtocolError`` (or accepts the rare
valid bet the fast loop does not handle, e.g. a number with leading zeros). The fast
loop therefore never accepts anything the reference decoder rejects.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import ClassVar, NamedTuple

from protocol.errors import ProtocolError
from protocol.frame import HEADER_SIZE, MAX_PAYLOAD_SIZE, Header, MessageType, build_frame, parse_header

_U8 = struct.Struct("!B")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_BATCH_PREFIX = struct.Struct("!IH")  # seq, count
_ACK = struct.Struct("!BI")  # status, count
_WINNERS_PREFIX = struct.Struct("!BH")  # status, count
_ERROR_PREFIX = struct.Struct("!H")  # code

MAX_U16 = 2**16 - 1
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1
NO_BET_KEY = 0  # a BET without an idempotency key: the server never deduplicates it
MAX_NUMBER = MAX_U32
DATE_LENGTH = 10  # "YYYY-MM-DD"
_MAX_NUMBER_DIGITS = len(str(MAX_NUMBER))


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


class BetData(NamedTuple):
    """One bet as it travels: the agency is the frame's."""

    first_name: str
    last_name: str
    document: str
    birthdate: date
    number: int


def _show(value: str | bytes, limit: int = 48) -> str:
    """``repr(value)``, shortened when long so that error reasons stay readable."""
    if not isinstance(value, str | bytes) or len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} {'chars' if isinstance(value, str) else 'bytes'})"


# -- encoding ---------------------------------------------------------------------------


def _utf8(value: str, field: str) -> bytes:
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"{field} is not encodable as UTF-8 ({exc.reason})") from None
    except AttributeError:
        raise ProtocolError(f"{field} must be a str, got {value!r}") from None
    if len(data) > MAX_PAYLOAD_SIZE:
        raise ProtocolError(f"{field} of {len(data)} bytes cannot fit in a frame")
    return data


def _string(value: str, field: str) -> bytes:
    data = _utf8(value, field)
    return _U16.pack(len(data)) + data


def _check_digits(value: str, field: str) -> None:
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ProtocolError(f"{field} must be ASCII digits, got {_show(value)}")


_DATE_PREFIX = _U16.pack(DATE_LENGTH)
_u16 = _U16.pack


def encode_bet(bet: BetData) -> bytes:
    """The wire bytes of one bet; refuses values the decoder would reject.

    ``bet`` may be a ``BetData`` or any 5-tuple in the same order.
    """
    first_name, last_name, document, birthdate, number = bet
    if not first_name or not last_name:
        raise ProtocolError("first_name and last_name must not be empty")
    _check_digits(document, "document")
    if type(birthdate) is not date and (not isinstance(birthdate, date) or isinstance(birthdate, datetime)):
        raise ProtocolError(f"birthdate must be a date, got {birthdate!r}")
    if type(number) is not int and (isinstance(number, bool) or not isinstance(number, int)):
        raise ProtocolError(f"number must be an integer in 0..{MAX_NUMBER}, got {number!r}")
    if not 0 <= number <= MAX_NUMBER:
        raise ProtocolError(f"number must be an integer in 0..{MAX_NUMBER}, got {number!r}")
    try:
        first = first_name.encode()
        last = last_name.encode()
    except (AttributeError, UnicodeEncodeError):
        first = _utf8(first_name, "first_name")  # raises the precise error
        last = _utf8(last_name, "last_name")
    doc = document.encode()
    if len(first) + len(last) + len(doc) > MAX_PAYLOAD_SIZE:
        _utf8(first_name, "first_name")  # raises the precise error for a field that is too long
        _utf8(last_name, "last_name")
        _utf8(document, "document")
    digits = b"%d" % number
    return b"".join(
        (
            _u16(len(first)),
            first,
            _u16(len(last)),
            last,
            _u16(len(doc)),
            doc,
            _DATE_PREFIX,
            birthdate.isoformat().encode(),  # always 10 characters: years are 1..9999
            _u16(len(digits)),
            digits,
        )
    )


# -- decoding ---------------------------------------------------------------------------


class _Reader:
    """Reads a payload left to right; every shortfall is a precise ProtocolError."""

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self._data = data if type(data) is bytes else bytes(data)
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
        raise ProtocolError(f"{what}: {field} must be ASCII digits, got {_show(value)}")
    return value


def _is_date_shape(raw: str | bytes) -> bool:
    """``YYYY-MM-DD`` with ASCII digits (``date.fromisoformat`` alone also takes ``2023-W01-1``)."""
    return (
        len(raw) == DATE_LENGTH
        and raw.isascii()
        and raw[4:5] == raw[7:8] == ("-" if isinstance(raw, str) else b"-")
        and raw[:4].isdigit()
        and raw[5:7].isdigit()
        and raw[8:].isdigit()
    )


def _parse_date(raw_date: str, what: str) -> date:
    try:
        if not _is_date_shape(raw_date):
            raise ValueError
        return date.fromisoformat(raw_date)
    except ValueError:
        raise ProtocolError(f"{what}: birthdate {_show(raw_date)} is not a YYYY-MM-DD date") from None


def _parse_number(raw_number: str, what: str) -> int:
    _parse_digits(raw_number, "number", what)
    significant = raw_number.lstrip("0")
    if len(significant) > _MAX_NUMBER_DIGITS:  # before int(): no 5000-digit conversions
        shown = significant if len(significant) <= 48 else f"{significant[:48]}... ({len(significant)} digits)"
        raise ProtocolError(f"{what}: number {shown} out of range 0..{MAX_NUMBER}")
    number = int(significant or "0")
    if number > MAX_NUMBER:
        raise ProtocolError(f"{what}: number {number} out of range 0..{MAX_NUMBER}")
    return number


def _read_bet(reader: _Reader, what: str) -> BetData:
    """The reference (slow, field by field) bet decoder: the precise reason for every rejection."""
    first_name = reader.string("first_name")
    last_name = reader.string("last_name")
    if not first_name or not last_name:
        raise ProtocolError(f"{what}: first_name and last_name must not be empty")
    document = _parse_digits(reader.string("document"), "document", what)
    birthdate = _parse_date(reader.string("birthdate"), what)
    number = _parse_number(reader.string("number"), what)
    return BetData(first_name, last_name, document, birthdate, number)


# Valid birthdates already seen, by their 10 wire bytes: most bets repeat a few
# thousand dates, and a dict hit is several times cheaper than validating again.
# Only dates that passed ``_is_date_shape`` and ``date.fromisoformat`` get in.
_DATE_CACHE: dict[bytes, date] = {}
_DATE_CACHE_MAX = 1 << 16


def _valid_date(raw: bytes) -> date | None:
    """The date of ``raw`` if it is a valid ``YYYY-MM-DD`` (and cache it), else None."""
    if not _is_date_shape(raw):
        return None
    try:
        value = date.fromisoformat(raw.decode("ascii"))
    except ValueError:
        return None
    if len(_DATE_CACHE) >= _DATE_CACHE_MAX:
        _DATE_CACHE.clear()
    _DATE_CACHE[raw] = value
    return value


_tuple_new = tuple.__new__


def _read_bets(data: bytes, offset: int, count: int, what: str | None) -> tuple[list[BetData], int]:
    """Decode ``count`` bets from ``data[offset:]``: the bets and the offset after them.

    ``what`` is the message name for error reasons: ``None`` for a BET ("BET"),
    else "BATCH" ("BATCH bet i/count"). Only fully valid bets pass the fast checks
    below; any other bet goes through ``_read_bet``, which raises the precise error.
    """
    end = len(data)
    bets: list[BetData] = []
    append = bets.append
    dates = _DATE_CACHE
    valid_date = _valid_date
    new = _tuple_new
    bet_type = BetData
    max_number = MAX_NUMBER
    max_digits = _MAX_NUMBER_DIGITS
    for index in range(count):
        start = offset
        try:
            # Each string: u16 length, then its bytes. No bounds checks until the end of
            # the bet: an index past the end raises IndexError, and a slice past the end
            # is short, which ``offset <= end`` catches before the bet is accepted.
            at = offset + 2
            offset = at + (data[offset] << 8 | data[offset + 1])
            first_name = data[at:offset].decode()
            at = offset + 2
            offset = at + (data[offset] << 8 | data[offset + 1])
            last_name = data[at:offset].decode()
            at = offset + 2
            offset = at + (data[offset] << 8 | data[offset + 1])
            document = data[at:offset]
            at = offset + 2
            offset = at + (data[offset] << 8 | data[offset + 1])
            raw = data[at:offset]
            birthdate = dates.get(raw) or valid_date(raw)
            at = offset + 2
            offset = at + (data[offset] << 8 | data[offset + 1])
            raw = data[at:offset]
            if (
                offset <= end
                and first_name
                and last_name
                and document.isdigit()  # bytes.isdigit: ASCII digits only, False when empty
                and birthdate is not None
                and raw.isdigit()
                and len(raw) <= max_digits
            ):
                number = int(raw)
                if number <= max_number:
                    append(new(bet_type, (first_name, last_name, document.decode(), birthdate, number)))
                    continue
        except (IndexError, UnicodeDecodeError):
            pass
        label = "BET" if what is None else f"{what} bet {index + 1}/{count}"
        reader = _Reader(data, label)
        reader._offset = start
        append(_read_bet(reader, label))
        offset = reader._offset
    return bets, offset


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
        return encode_bet(self.bet) + _U64.pack(self.key)

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> SingleBet:
        bets, reader._offset = _read_bets(reader._data, reader._offset, 1, None)
        (key,) = reader.unpack(_U64, "key")
        return cls(agency, bets[0], key)


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
        if seq == 0:
            raise ProtocolError("BATCH: seq 0 (an agency's batches are numbered from 1)")
        if count == 0:
            raise ProtocolError("BATCH: empty batch (count 0)")
        bets, reader._offset = _read_bets(reader._data, reader._offset, count, "BATCH")
        return cls(agency, seq, tuple(bets))


def encode_batch_payload(seq: int, encoded_bets: list[bytes]) -> bytes:
    """``seq``, count and the already encoded bets (see ``encode_bet``)."""
    if not encoded_bets:
        raise ProtocolError("a batch needs at least one bet")
    if len(encoded_bets) > MAX_U16:
        raise ProtocolError(f"a batch holds at most {MAX_U16} bets, got {len(encoded_bets)}")
    if _u32(seq, "seq") == 0:
        raise ProtocolError("a batch's seq starts at 1")
    return _BATCH_PREFIX.pack(seq, len(encoded_bets)) + b"".join(encoded_bets)


BATCH_OVERHEAD = _BATCH_PREFIX.size


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
            _check_digits(document, "document")
        body = b"".join(_string(document, "document") for document in self.documents)
        return _WINNERS_PREFIX.pack(status, len(self.documents)) + body

    @classmethod
    def parse(cls, agency: int, reader: _Reader) -> Winners:
        status_code, count = reader.unpack(_WINNERS_PREFIX, "status and count")
        try:
            status = WinnersStatus(status_code)
        except ValueError:
            raise ProtocolError(f"WINNERS: unknown status {status_code}") from None
        if status is WinnersStatus.NOT_READY and count:
            raise ProtocolError("WINNERS: a not-ready answer carries no documents")
        documents = tuple(_parse_digits(reader.string("document"), "document", "WINNERS") for _ in range(count))
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
        _check_digits(document, "document")
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
        return _ERROR_PREFIX.pack(code) + _string(raw.decode("utf-8", "ignore"), "reason")

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


def decode(header: Header, payload: bytes | bytearray | memoryview) -> Message:
    """Strictly decode a payload whose header was already parsed."""
    if len(payload) != header.length:
        raise ProtocolError(f"header declares {header.length} payload bytes, got {len(payload)}")
    reader = _Reader(payload, header.type.name)
    message = _BY_TYPE[header.type].parse(header.agency, reader)
    reader.end()
    return message


def decode_frame(frame: bytes | bytearray | memoryview) -> Message:
    """Decode one complete frame; extra or missing bytes are errors."""
    header = parse_header(frame)
    return decode(header, frame[HEADER_SIZE:])
