"""Frame layout: a fixed 10-byte header followed by at most 8182 bytes of payload.

    0      2         3      4             8          10
    +------+---------+------+-------------+----------+--------------
    | "LT" | version | type | agency u32  | len u16  | payload ...
    +------+---------+------+-------------+----------+--------------

All integers are big-endian (network byte order). A whole frame, header included,
is at most ``MAX_FRAME_SIZE`` (8192) bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from protocol.errors import ProtocolError

MAGIC = b"LT"
VERSION = 1
HEADER = struct.Struct("!2sBBIH")
HEADER_SIZE = HEADER.size
MAX_FRAME_SIZE = 8192
MAX_PAYLOAD_SIZE = MAX_FRAME_SIZE - HEADER_SIZE
MAX_AGENCY = 2**32 - 1


class MessageType(IntEnum):
    BET = 1
    BATCH = 2
    ACK = 3
    FINISHED = 4
    WINNERS_QUERY = 5
    WINNERS = 6
    ERROR = 7
    PING = 8
    PONG = 9


_TYPES: dict[int, MessageType] = {member.value: member for member in MessageType}


@dataclass(frozen=True, slots=True)
class Header:
    type: MessageType
    agency: int
    length: int


def parse_header(data: bytes | bytearray | memoryview) -> Header:
    """Validate and parse the first ``HEADER_SIZE`` bytes of ``data``."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"header needs {HEADER_SIZE} bytes, got {len(data)}")
    magic, version, type_code, agency, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version}, expected {VERSION}")
    message_type = _TYPES.get(type_code)
    if message_type is None:
        raise ProtocolError(f"unknown message type {type_code}")
    if length > MAX_PAYLOAD_SIZE:
        raise ProtocolError(f"declared payload length {length} exceeds the limit of {MAX_PAYLOAD_SIZE} bytes")
    return Header(message_type, agency, length)


def build_frame(message_type: MessageType, agency: int, payload: bytes) -> bytes:
    """Prefix ``payload`` with a header; refuses frames over ``MAX_FRAME_SIZE``."""
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise ProtocolError(f"frame of {HEADER_SIZE + len(payload)} bytes exceeds the limit of {MAX_FRAME_SIZE} bytes")
    if not 0 <= agency <= MAX_AGENCY:
        raise ProtocolError(f"agency {agency} out of range 0..{MAX_AGENCY}")
    return HEADER.pack(MAGIC, VERSION, message_type, agency, len(payload)) + payload


class FrameDecoder:
    """Incremental (sans-I/O) frame splitter for non-blocking readers.

    ``feed()`` bytes as they arrive and get back every complete ``(header, payload)``.
    A bad header raises ``ProtocolError`` as soon as its 10 bytes are in, before
    any of its payload is buffered.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header: Header | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Header, bytes]]:
        self._buffer += data
        frames: list[tuple[Header, bytes]] = []
        while True:
            if self._header is None:
                if len(self._buffer) < HEADER_SIZE:
                    return frames
                self._header = parse_header(self._buffer)
                del self._buffer[:HEADER_SIZE]
            if len(self._buffer) < self._header.length:
                return frames
            payload = bytes(self._buffer[: self._header.length])
            del self._buffer[: self._header.length]
            frames.append((self._header, payload))
            self._header = None

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held so far (0 on a frame boundary)."""
        return len(self._buffer) + (HEADER_SIZE if self._header is not None else 0)
