"""The lottery domain (the course's API): bets, their CSV store and the winning rule. No bytes, no sockets."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

STORAGE_FILEPATH = "./bets.csv"
LOTTERY_WINNER_NUMBER = 7574

StrPath = str | os.PathLike[str]
BetFields = tuple[str, str, str, date, int]  # a bet without its agency: protocol.BetData's shape
# The characters that make csv.writer (QUOTE_MINIMAL, lineterminator "\n") quote a field, plus
# the lone CR it does not quote (see _rows_to_csv). Rows whose text fields hold none of them
# are written by csv exactly as the fields joined by commas.
_NEEDS_QUOTING = re.compile('[,"\r\n]').search


@dataclass(frozen=True, slots=True)
class Bet:
    """One bet. Accepts the course's string arguments too (``"1"``, ``"1999-03-17"``, ``"7574"``)."""

    agency: int
    first_name: str
    last_name: str
    document: str
    birthdate: date
    number: int

    def __post_init__(self) -> None:
        # frozen: normalize through object.__setattr__
        object.__setattr__(self, "agency", int(self.agency))
        object.__setattr__(self, "document", str(self.document))
        if not isinstance(self.birthdate, date):
            object.__setattr__(self, "birthdate", date.fromisoformat(self.birthdate))
        object.__setattr__(self, "number", int(self.number))


def has_won(bet: Bet) -> bool:
    return bet.number == LOTTERY_WINNER_NUMBER


def bets_to_csv(bets: Iterable[Bet]) -> bytes:
    """The CSV rows ``agency,first_name,last_name,document,birthdate,number`` of ``bets``, UTF-8."""
    return _rows_to_csv(
        [
            (bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number)
            for bet in bets
        ]
    )


def agency_bets_to_csv(agency: int, bets: Iterable[BetFields]) -> bytes:
    """``bets_to_csv([Bet(agency, *bet) for bet in bets])`` for already typed (first_name, last_name,
    document, birthdate, number) tuples such as ``protocol.BetData``, without building a ``Bet`` each."""
    return _rows_to_csv(
        [
            (agency, first, last, document, birthdate.isoformat(), number)
            for first, last, document, birthdate, number in bets
        ]
    )


def _rows_to_csv(rows: list[tuple[object, ...]]) -> bytes:
    try:
        simple = not _NEEDS_QUOTING("".join([field for row in rows for field in row[1:4]]))  # type: ignore[misc]
    except TypeError:  # a field that is not a str (the course's loose Bet arguments): csv formats it
        simple = False
    if simple:  # what csv.writer writes for these rows, at twice its speed: the common case
        return "".join([f"{a},{f},{la},{d},{b},{n}\n" for a, f, la, d, b, n in rows]).encode("utf-8")
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    if "\r" in text:
        # csv quotes a field holding "\n" but not one holding a lone "\r" (it is not in the
        # line terminator), and every reader would end the row there: quote those rows fully.
        # Only names can hold one (the other fields are digits), so this path is rare.
        buffer = io.StringIO(newline="")
        plain = csv.writer(buffer, lineterminator="\n")
        quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        for row in rows:
            (quoted if "\r" in row[1] or "\r" in row[2] else plain).writerow(row)  # type: ignore[operator]
        text = buffer.getvalue()
    return text.encode("utf-8")


def store_bets(bets: Iterable[Bet], path: StrPath = STORAGE_FILEPATH) -> None:
    """Append ``bets`` to the CSV file in one write. Not process-safe by itself (see server.storage)."""
    data = bets_to_csv(bets)
    with open(path, "ab") as file:
        file.write(data)


def load_bets(path: StrPath = STORAGE_FILEPATH) -> Iterator[Bet]:
    """Every stored bet, in the order they were stored."""
    with open(path, encoding="utf-8", newline="") as file:
        for row in csv.reader(file):
            yield Bet(int(row[0]), row[1], row[2], row[3], date.fromisoformat(row[4]), int(row[5]))


def load_winning_bets(path: StrPath = STORAGE_FILEPATH) -> Iterator[Bet]:
    """``filter(has_won, load_bets(path))``, about ten times faster on a large store.

    ``has_won`` only accepts the winning number, so a row becomes a ``Bet`` (the costly part)
    only when its number is that one; ``has_won`` still decides for those.
    """
    with open(path, encoding="utf-8", newline="") as file:
        for row in csv.reader(file):
            if int(row[5]) == LOTTERY_WINNER_NUMBER:
                bet = Bet(int(row[0]), row[1], row[2], row[3], date.fromisoformat(row[4]), int(row[5]))
                if has_won(bet):
                    yield bet
