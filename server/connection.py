"""One client socket: non-blocking frame reads, short blocking sends, timestamps.

Memory per connection is bounded by one frame: each ``recv`` asks for at most the bytes
that complete the current frame, so the decoder never holds more than one (<= 8 kB) and a
bad header is seen before anything after it is read.
"""

from __future__ import annotations

import contextlib
import socket
import time

from protocol import (
    HEADER_SIZE,
    FrameDecoder,
    Header,
    Message,
    PeerClosed,
    ProtocolError,
    TruncatedFrame,
    encode,
    parse_header,
)
from server.conversation import Conversation, header_rejection

SEND_TIMEOUT = 2.0  # replies are small; a peer that does not read them for this long is dropped


class Connection:
    def __init__(self, sock: socket.socket, ip: str, conversation: Conversation) -> None:
        self.sock = sock
        self.fd = sock.fileno()  # stays valid as a key after close()
        self.ip = ip
        self.conversation = conversation
        self.decoder = FrameDecoder()
        self.last_activity = time.monotonic()
        self.frame_started = self.last_activity  # when the first byte of the current frame came in
        self.hold_deadline: float | None = None  # set while a WINNERS_QUERY waits for the draw
        self._header_bytes = bytearray()
        self._payload_left: int | None = None  # None while reading a header
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @property
    def agency(self) -> int:
        return self.conversation.agency or 0

    @property
    def mid_frame(self) -> bool:
        return self.decoder.pending > 0

    @property
    def held(self) -> bool:
        return self.hold_deadline is not None

    def has_pending_input(self) -> bool:
        """Bytes, an EOF or a reset wait to be read: the peer did something not looked at yet."""
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True  # a reset: reading it closes the connection with the right reason
        return True

    def receive(self) -> tuple[Header, bytes] | None:
        """Read what is available of the current frame; the frame once it is complete.

        Raises ``PeerClosed`` (clean EOF, or a reset between frames), ``TruncatedFrame`` (EOF
        mid-frame), ``Rejection`` (bad header) or ``OSError`` (a reset mid-frame...).
        """
        for _ in range(2):  # a header, then at once its payload (usually here already): one frame at most
            needed = self._bytes_needed()
            try:
                chunk = self.sock.recv(needed)
            except (BlockingIOError, InterruptedError):
                return None
            except ConnectionResetError:
                if self.mid_frame:
                    raise
                # between frames a reset is a peer that left (a client stopped with our reply unread)
                raise PeerClosed("peer reset the connection between frames") from None
            if not chunk:
                if self.mid_frame:
                    raise TruncatedFrame(f"connection closed mid-frame after {self.decoder.pending} bytes")
                raise PeerClosed("peer closed the connection")
            self.last_activity = time.monotonic()
            if not self.mid_frame:
                self.frame_started = self.last_activity
            try:
                frames = self.decoder.feed(chunk)
            except ProtocolError as exc:  # only a header can be refused before its frame is complete
                raise header_rejection(bytes(self._header_bytes) + chunk, exc.reason) from None
            self._track(chunk)
            if frames:
                return frames[0]
            if len(chunk) < needed:  # the rest has not arrived yet
                return None
        return None

    def _bytes_needed(self) -> int:
        if self._payload_left is None:
            return HEADER_SIZE - len(self._header_bytes)
        return self._payload_left

    def _track(self, chunk: bytes) -> None:
        # mirror the decoder's position (it does not expose the current frame's length)
        if self._payload_left is None:
            self._header_bytes += chunk
            if len(self._header_bytes) == HEADER_SIZE:
                length = parse_header(self._header_bytes).length
                self._header_bytes.clear()
                self._payload_left = length or None
        else:
            self._payload_left -= len(chunk)
            if self._payload_left == 0:
                self._payload_left = None

    def send(self, messages: list[Message]) -> None:
        """Send ``messages`` in one go; raises ``OSError`` (``TimeoutError`` included) on failure."""
        if not messages:
            return
        data = b"".join(encode(message) for message in messages)
        try:
            sent = self.sock.send(data)  # a reply almost always fits the socket buffer: no mode switch
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent == len(data):
            return
        self.sock.settimeout(SEND_TIMEOUT)
        try:
            self.sock.sendall(data[sent:])
        finally:
            self.sock.setblocking(False)

    def try_send(self, messages: list[Message]) -> None:
        """Best effort (an ERROR before closing): the peer may be gone already."""
        with contextlib.suppress(OSError):
            self.send(messages)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
