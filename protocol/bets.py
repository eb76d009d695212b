"""Bets on the wire: ``BetData``, its encoding, and its two decoders.

A bet is five strings: first name, last name, document (ASCII digits), birthdate
(``YYYY-MM-DD``) and number (ASCII digits, at most 4294967295). See docs/protocol.md.

Decoding bets is the server's hot path, so it has two implementations: ``read_bets``
is a tight loop that only recognises fully valid bets and, on the first anything
unusual (a short payload, bad UTF-8, a bad field), hands that bet to the reference
decoder ``read_bet``, which raises the precise ``ProtocolError`` (or accepts the rare
valid bet the fast loop does not handle, e.g. a number with leading zeros). The fast
loop therefore never accepts anything the reference decoder rejects.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from protocol.errors import ProtocolError
from protocol.frame import MAX_PAYLOAD_SIZE
from protocol.payload import MAX_U32, U16, PayloadReader, encode_utf8, show

MAX_NUMBER = MAX_U32
DATE_LENGTH = 10  # "YYYY-MM-DD"
_MAX_NUMBER_DIGITS = len(str(MAX_NUMBER))


class BetData(NamedTuple):
    """One bet as it travels: the agency is the frame's."""

    first_name: str
    last_name: str
    document: str
    birthdate: date
    number: int


# -- encoding ---------------------------------------------------------------------------


def check_digits(value: str, field: str) -> None:
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ProtocolError(f"{field} must be ASCII digits, got {show(value)}")


_DATE_PREFIX = U16.pack(DATE_LENGTH)
_u16 = U16.pack


def encode_bet(bet: BetData) -> bytes:
    """The wire bytes of one bet; refuses values the decoder would reject.

    ``bet`` may be a ``BetData`` or any 5-tuple in the same order.
    """
    first_name, last_name, document, birthdate, number = bet
    if not first_name or not last_name:
        raise ProtocolError("first_name and last_name must not be empty")
    check_digits(document, "document")
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
        first = encode_utf8(first_name, "first_name")  # raises the precise error
        last = encode_utf8(last_name, "last_name")
    doc = document.encode()
    if len(first) + len(last) + len(doc) > MAX_PAYLOAD_SIZE:
        encode_utf8(first_name, "first_name")  # raises the precise error for a field that is too long
        encode_utf8(last_name, "last_name")
        encode_utf8(document, "document")
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


def parse_digits(value: str, field: str, what: str) -> str:
    if not value or not (value.isascii() and value.isdigit()):
        raise ProtocolError(f"{what}: {field} must be ASCII digits, got {show(value)}")
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
        raise ProtocolError(f"{what}: birthdate {show(raw_date)} is not a YYYY-MM-DD date") from None


def _parse_number(raw_number: str, what: str) -> int:
    parse_digits(raw_number, "number", what)
    significant = raw_number.lstrip("0")
    if len(significant) > _MAX_NUMBER_DIGITS:  # before int(): no 5000-digit conversions
        shown = significant if len(significant) <= 48 else f"{significant[:48]}... ({len(significant)} digits)"
        raise ProtocolError(f"{what}: number {shown} out of range 0..{MAX_NUMBER}")
    number = int(significant or "0")
    if number > MAX_NUMBER:
        raise ProtocolError(f"{what}: number {number} out of range 0..{MAX_NUMBER}")
    return number


def read_bet(reader: PayloadReader, what: str) -> BetData:
    """The reference (slow, field by field) bet decoder: the precise reason for every rejection."""
    first_name = reader.string("first_name")
    last_name = reader.string("last_name")
    if not first_name or not last_name:
        raise ProtocolError(f"{what}: first_name and last_name must not be empty")
    document = parse_digits(reader.string("document"), "document", what)
    birthdate = _parse_date(reader.string("birthdate"), what)
    number = _parse_number(reader.string("number"), what)
    return BetData(first_name, last_name, document, birthdate, number)


class DateCache:
    """Valid birthdates already seen, by their 10 wire bytes: most bets repeat a few thousand
    dates, and a dict hit is several times cheaper than validating again. Only dates that passed
    ``_is_date_shape`` and ``date.fromisoformat`` get in; past ``max_size`` it starts over."""

    def __init__(self, max_size: int = 1 << 16) -> None:
        self.max_size = max_size
        self.entries: dict[bytes, date] = {}

    def add(self, raw: bytes) -> date | None:
        """The date of ``raw`` if it is a valid ``YYYY-MM-DD`` (and cache it), else None."""
        if not _is_date_shape(raw):
            return None
        try:
            value = date.fromisoformat(raw.decode("ascii"))
        except ValueError:
            return None
        if len(self.entries) >= self.max_size:
            self.entries.clear()
        self.entries[raw] = value
        return value


DATE_CACHE = DateCache()


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
    dates = DATE_CACHE.entries
    valid_date = DATE_CACHE.add
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
        reader = PayloadReader(data, label)
        reader.offset = start
        append(read_bet(reader, label))
        offset = reader.offset
    return bets, offset


def read_bets(reader: PayloadReader, count: int, what: str | None) -> list[BetData]:
    """``count`` bets at the reader's offset, which moves past them (``what``: see ``_read_bets``)."""
    bets, reader.offset = _read_bets(reader.data, reader.offset, count, what)
    return bets
