"""harness.store reads what the server writes (rows made by server.model), also while it writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import tricky_bets

from harness.store import StoredBet, StoreError, read_rows, read_store
from server.model import Bet, bets_to_csv

TRICKY = tricky_bets(1) + tricky_bets(2)


def as_stored(bet: Bet) -> StoredBet:
    return StoredBet(bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number)


def test_every_row_the_server_writes_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    path.write_bytes(bets_to_csv(TRICKY))
    assert read_store(path) == [as_stored(bet) for bet in TRICKY]
    assert read_store(path)[0] == (1, "Ana, María", 'Pérez "la rubia"', "30000000", "1990-01-01", 12)  # a tuple


def test_a_missing_store_holds_no_rows(tmp_path: Path) -> None:
    assert read_store(tmp_path / "none.csv") == []
    assert read_rows(tmp_path / "none.csv", 17) == ([], 17)


def test_a_row_being_written_waits_for_the_next_read(tmp_path: Path) -> None:
    """Wherever the writer is, the reader takes only whole rows and the next read gets the rest."""
    path = tmp_path / "bets.csv"
    data = bets_to_csv(TRICKY)
    for cut in range(len(data) + 1):
        path.write_bytes(data[:cut])
        first, offset = read_rows(path)
        path.write_bytes(data)
        rest, end = read_rows(path, offset)
        assert first + rest == [as_stored(bet) for bet in TRICKY], f"cut at byte {cut}"
        assert end == len(data)
        assert read_rows(path, end) == ([], end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,a,b,3,1990-01-01\n", "5 fields, expected 6"),
        ("x,a,b,3,1990-01-01,7\n", "must be integers"),
        ('1,"a"b,c,3,1990-01-01,7\n2,a,b,4,1990-01-01,7\n', "line 1"),
    ],
)
def test_a_malformed_row_is_an_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bets.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StoreError, match=message):
        read_store(path)
