"""The lottery domain (the course's API): bets, their CSV store and the winning rule. No bytes, no sockets."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

STORAGE_FILEPATH = "./bets.csv"
LOTTERY_WINNER_NUMBER = 7574

StrPath = str | os.PathLike[str]


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
    buffer = io.StringIO(newline="")
    plain = csv.writer(buffer, lineterminator="\n")
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for bet in bets:
        row = [bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number]
        # csv quotes a field holding "\n" but not one holding a lone "\r" (it is not in the
        # line terminator), and every reader would end the row there: quote those rows fully.
        writer = quoted if "\r" in bet.first_name or "\r" in bet.last_name else plain
        writer.writerow(row)
    return buffer.getvalue().encode("utf-8")


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
