"""Errors raised while encoding, decoding or reading frames."""


class ProtocolError(Exception):
    """The bytes do not form a valid frame or message; ``reason`` says precisely why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TruncatedFrame(ProtocolError):
    """The peer closed the connection in the middle of a frame."""


class PeerClosed(Exception):
    """The peer closed the connection cleanly, on a frame boundary."""
