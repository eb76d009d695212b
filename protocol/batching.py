"""Grouping bets into BATCH frames that never exceed the frame limit."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ProtocolError
from protocol.frame import MAX_PAYLOAD_SIZE, MessageType, build_frame
from protocol.messages import BATCH_OVERHEAD, BetData, encode_batch_payload, encode_bet

MAX_BATCH_BYTES = MAX_PAYLOAD_SIZE - BATCH_OVERHEAD


@dataclass(frozen=True, slots=True)
class BuiltBatch:
    """A finished BATCH: its seq, how many bets it holds, and its whole frame."""

    seq: int
    count: int
    frame: bytes


class BatchBuilder:
    """Collects bets up to ``max_amount`` per batch and never over 8 kB per frame.

    ``add()`` returns the finished previous batch when the new bet does not fit in
    it (the new bet then opens the next batch); ``flush()`` returns the last one.
    Batches are numbered 1, 2, 3... per builder.
    """

    def __init__(self, agency: int, max_amount: int) -> None:
        if max_amount < 1:
            raise ValueError(f"max_amount must be at least 1, got {max_amount}")
        self.agency = agency
        self.max_amount = max_amount
        self._next_seq = 1
        self._bets: list[bytes] = []
        self._size = 0

    def add(self, bet: BetData) -> BuiltBatch | None:
        encoded = encode_bet(bet)
        if len(encoded) > MAX_BATCH_BYTES:
            raise ProtocolError(f"a bet of {len(encoded)} bytes cannot fit in any frame")
        done = None
        if len(self._bets) >= self.max_amount or self._size + len(encoded) > MAX_BATCH_BYTES:
            done = self.flush()
        self._bets.append(encoded)
        self._size += len(encoded)
        return done

    def flush(self) -> BuiltBatch | None:
        if not self._bets:
            return None
        seq = self._next_seq
        frame = build_frame(MessageType.BATCH, self.agency, encode_batch_payload(seq, self._bets))
        built = BuiltBatch(seq, len(self._bets), frame)
        self._next_seq += 1
        self._bets = []
        self._size = 0
        return built
