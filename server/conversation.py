"""The conversation rules of one connection (docs/CONVENTIONS.md), free of socket I/O.

``handle()`` takes one frame and returns the replies, or says to hold the connection
(WINNERS_QUERY before the draw); any broken rule raises ``Rejection`` and the caller sends
the ERROR and closes the connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from logline import FAIL, IN_PROGRESS, SUCCESS
from logline.actions import (
    AGENCIA_FINALIZADA,
    APUESTA_ALMACENADA,
    APUESTA_RECIBIDA,
    CONSULTA_GANADORES,
    LOTE_DUPLICADO,
    VERIFICAR_LOTE,
)
from protocol import (
    NO_BET_KEY,
    Ack,
    AckStatus,
    Batch,
    BetData,
    ErrorCode,
    Finished,
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
    build_frame,
    decode,
    split_winners,
)
from protocol.messages import BATCH_PREFIX  # to log the declared count of a rejected batch
from server.logs import log_event, logger
from server.state import Lottery, StoreStatus
from server.storage import NO_SEQ, StorageError

_MAGIC_AND_VERSION = build_frame(MessageType.PING, 0, b"")[:3]
_BETS_ANNOUNCED_BY_TYPE: dict[int, int] = {MessageType.BET: 1, MessageType.BATCH: 0}  # 0: count unknown


class Rejection(Exception):
    """A frame broke the protocol or the conversation; the connection ends with an ERROR."""

    def __init__(self, code: ErrorCode, reason: str, agency: int, rejected_bets: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.agency = agency
        self.rejected_bets = rejected_bets  # declared count when the frame carried bets


@dataclass(slots=True)
class Reply:
    messages: list[Message] = field(default_factory=list)
    hold: bool = False  # park the connection until the draw or WINNERS_HOLD


def header_rejection(raw_header: bytes, reason: str) -> Rejection:
    """For a header the decoder refused: its agency and how many bets it announced, when trustworthy.

    Header layout (protocol.frame): magic(2) version(1) type(1) agency(4) length(2). With a
    wrong magic or version the other fields are noise; the count of a BATCH is in its payload,
    never read here (0 = unknown).
    """
    if raw_header[:3] != _MAGIC_AND_VERSION:
        return Rejection(ErrorCode.MALFORMED, reason, 0)
    agency = int.from_bytes(raw_header[4:8], "big")
    announced_bets = _BETS_ANNOUNCED_BY_TYPE.get(raw_header[3])
    return Rejection(ErrorCode.MALFORMED, reason, agency, announced_bets)


class Conversation:
    def __init__(self, lottery: Lottery) -> None:
        self.lottery = lottery
        self.agency: int | None = None  # the agency of the first non-PING frame
        self.finished_here = False

    def handle(self, header: Header, payload: bytes) -> Reply:
        try:
            message = decode(header, payload)
        except ProtocolError as exc:
            raise Rejection(ErrorCode.MALFORMED, exc.reason, header.agency, _declared_bets(header, payload)) from None
        if isinstance(message, Ping):
            return Reply([Pong(message.agency, message.data)])
        self._check_agency(message)
        if isinstance(message, SingleBet):
            return self._store(message.agency, NO_SEQ, (message.bet,), message.key)
        if isinstance(message, Batch):
            return self._store(message.agency, message.seq, message.bets)
        if isinstance(message, Finished):
            return self._finish(message.agency)
        if isinstance(message, WinnersQuery):
            return self._query_winners(message.agency)
        raise Rejection(ErrorCode.UNEXPECTED_MESSAGE, f"a client does not send {message.TYPE.name}", message.agency)

    def _check_agency(self, message: Message) -> None:
        if self.agency is None:
            self.agency = message.agency
        elif message.agency != self.agency:
            raise Rejection(
                ErrorCode.AGENCY_MISMATCH,
                f"{message.TYPE.name} for agency {message.agency} on a connection of agency {self.agency}",
                message.agency,
                _bet_count(message),
            )

    def _store(self, agency: int, seq: int, bets: tuple[BetData, ...], key: int = NO_BET_KEY) -> Reply:
        def reject(code: ErrorCode, reason: str) -> Rejection:
            return Rejection(code, reason, agency, len(bets))

        if agency == 0:
            raise reject(ErrorCode.UNEXPECTED_MESSAGE, "agency 0 cannot send bets")
        if agency > self.lottery.agencies:
            raise reject(ErrorCode.UNEXPECTED_MESSAGE, self._unknown_agency(agency))
        if self.finished_here:
            raise reject(ErrorCode.UNEXPECTED_MESSAGE, "bets after FINISHED on this connection")
        try:
            status = self.lottery.store_batch(agency, seq, bets, key)
        except StorageError as exc:
            raise reject(ErrorCode.STORAGE, str(exc)) from None
        if status is StoreStatus.AGENCY_FINISHED:
            raise reject(ErrorCode.UNEXPECTED_MESSAGE, f"agency {agency} already finished: no new bets")
        if status is StoreStatus.DRAW_DONE:
            raise reject(ErrorCode.UNEXPECTED_MESSAGE, "the draw is done: no new bets")
        if status is StoreStatus.CONFLICT:
            reason = stale_store_reason(agency, seq)
            log_event(VERIFICAR_LOTE, FAIL, logging.ERROR, agencia=agency, lote=seq, error=reason)
            raise reject(ErrorCode.CONFLICT, reason)
        if status is StoreStatus.DUPLICATE:
            log_event(LOTE_DUPLICADO, SUCCESS, agencia=agency, lote=seq)
            return Reply([Ack(agency, AckStatus.DUPLICATE, len(bets))])
        if seq == NO_SEQ:
            (bet,) = bets
            log_event(APUESTA_ALMACENADA, SUCCESS, dni=bet.document, numero=bet.number)
        else:
            log_event(APUESTA_RECIBIDA, SUCCESS, cantidad=len(bets), agencia=agency, lote=seq)
            if logger.isEnabledFor(logging.DEBUG):  # once per batch, not once per bet
                for bet in bets:
                    log_event(APUESTA_ALMACENADA, SUCCESS, logging.DEBUG, dni=bet.document, numero=bet.number)
        return Reply([Ack(agency, AckStatus.OK, len(bets))])

    def _finish(self, agency: int) -> Reply:
        if agency == 0:
            raise Rejection(ErrorCode.UNEXPECTED_MESSAGE, "agency 0 cannot finish", agency)
        if agency > self.lottery.agencies:  # its FINISHED must not count toward the draw
            raise Rejection(ErrorCode.UNEXPECTED_MESSAGE, self._unknown_agency(agency), agency)
        if self.finished_here:
            raise Rejection(ErrorCode.UNEXPECTED_MESSAGE, "FINISHED twice on one connection", agency)
        try:
            result = self.lottery.finish(agency)
        except StorageError as exc:
            raise Rejection(ErrorCode.STORAGE, str(exc), agency) from None
        self.finished_here = True
        if result.first_time:
            log_event(
                AGENCIA_FINALIZADA,
                SUCCESS,
                agencia=agency,
                finalizadas=result.finished_agencies,
                esperadas=self.lottery.agencies,
            )
        status = AckStatus.OK if result.first_time else AckStatus.DUPLICATE
        return Reply([Ack(agency, status, result.bets_stored)])

    def _unknown_agency(self, agency: int) -> str:
        return f"agency {agency} is not one of the {self.lottery.agencies} agencies of this draw"

    def _query_winners(self, agency: int) -> Reply:
        if not self.lottery.is_finished(agency):
            raise Rejection(ErrorCode.UNEXPECTED_MESSAGE, f"WINNERS_QUERY before agency {agency} finished", agency)
        if self.lottery.draw_done():
            return Reply(self.winners())
        log_event(CONSULTA_GANADORES, IN_PROGRESS, logging.DEBUG, agencia=agency, estado="retenida")
        return Reply(hold=True)

    def winners(self) -> list[Message]:
        """The READY answer for this connection's agency (only its own winners)."""
        agency = self.agency or 0
        documents = self.lottery.winners_of(agency)
        log_event(CONSULTA_GANADORES, SUCCESS, agencia=agency, cant_ganadores=len(documents))
        return [*split_winners(agency, documents)]

    def not_ready(self) -> list[Message]:
        agency = self.agency or 0
        log_event(CONSULTA_GANADORES, IN_PROGRESS, logging.DEBUG, agencia=agency, estado="no_listo")
        return [Winners(agency, WinnersStatus.NOT_READY)]


def stale_store_reason(agency: int, seq: int) -> str:
    return (
        f"batch {seq} of agency {agency} differs from the stored one: the store holds an earlier run; "
        "start with an empty STORAGE_PATH"
    )


def _declared_bets(header: Header, payload: bytes) -> int | None:
    if header.type is MessageType.BET:
        return 1
    if header.type is MessageType.BATCH:
        return BATCH_PREFIX.unpack_from(payload)[1] if len(payload) >= BATCH_PREFIX.size else 0
    return None


def _bet_count(message: Message) -> int | None:
    if isinstance(message, SingleBet):
        return 1
    if isinstance(message, Batch):
        return len(message.bets)
    return None
