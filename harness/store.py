"""Reading the server's store of bets, independently of the server (the harness is the oracle side).

The store is a CSV file, one row per bet: ``agency,first,last,document,birthdate,number`` (no
header; a name holding a line break is quoted). The server appends each batch whole, in one
write; a reader that runs while it writes may see a batch cut short, so ``read_rows`` returns
only complete rows and the offset after them: call it again from there for the rest.
Standard library only; ``server/`` is never imported (its reading is what is under test).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from protocol import BetData

STORE_FILE = "bets.csv"
FIELDS = 6


class StoreError(ValueError):
    """A row of the store that is not ``agency,first,last,document,birthdate,number``."""


class StoredBet(NamedTuple):
    """One row of the store. A tuple: it equals ``(agency, first, last, document, birthdate, number)``."""

    agency: int
    first_name: str
    last_name: str
    document: str
    birthdate: str  # as stored: ISO ``YYYY-MM-DD``
    number: int


Row = tuple[int, str, str, str, str, int]


def as_rows(agency: int, bets: Iterable[BetData]) -> list[Row]:
    """The rows the store keeps for ``bets`` of ``agency``, in order (each equals its ``StoredBet``)."""
    return [(agency, b.first_name, b.last_name, b.document, b.birthdate.isoformat(), b.number) for b in bets]


def read_rows(path: Path, offset: int = 0) -> tuple[list[StoredBet], int]:
    """The complete rows of the store from byte ``offset`` on, and the offset just after them.

    A missing file holds no rows. A row still being written (no line end yet, or a quoted name
    not closed yet) is left for the next call; any other malformed row raises ``StoreError``."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    lines = [line + "\n" for line in complete.decode("utf-8").split("\n")[:-1]]
    reader = csv.reader(lines, strict=True)
    rows: list[StoredBet] = []
    consumed = 0  # lines of ``lines`` that made the rows so far
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows, offset + len(complete)
        except csv.Error as exc:
            if reader.line_num >= len(lines):  # a quoted name not closed yet: the write goes on
                return rows, offset + sum(len(line.encode("utf-8")) for line in lines[:consumed])
            raise StoreError(f"{path}: row at line {reader.line_num} (after byte {offset}): {exc}") from None
        rows.append(_stored_bet(row, path, reader.line_num))
        consumed = reader.line_num


def read_store(path: Path) -> list[StoredBet]:
    """Every complete row of the store, in order (none when the file does not exist)."""
    return read_rows(path)[0]


def _stored_bet(row: list[str], path: Path, line: int) -> StoredBet:
    if len(row) != FIELDS:
        raise StoreError(f"{path}: line {line} has {len(row)} fields, expected {FIELDS}: {row!r}")
    agency, first, last, document, birthdate, number = row
    try:
        return StoredBet(int(agency), first, last, document, birthdate, int(number))
    except ValueError:
        raise StoreError(f"{path}: line {line}: agency and number must be integers: {row!r}") from None
