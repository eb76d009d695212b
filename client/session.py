"""The agency's conversation: its bets (batches, or one bet), FINISHED, then the winners query until ready.

Stop-and-wait: one request at a time, each acknowledged before the next, so after
any reconnection the only thing to resend is the request in flight (``ServerLink``
does that). Only the batch being sent is kept in memory, never the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable

from client.backoff import Backoff, GrowingInterval
from client.bets import MalformedRow, NumberedBet
from client.link import LinkFailure, Receive, ServerLink
from client.logs import seconds
from logline import FAIL, IN_PROGRESS, SUCCESS, Uncut, format_event
from logline.actions import APUESTA_ENVIADA, CONSULTA_GANADORES, FINALIZADO, LOTE_CONFIRMADO, VERIFICAR_CONTEO
from protocol import (
    Ack,
    BatchBuilder,
    BetData,
    BuiltBatch,
    Error,
    ErrorCode,
    Finished,
    ProtocolError,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    encode,
    encode_bet,
)

logger = logging.getLogger("client")

# The server is going away or dropped us for slowness: not a verdict on the request, so retry it.
TRANSIENT_ERRORS = frozenset({ErrorCode.SHUTTING_DOWN, ErrorCode.TIMEOUT})


class ClientFailure(Exception):
    """The server refused a request for good (already logged); the client exits 1."""


def describe_error(error: Error) -> str:
    return f"{error.code.name}: {error.reason}"


def _refusal_or_retry(message: Error) -> Error:
    if message.code in TRANSIENT_ERRORS:
        raise LinkFailure(f"server answered {describe_error(message)}")
    return message


def read_ack(receive: Receive) -> Ack | Error:
    """The reply to BET, BATCH or FINISHED: an ACK, or an ERROR that refuses the request."""
    message = receive()
    if isinstance(message, Ack):
        return message
    if isinstance(message, Error):
        return _refusal_or_retry(message)
    raise LinkFailure(f"expected ACK, got {message.TYPE.name}")


def read_winners(receive: Receive) -> Winners | Error:
    """The reply to WINNERS_QUERY: NOT_READY, or READY_MORE... READY joined into one READY."""
    documents: list[str] = []
    while True:
        message = receive()
        if isinstance(message, Error) and not documents:
            return _refusal_or_retry(message)
        if not isinstance(message, Winners):
            raise LinkFailure(f"expected WINNERS, got {message.TYPE.name}")
        if message.status is WinnersStatus.NOT_READY:
            if documents:
                raise LinkFailure("WINNERS NOT_READY after READY_MORE")
            return message
        documents.extend(message.documents)
        if message.status is WinnersStatus.READY:
            return Winners(message.agency, WinnersStatus.READY, tuple(documents))


class Session:
    def __init__(
        self,
        agency: int,
        link: ServerLink,
        poll_backoff: Backoff,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._agency = agency
        self._link = link
        self._poll_backoff = poll_backoff
        self._sleep = sleep
        self._run_id = os.urandom(8)  # a BET's idempotency key is derived from it and the bet
        self._clock = clock
        self.acknowledged = 0  # bets the server has confirmed: the first N of the agency

    # -- bets -----------------------------------------------------------------------------

    def send_batches(self, bets: Iterable[NumberedBet], max_amount: int, pause: float = 0.0) -> None:
        """Every bet in batches of at most ``max_amount`` bets and 8 kB, each acknowledged in turn;
        ``pause`` seconds between one batch's ACK and the next batch (a throttle, 0 for none)."""
        builder = BatchBuilder(self._agency, max_amount)
        for line, bet in bets:
            try:
                full_batch = builder.add(bet)
            except ProtocolError as exc:  # a bet too large for any frame
                raise MalformedRow(line, exc.reason) from None
            if full_batch is not None:
                self._send_batch(full_batch, pause)
        last_batch = builder.flush()
        if last_batch is not None:
            self._send_batch(last_batch, pause)

    def _send_batch(self, batch: BuiltBatch, pause: float = 0.0) -> None:
        if pause and batch.seq > 1:
            self._sleep(pause)
        reply = self._link.exchange(batch.frame, read_ack)
        if isinstance(reply, Error):
            logger.error(
                format_event(LOTE_CONFIRMADO, FAIL, lote=batch.seq, cantidad=batch.count, error=describe_error(reply))
            )
            raise ClientFailure(f"batch {batch.seq} refused")
        self.acknowledged += batch.count
        logger.info(
            format_event(
                LOTE_CONFIRMADO,
                SUCCESS,
                lote=batch.seq,
                cantidad=batch.count,
                total=self.acknowledged,
                ack=reply.status.name,
            )
        )
        if reply.count != batch.count:
            logger.warning(
                format_event(VERIFICAR_CONTEO, FAIL, lote=batch.seq, enviadas=batch.count, confirmadas=reply.count)
            )

    def send_single_bet(self, bet: BetData) -> None:
        """One BET message, with a key the server recognises if it is resent after a lost ACK."""
        reply = self._link.exchange(encode(SingleBet(self._agency, bet, self.bet_key(bet))), read_ack)
        if isinstance(reply, Error):
            logger.error(
                format_event(
                    APUESTA_ENVIADA,
                    FAIL,
                    dni=bet.document,
                    numero=bet.number,
                    error=describe_error(reply),
                )
            )
            raise ClientFailure("bet refused")
        self.acknowledged += 1
        logger.info(format_event(APUESTA_ENVIADA, SUCCESS, dni=bet.document, numero=bet.number))

    def bet_key(self, bet: BetData) -> int:
        """The same for a resend in this run, different in another run; never 0 (``NO_BET_KEY``)."""
        digest = hashlib.blake2b(self._run_id + encode_bet(bet), digest_size=8).digest()
        return int.from_bytes(digest, "big") or 1

    # -- end of bets and winners ------------------------------------------------------------

    def finish(self) -> None:
        """FINISHED: this agency sends no more bets."""
        reply = self._link.exchange(encode(Finished(self._agency)), read_ack)
        if isinstance(reply, Error):
            logger.error(format_event(FINALIZADO, FAIL, total=self.acknowledged, error=describe_error(reply)))
            raise ClientFailure("FINISHED refused")
        logger.info(format_event(FINALIZADO, SUCCESS, total=self.acknowledged, almacenadas=reply.count))
        if reply.count != self.acknowledged:
            logger.warning(format_event(VERIFICAR_CONTEO, FAIL, confirmadas=self.acknowledged, almacenadas=reply.count))

    def await_winners(self) -> tuple[str, ...]:
        """Ask until the draw is done, backing off between NOT_READY answers. The wait is logged
        at INFO the first time and then at growing intervals, each other poll at DEBUG."""
        query = encode(WinnersQuery(self._agency))
        progress = GrowingInterval(self._clock)
        attempt = 0
        while True:
            attempt += 1
            reply = self._link.exchange(query, read_winners)
            if isinstance(reply, Error):
                logger.error(format_event(CONSULTA_GANADORES, FAIL, intento=attempt, error=describe_error(reply)))
                raise ClientFailure("winners query refused")
            if reply.status is WinnersStatus.READY:
                logger.info(
                    format_event(
                        CONSULTA_GANADORES,
                        SUCCESS,
                        cant_ganadores=len(reply.documents),
                        dnis=Uncut(",".join(reply.documents)),
                    )
                )
                return reply.documents
            delay = self._poll_backoff.next_delay()
            level = logging.INFO if progress.due() else logging.DEBUG
            logger.log(level, format_event(CONSULTA_GANADORES, IN_PROGRESS, intento=attempt, retry_in=seconds(delay)))
            self._sleep(delay)
