"""The oracle: a model of what a correct server answers to each probe, from the server's rules
(docs/CONVENTIONS.md, server/README.md) and the reference decoder of ``protocol``.

``ServerModel.predict`` says, frame by frame, the replies (ACK, PONG, NOT_READY), the ERROR code
that ends the connection (or none), which batches it stores, and whether it logs
``apuesta_recibida | result: fail``. ``commit`` applies a prediction once the probe was sent, so
the model follows the server's state (stored batches, single-bet keys, finished agencies). It is
written apart from the server on purpose: it is what the server is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import (
    HEADER_SIZE,
    Ack,
    AckStatus,
    Batch,
    BetData,
    ErrorCode,
    Finished,
    FrameDecoder,
    Header,
    Message,
    MessageType,
    Ping,
    Pong,
    ProtocolError,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    decode,
    parse_header,
)
from protocol.frame import MAGIC, VERSION

NO_SEQ = 0


@dataclass
class Outcome:
    """What a correct server answers to one probe."""

    replies: list[tuple[str, int]] = field(default_factory=list)  # ("ACK", status), ("PONG", len), ("NOT_READY", 0)
    error: ErrorCode | None = None  # the ERROR that ends the connection; None: a clean close
    rejected_bets_logged: bool = False  # `apuesta_recibida | result: fail` expected
    stored: list[tuple[int, int, tuple[BetData, ...]]] = field(default_factory=list)  # (agency, seq, bets)
    keys: list[tuple[int, int]] = field(default_factory=list)  # (agency, key) of keyed single bets stored
    finished: list[int] = field(default_factory=list)
    agencies: set[int] = field(default_factory=set)  # of every frame read: the state it may touch

    @property
    def malformed(self) -> bool:
        return self.error is not None


class ServerModel:
    """The server's rules (for ``agencies`` = its AGENCIES), as long as its draw does not happen:
    the probes must not finish every agency 1..AGENCIES (the generators use agencies far above)."""

    def __init__(self, agencies: int = 4_000_000_000) -> None:
        self.agencies = agencies
        self.batches: dict[tuple[int, int], tuple[BetData, ...]] = {}  # (agency, seq) -> its bets
        self.bet_keys: set[tuple[int, int]] = set()  # (agency, key) of the keyed single bets stored
        self.finished: set[int] = set()
        self.rows: dict[int, list[BetData]] = {}

    def predict(self, stream: bytes) -> Outcome:
        outcome = Outcome()
        new_batches: dict[tuple[int, int], tuple[BetData, ...]] = {}  # stored by this probe (the model
        new_keys: set[tuple[int, int]] = set()  # changes only on commit)
        finished = set(self.finished)
        connection_agency: int | None = None
        finished_here = False
        frames, refused_header, pending = _split_frames(stream)
        for header, payload in frames:
            outcome.agencies.add(header.agency)
            try:
                message = decode(header, payload)
            except ProtocolError:
                outcome.error = ErrorCode.MALFORMED
                outcome.rejected_bets_logged = header.type in (MessageType.BET, MessageType.BATCH)
                return outcome
            if isinstance(message, Ping):
                outcome.replies.append(("PONG", len(message.data)))
                continue
            carries_bets = isinstance(message, SingleBet | Batch)
            if connection_agency is None:
                connection_agency = message.agency
            elif message.agency != connection_agency:
                return self._reject(outcome, ErrorCode.AGENCY_MISMATCH, carries_bets)
            agency = message.agency
            if isinstance(message, SingleBet | Batch):  # carries_bets, spelled out for the type checker
                seq = message.seq if isinstance(message, Batch) else NO_SEQ
                bets = message.bets if isinstance(message, Batch) else (message.bet,)
                if agency == 0 or agency > self.agencies or finished_here:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, True)
                stored = self.batches.get((agency, seq), new_batches.get((agency, seq)))
                if seq != NO_SEQ and stored is not None:
                    if stored != tuple(bets):  # the same seq with other bets: an earlier run's store
                        return self._reject(outcome, ErrorCode.CONFLICT, True)
                    outcome.replies.append(("ACK", AckStatus.DUPLICATE))
                    continue
                key = message.key if isinstance(message, SingleBet) else 0
                if key and ((agency, key) in self.bet_keys or (agency, key) in new_keys):
                    outcome.replies.append(("ACK", AckStatus.DUPLICATE))
                    continue
                if agency in finished:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, True)
                if seq != NO_SEQ:
                    new_batches[(agency, seq)] = tuple(bets)
                if key:
                    new_keys.add((agency, key))
                outcome.stored.append((agency, seq, tuple(bets)))
                outcome.keys.extend([(agency, key)] if key else [])
                outcome.replies.append(("ACK", AckStatus.OK))
            elif isinstance(message, Finished):
                if agency == 0 or agency > self.agencies or finished_here:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
                finished_here = True
                status = AckStatus.DUPLICATE if agency in finished else AckStatus.OK
                finished.add(agency)
                outcome.finished.append(agency)
                outcome.replies.append(("ACK", status))
            elif isinstance(message, WinnersQuery):
                if agency not in finished:
                    return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
                outcome.replies.append(("NOT_READY", 0))  # the draw never happens here
            else:  # ACK, WINNERS, ERROR, PONG: only the server sends them
                return self._reject(outcome, ErrorCode.UNEXPECTED_MESSAGE, False)
        if refused_header is not None:  # bets are logged only when magic and version were fine
            outcome.error = ErrorCode.MALFORMED
            outcome.rejected_bets_logged = refused_header[:3] == MAGIC + bytes([VERSION]) and refused_header[3] in (
                MessageType.BET,
                MessageType.BATCH,
            )
        elif pending:  # the sender half-closes after its bytes: EOF mid-frame
            outcome.error = ErrorCode.MALFORMED
        return outcome

    @staticmethod
    def _reject(outcome: Outcome, code: ErrorCode, carries_bets: bool) -> Outcome:
        outcome.error = code
        outcome.rejected_bets_logged = carries_bets
        return outcome

    def commit(self, outcome: Outcome) -> None:
        self.bet_keys.update(outcome.keys)
        for agency, seq, bets in outcome.stored:
            if seq != NO_SEQ:
                self.batches[(agency, seq)] = bets
            self.rows.setdefault(agency, []).extend(bets)
        self.finished.update(outcome.finished)


def _split_frames(stream: bytes) -> tuple[list[tuple[Header, bytes]], bytes | None, bool]:
    """(complete frames, the header refused after them or None, whether bytes of a frame are left).

    As the server reads: the 10 header bytes are checked as soon as they are in, before any payload.
    """
    frames: list[tuple[Header, bytes]] = []
    offset = 0
    while offset < len(stream):
        raw_header = stream[offset : offset + HEADER_SIZE]
        if len(raw_header) < HEADER_SIZE:
            return frames, None, True
        try:
            header = parse_header(raw_header)
        except ProtocolError:
            return frames, raw_header, False
        payload = stream[offset + HEADER_SIZE : offset + HEADER_SIZE + header.length]
        if len(payload) < header.length:
            return frames, None, True
        frames.append((header, payload))
        offset += HEADER_SIZE + header.length
    return frames, None, False


def reply_kind(message: object) -> tuple[str, int]:
    """A received reply in ``Outcome.replies``' terms (ERRORs are compared apart)."""
    if isinstance(message, Ack):
        return ("ACK", message.status)
    if isinstance(message, Pong):
        return ("PONG", len(message.data))
    if isinstance(message, Winners) and message.status is WinnersStatus.NOT_READY:
        return ("NOT_READY", 0)
    return (type(message).__name__, -1)


def split_replies(data: bytes) -> list[Message]:
    """Every complete frame in ``data``, decoded; a trailing partial frame is a ProtocolError."""
    decoder = FrameDecoder()
    messages = [decode(header, payload) for header, payload in decoder.feed(data)]
    if decoder.pending:
        raise ProtocolError(f"{decoder.pending} bytes of an incomplete reply frame")
    return messages
