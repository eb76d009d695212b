"""The wire format shared by the server, the client and the harness.

Length-prefixed binary frames (see ``protocol.frame`` and docs/protocol.md);
``protocol.messages`` encodes and decodes payloads, ``protocol.bets`` the bets inside them,
``protocol.payload`` their strings and integers, ``protocol.stream`` does the blocking socket
I/O, ``protocol.batching`` groups bets under the 8 kB limit.
"""

from protocol.batching import BatchBuilder, BuiltBatch
from protocol.errors import PeerClosed, ProtocolError, TruncatedFrame
from protocol.frame import (
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    FrameDecoder,
    Header,
    MessageType,
    build_frame,
    parse_header,
)
from protocol.messages import (
    NO_BET_KEY,
    Ack,
    AckStatus,
    Batch,
    BetData,
    Error,
    ErrorCode,
    Finished,
    Message,
    Ping,
    Pong,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    decode,
    decode_frame,
    encode,
    encode_bet,
    split_winners,
)
from protocol.stream import recv_exactly, recv_message, send_frame, send_message

__all__ = [
    "HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_PAYLOAD_SIZE",
    "NO_BET_KEY",
    "Ack",
    "AckStatus",
    "Batch",
    "BatchBuilder",
    "BetData",
    "BuiltBatch",
    "Error",
    "ErrorCode",
    "Finished",
    "FrameDecoder",
    "Header",
    "Message",
    "MessageType",
    "PeerClosed",
    "Ping",
    "Pong",
    "ProtocolError",
    "SingleBet",
    "TruncatedFrame",
    "Winners",
    "WinnersQuery",
    "WinnersStatus",
    "build_frame",
    "decode",
    "decode_frame",
    "encode",
    "encode_bet",
    "parse_header",
    "recv_exactly",
    "recv_message",
    "send_frame",
    "send_message",
    "split_winners",
]
