"""The bets file, its batch ledger and the finished-agencies file, with an in-memory index of them.

Files (``P`` = STORAGE_PATH):
  ``P``           the bets, CSV (server.model)
  ``P.batches``   the ledger: one line ``agency,seq,count,end_offset,digest`` per stored batch,
                  where ``end_offset`` is the size of ``P`` right after the batch and ``digest`` tells
                  a resend of the same batch from a different one with the same seq (the content's
                  hash for a BATCH; for a single BET, seq 0, the client's idempotency key, or empty)
  ``P.finished``  one agency id per line, for every agency that sent FINISHED

A batch is one ``pwrite`` of all its rows to ``P`` and then one ledger line: bytes of ``P``
past the last ledger ``end_offset`` were never acknowledged, so ``sync()`` cuts them off (a
crash, or a worker killed mid-write). Writes go to explicit offsets (``pwrite``), never to
"the end of the file", so a leftover tail can never end up in the middle of the data.

``BetStore`` does no locking: ``sync()`` and the ``append_*`` methods must run under the
lock shared by every process (server.state); ``sync()`` first, so this process's index
catches up with what the others wrote.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

NO_SEQ = 0  # ledger seq of a single BET: deduplicated by its key instead, when it has one
_DIGEST = re.compile(r"[0-9a-f]{0,64}")
LEGACY_AGENCY = 0  # ledger agency of bets found in a bets file that had no ledger


class StorageError(Exception):
    """Storing failed; nothing of the failed write is kept."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    agency: int
    seq: int
    count: int
    end_offset: int
    digest: str = ""  # empty: unknown (a ledger line of an older server, or a BET without a key)


def content_digest(rows: bytes) -> str:
    """What tells two batches of the same (agency, seq) apart: a hash of their stored rows."""
    return hashlib.blake2b(rows, digest_size=8).hexdigest()


def bet_key_digest(key: int) -> str:
    """The ledger's digest of a single BET: its idempotency key (``""`` for none)."""
    return f"{key:016x}" if key else ""


@dataclass(slots=True)
class Discarded:
    """What ``sync()`` cut off: data that was written but never acknowledged, or unreadable lines."""

    bets_bytes: int = 0
    ledger_bytes: int = 0
    finished_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.bets_bytes or self.ledger_bytes or self.finished_bytes)


@dataclass(slots=True)
class StoreIndex:
    """What the files hold, as far as this process has read them."""

    end_offset: int = 0  # size of the bets file covered by the ledger
    batches: int = 0
    bets: int = 0
    bets_by_agency: dict[int, int] = field(default_factory=dict)
    digests_by_agency: dict[int, dict[int, str]] = field(default_factory=dict)  # seq -> digest
    bet_keys_by_agency: dict[int, set[str]] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)

    def add_batch(self, entry: LedgerEntry) -> None:
        self.end_offset = entry.end_offset
        self.batches += 1
        self.bets += entry.count
        self.bets_by_agency[entry.agency] = self.bets_by_agency.get(entry.agency, 0) + entry.count
        if entry.seq != NO_SEQ:
            self.digests_by_agency.setdefault(entry.agency, {})[entry.seq] = entry.digest
        elif entry.digest:
            self.bet_keys_by_agency.setdefault(entry.agency, set()).add(entry.digest)

    def stored_digest(self, agency: int, seq: int) -> str | None:
        """The digest of the stored batch ``seq`` of ``agency`` (``""`` if unknown), None if not stored."""
        return self.digests_by_agency.get(agency, {}).get(seq) if seq != NO_SEQ else None

    def has_bet_key(self, agency: int, digest: str) -> bool:
        return bool(digest) and digest in self.bet_keys_by_agency.get(agency, ())


