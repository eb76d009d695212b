"""Bets for the fast tests: generated per agency (with a known share of winners), the characters
a CSV store must keep, agency files in the course's format, and the server's store read back."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from harness.store import StoredBet, read_store
from protocol import BetData
from server.model import Bet

WINNING_NUMBER = 7574


@dataclass(frozen=True)
class GeneratedBets:
    bets: list[BetData]

    @property
    def winners(self) -> list[str]:
        return [bet.document for bet in self.bets if bet.number == WINNING_NUMBER]


_NAMES = ["Ana", "José", "María, Luz", 'Juan "el"', "Zoë", "O'Brien", "Ñandú | x", "Lü\nna", "Ca\rrlos"]


def lottery_bets(agency: int, count: int, seed: int = 0, winner_ratio: float = 0.1) -> GeneratedBets:
    rng = random.Random(seed * 1_000_003 + agency)
    bets = []
    for index in range(count):
        number = WINNING_NUMBER if rng.random() < winner_ratio else rng.randrange(0, 10000)
        if number == WINNING_NUMBER and winner_ratio == 0:
            number += 1
        bets.append(
            BetData(
                rng.choice(_NAMES),
                rng.choice(_NAMES[::-1]),
                str(agency * 10_000_000 + index),  # a document tells which agency's bet it is
                date(1950 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28)),
                number,
            )
        )
    return GeneratedBets(bets)


TRICKY_NAMES = [
    ("Ana, María", 'Pérez "la rubia"'),
    ("Zoë | Ñandú", "O'Brien"),
    ("Línea\nnueva", "Retorno\rsolo"),
    ("  espacios  ", "fin\r\n"),
    ("ünïcödé 日本", "emoji 🎲"),
]


def tricky_bets(agency: int = 1) -> list[Bet]:
    """The server's own bets (``server.model.Bet``) with every character a CSV store must keep."""
    return [
        Bet(agency, first, last, str(30_000_000 + index), date(1990, 1, 1 + index), 7574 if index % 2 else 12)
        for index, (first, last) in enumerate(TRICKY_NAMES)
    ]


def agency_file_bets(count: int, *, long_every: int = 0, long_name_chars: int = 1200) -> list[BetData]:
    """``count`` bets with accented names; every ``long_every``-th one has a very long UTF-8 name."""
    bets = []
    for index in range(count):
        first = "José María" if index % 3 else 'Ñandú "el, raro"'
        last = "Pérez-Núñez" if index % 2 else "Gómez"
        if long_every and index % long_every == long_every - 1:
            first = "Ñ" * long_name_chars  # 2 bytes each in UTF-8
            last = "ü" * (long_name_chars // 2)
        bets.append(BetData(first, last, str(20_000_000 + index), _date(index), (index * 7919) % 10_000))
    return bets


def _date(index: int) -> date:
    return date(1950 + index % 50, 1 + index % 12, 1 + index % 28)


def write_agency_file(path: Path, bets: Iterable[BetData], extra_rows: Sequence[str] = ()) -> Path:
    """The course's format: no header, CRLF endings, five columns. ``extra_rows`` are appended raw."""
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\r\n")
        for bet in bets:
            writer.writerow([bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number])
        for row in extra_rows:
            file.write(row + "\r\n")
    return path


def stored_rows(storage_path: Path) -> list[StoredBet]:
    """The server's store, read like the harness reads it (``harness.store``): rows equal tuples."""
    return read_store(storage_path)
