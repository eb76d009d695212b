"""Blocking frame I/O over a socket: no short reads, no short writes."""

from __future__ import annotations

import socket

from protocol.errors import PeerClosed, TruncatedFrame
from protocol.frame import HEADER_SIZE, parse_header
from protocol.messages import Message, decode, encode


def recv_exactly(sock: socket.socket, size: int, *, at_boundary: bool = False) -> bytes:
    """Read exactly ``size`` bytes.

    EOF before the first byte raises ``PeerClosed`` when ``at_boundary`` (a clean
    close between frames); any other EOF raises ``TruncatedFrame``.
    """
    if size <= 0:
        return b""
    chunk = sock.recv(size)
    if len(chunk) == size:  # the common case: one recv, no copy
        return chunk
    chunks = bytearray(chunk)
    while chunk and len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        chunks += chunk
    if len(chunks) < size:
        if at_boundary and not chunks:
            raise PeerClosed("peer closed the connection")
        raise TruncatedFrame(f"connection closed mid-frame after {len(chunks)} of {size} bytes")
    return bytes(chunks)


def recv_message(sock: socket.socket) -> Message:
    header = parse_header(recv_exactly(sock, HEADER_SIZE, at_boundary=True))
    payload = recv_exactly(sock, header.length) if header.length else b""
    return decode(header, payload)


def send_frame(sock: socket.socket, frame: bytes) -> None:
    sock.sendall(frame)


def send_message(sock: socket.socket, message: Message) -> None:
    sock.sendall(encode(message))