class BetStore:
    def __init__(self, bets_path: Path, fsync: bool = False) -> None:
        self.bets_path = bets_path
        self.ledger_path = Path(f"{bets_path}.batches")
        self.finished_path = Path(f"{bets_path}.finished")
        self.fsync = fsync
        self.index = StoreIndex()
        self._bets_fd = -1
        self._ledger_fd = -1
        self._finished_fd = -1
        self._ledger_read = 0  # bytes of the ledger already in the index
        self._finished_read = 0

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open (creating them and their folder) the three files. ``sync()`` under the lock before using the index."""
        self.bets_path.parent.mkdir(parents=True, exist_ok=True)
        legacy_bets = not self.ledger_path.exists() and _size(self.bets_path) > 0
        self._bets_fd = os.open(self.bets_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._ledger_fd = os.open(self.ledger_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._finished_fd = os.open(self.finished_path, os.O_RDWR | os.O_CREAT, 0o644)
        if legacy_bets:
            self._adopt_legacy_bets()

    def close(self) -> None:
        for fd in (self._bets_fd, self._ledger_fd, self._finished_fd):
            if fd >= 0:
                os.close(fd)
        self._bets_fd = self._ledger_fd = self._finished_fd = -1

    def _adopt_legacy_bets(self) -> None:
        """A bets file without a ledger (written by the course's server): keep it, as one batch."""
        with open(self.bets_path, encoding="utf-8", newline="") as file:
            rows = sum(1 for _ in csv.reader(file))
        size = _size(self.bets_path)
        if rows:
            self._pwrite_all(self._ledger_fd, f"{LEGACY_AGENCY},{NO_SEQ},{rows},{size}\n".encode(), 0)

    # -- under the shared lock -----------------------------------------------------------

    def sync(self) -> Discarded:
        """Index what other processes appended; cut off unacknowledged tails and broken lines."""
        discarded = Discarded()
        discarded.ledger_bytes = self._read_ledger()
        bets_size = os.fstat(self._bets_fd).st_size
        if bets_size > self.index.end_offset:
            os.ftruncate(self._bets_fd, self.index.end_offset)
            discarded.bets_bytes = bets_size - self.index.end_offset
        discarded.finished_bytes = self._read_finished()
        return discarded

    def _read_ledger(self) -> int:
        data = _read_from(self._ledger_fd, self._ledger_read)
        bets_size = os.fstat(self._bets_fd).st_size
        consumed = 0
        for line in data.splitlines(keepends=True):
            entry = _parse_ledger_line(line)
            # a line cut short, garbled, or pointing past the bets file's data (lost) ends the ledger
            if entry is None or not self.index.end_offset < entry.end_offset <= bets_size:
                break
            self.index.add_batch(entry)
            consumed += len(line)
        self._ledger_read += consumed
        return self._cut(self._ledger_fd, self._ledger_read, len(data) - consumed)

    def _read_finished(self) -> int:
        data = _read_from(self._finished_fd, self._finished_read)
        consumed = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n") or not line.strip().isdigit():
                break
            self.index.finished.add(int(line))
            consumed += len(line)
        self._finished_read += consumed
        return self._cut(self._finished_fd, self._finished_read, len(data) - consumed)

    @staticmethod
    def _cut(fd: int, keep: int, extra: int) -> int:
        if extra:
            os.ftruncate(fd, keep)
        return extra

    def append_batch(self, agency: int, seq: int, count: int, rows: bytes, digest: str = "") -> None:
        """Write ``rows`` (CSV of ``count`` bets) in one write, then its ledger line. All or nothing."""
        start = self.index.end_offset
        end = start + len(rows)
        try:
            self._pwrite_all(self._bets_fd, rows, start)
            if self.fsync:
                os.fsync(self._bets_fd)
        except OSError as exc:
            self._undo(self._bets_fd, start)
            raise StorageError(f"cannot write the bets file: {exc}") from exc
        line = f"{agency},{seq},{count},{end},{digest}\n".encode()
        try:
            self._pwrite_all(self._ledger_fd, line, self._ledger_read)
            if self.fsync:
                os.fsync(self._ledger_fd)
        except OSError as exc:
            self._undo(self._ledger_fd, self._ledger_read)
            self._undo(self._bets_fd, start)
            raise StorageError(f"cannot write the batch ledger: {exc}") from exc
        self._ledger_read += len(line)
        self.index.add_batch(LedgerEntry(agency, seq, count, end, digest))

    def append_finished(self, agency: int) -> None:
        line = f"{agency}\n".encode()
        try:
            self._pwrite_all(self._finished_fd, line, self._finished_read)
            if self.fsync:
                os.fsync(self._finished_fd)
        except OSError as exc:
            self._undo(self._finished_fd, self._finished_read)
            raise StorageError(f"cannot write the finished-agencies file: {exc}") from exc
        self._finished_read += len(line)
        self.index.finished.add(agency)

    @staticmethod
    def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

    @staticmethod
    def _undo(fd: int, size: int) -> None:
        # best effort: if this fails too, the next sync() cuts the tail off
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(fd: int, offset: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks = []
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _parse_ledger_line(line: bytes) -> LedgerEntry | None:
    if not line.endswith(b"\n"):
        return None
    fields = line.rstrip(b"\n").split(b",")
    digest = fields.pop().decode("ascii", "replace") if len(fields) == 5 else ""  # 4 fields: an older ledger
    if len(fields) != 4 or not all(value.strip().isdigit() for value in fields) or not _DIGEST.fullmatch(digest):
        return None
    agency, seq, count, end_offset = (int(value) for value in fields)
    return LedgerEntry(agency, seq, count, end_offset, digest) if count > 0 else None
