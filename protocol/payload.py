"""Payload primitives shared by every message: integers, UTF-8 strings, and a strict reader.

Strings are a u16 byte length followed by that many bytes of UTF-8, so a value may hold any
character (``|``, ``,``, quotes, newlines). Every shortfall of a payload is a precise
``ProtocolError`` naming the message, the field and the offset.
"""

from __future__ import annotations

import struct

from protocol.errors import ProtocolError
from protocol.frame import MAX_PAYLOAD_SIZE

U8 = struct.Struct("!B")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U64 = struct.Struct("!Q")
MAX_U16 = 2**16 - 1
MAX_U32 = 2**32 - 1
MAX_U64 = 2**64 - 1


def show(value: str | bytes, limit: int = 48) -> str:
    """``repr(value)``, shortened when long so that error reasons stay readable."""
    if not isinstance(value, str | bytes) or len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} {'chars' if isinstance(value, str) else 'bytes'})"


def encode_utf8(value: str, field: str) -> bytes:
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"{field} is not encodable as UTF-8 ({exc.reason})") from None
    except AttributeError:
        raise ProtocolError(f"{field} must be a str, got {value!r}") from None
    if len(data) > MAX_PAYLOAD_SIZE:
        raise ProtocolError(f"{field} of {len(data)} bytes cannot fit in a frame")
    return data


def encode_string(value: str, field: str) -> bytes:
    data = encode_utf8(value, field)
    return U16.pack(len(data)) + data


class PayloadReader:
    """Reads a payload left to right; every shortfall is a precise ProtocolError."""

    __slots__ = ("data", "offset", "what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self.data = data if type(data) is bytes else bytes(data)
        self.offset = 0
        self.what = what

    def _take(self, size: int, field: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise ProtocolError(
                f"{self.what}: {field} needs {size} bytes at offset {self.offset}, "
                f"payload has {len(self.data) - self.offset} left"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, fmt: struct.Struct, field: str) -> tuple[int, ...]:
        return fmt.unpack(self._take(fmt.size, field))

    def string(self, field: str) -> str:
        (length,) = U16.unpack(self._take(2, f"{field} length"))
        raw = self._take(length, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"{self.what}: {field} is not valid UTF-8 ({exc.reason})") from None

    def rest(self) -> bytes:
        chunk = self.data[self.offset :]
        self.offset = len(self.data)
        return chunk

    def end(self) -> None:
        if self.offset != len(self.data):
            raise ProtocolError(f"{self.what}: {len(self.data) - self.offset} trailing bytes")
