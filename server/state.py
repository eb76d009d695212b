"""State shared by the worker processes, and the lottery operations on it.

Shared state and why:
  * one ``multiprocessing.Lock`` serializes every write (bets, ledger, finished agencies, draw);
  * the files themselves are the shared state for bets, batch seqs and finished agencies: each
    process keeps an index of them and catches up (``BetStore.sync``, reading only the new
    lines) every time it takes the lock, so there is nothing to copy between processes and it
    is exactly what survives a restart;
  * ``draw_done`` lives in shared memory because held WINNERS_QUERYs poll it every selector
    tick without taking the lock; the winners themselves go through the winners file, read
    once per process after it sees the flag;
  * ``lock_holder`` (pid) lets the supervisor free the lock if a worker dies holding it.
"""

from __future__ import annotations

import enum
import logging
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from pathlib import Path

from logline import SUCCESS
from logline.actions import SORTEO
from protocol import NO_BET_KEY
from server.draw import Winners, compute_winners, count_winners, load_winners, save_winners
from server.logs import log_event
from server.model import Bet, BetFields, agency_bets_to_csv, bets_to_csv, load_winning_bets
from server.storage import NO_SEQ, BetStore, Discarded, bet_key_digest, content_digest


class SharedState:
    """Created by the supervisor before forking; every worker inherits it."""

    def __init__(self, context: BaseContext | None = None) -> None:
        context = context or multiprocessing.get_context("fork")
        self.lock = context.Lock()
        self.draw_done = context.RawValue("b", 0)
        self.lock_holder = context.RawValue("i", 0)

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.lock.acquire()
        self.lock_holder.value = os.getpid()
        try:
            yield
        finally:
            self.lock_holder.value = 0
            self.lock.release()

    def release_if_held_by(self, pid: int) -> bool:
        """Free the lock of a dead process that died holding it."""
        if pid == 0 or self.lock_holder.value != pid:
            return False
        self.lock_holder.value = 0
        self.lock.release()
        return True


class StoreStatus(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # this (agency, seq), or this BET key, is already stored with the same content
    CONFLICT = "conflict"  # this (agency, seq) is stored with other content: the store holds an earlier run
    AGENCY_FINISHED = "agency finished"  # a new batch after the agency's FINISHED
    DRAW_DONE = "draw done"  # bets after the draw could never win


@dataclass(frozen=True, slots=True)
class FinishResult:
    first_time: bool
    bets_stored: int  # by this agency, over all connections and restarts
    finished_agencies: int
    draw_winners: int | None  # set when this call performed (and logged) the draw


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    bets: int
    batches: int
    finished_agencies: int
    draw_done: bool
    discarded: Discarded


class Lottery:
    """One process's view of the lottery: store bets, finish agencies, draw, answer winners."""

    def __init__(self, storage_path: Path, agencies: int, shared: SharedState, fsync: bool = False) -> None:
        self.store = BetStore(storage_path, fsync)
        self.winners_path = Path(f"{storage_path}.winners")
        self.agencies = agencies
        self.shared = shared
        self.fsync = fsync
        self._winners: Winners | None = None

    def open(self) -> None:
        self.store.open()

    def close(self) -> None:
        self.store.close()

    @contextmanager
    def _synced(self) -> Iterator[None]:
        with self.shared.locked():
            discarded = self.store.sync()
            if discarded:
                _log_discarded(discarded)
            yield

    def recover(self) -> RecoveryReport:
        """At start, before any worker: cut unacknowledged tails; redo a draw that was due."""
        with self.shared.locked():
            discarded = self.store.sync()
            if self._every_agency_finished():
                # the store is frozen since the draw: same winners; logged only if the server had
                # died after every agency finished but before drawing
                self._draw(announce=not self.winners_path.exists())
            index = self.store.index
            return RecoveryReport(index.bets, index.batches, len(index.finished), self.draw_done(), discarded)

    def store_bets(self, agency: int, seq: int, bets: list[Bet]) -> StoreStatus:
        return self._store_rows(agency, seq, len(bets), bets_to_csv(bets))

    def store_batch(self, agency: int, seq: int, bets: Sequence[BetFields], key: int = NO_BET_KEY) -> StoreStatus:
        """``store_bets`` for decoded bets (``protocol.BetData``) of one agency: no ``Bet`` objects.

        ``seq`` 0 is a single BET, recognised on a resend by its ``key`` when it has one.
        """
        return self._store_rows(agency, seq, len(bets), agency_bets_to_csv(agency, bets), key)

    def _store_rows(self, agency: int, seq: int, count: int, rows: bytes, key: int = NO_BET_KEY) -> StoreStatus:
        """``rows`` (the CSV of ``count`` bets) are made before taking the lock: keep it short."""
        digest = bet_key_digest(key) if seq == NO_SEQ else content_digest(rows)
        with self._synced():
            index = self.store.index
            stored = index.stored_digest(agency, seq)
            if stored is not None:
                return StoreStatus.DUPLICATE if stored in ("", digest) else StoreStatus.CONFLICT
            if seq == NO_SEQ and index.has_bet_key(agency, digest):
                return StoreStatus.DUPLICATE
            if agency in index.finished:
                return StoreStatus.AGENCY_FINISHED
            if self.draw_done():
                return StoreStatus.DRAW_DONE
            self.store.append_batch(agency, seq, count, rows, digest)
        return StoreStatus.STORED

    def finish(self, agency: int) -> FinishResult:
        with self._synced():
            index = self.store.index
            first_time = agency not in index.finished
            if first_time:
                self.store.append_finished(agency)
            draw_winners = None
            if self._every_agency_finished() and not self.draw_done():
                draw_winners = self._draw()
            return FinishResult(first_time, index.bets_by_agency.get(agency, 0), len(index.finished), draw_winners)

    def _every_agency_finished(self) -> bool:
        """With no agencies (a server alone) there is never a draw."""
        return self.agencies > 0 and len(self.store.index.finished) >= self.agencies

    def is_finished(self, agency: int) -> bool:
        if agency in self.store.index.finished:  # only ever grows: no lock needed to see it
            return True
        with self._synced():
            return agency in self.store.index.finished

    def draw_done(self) -> bool:
        return bool(self.shared.draw_done.value)

    def winners_of(self, agency: int) -> list[str]:
        """Only after ``draw_done()``."""
        if self._winners is None:
            self._winners = load_winners(self.winners_path)
        return self._winners.get(agency, [])

    def _draw(self, announce: bool = True) -> int:
        """Under the lock, exactly once: winners from the whole store, to the file, the ``sorteo``
        line (when ``announce``), then the flag. The line goes before the flag: a worker that sees
        the flag answers winners, and no ``consulta_ganadores`` line may come before ``sorteo``."""
        winners = compute_winners(load_winning_bets(self.store.bets_path))
        save_winners(self.winners_path, winners, self.fsync)
        self._winners = winners
        total = count_winners(winners)
        if announce:
            log_event(SORTEO, SUCCESS, ganadores=total)
        self.shared.draw_done.value = 1
        return total


def _log_discarded(discarded: Discarded) -> None:
    log_event(
        "descarte_no_confirmado",
        "success",
        logging.WARNING,
        bytes_apuestas=discarded.bets_bytes,
        bytes_lotes=discarded.ledger_bytes,
        bytes_finalizadas=discarded.finished_bytes,
    )
