"""The draw: winners per agency, and the winners file that shares them between processes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from server.model import Bet, has_won

Winners = dict[int, list[str]]  # agency -> documents of its winning bets, in store order


def compute_winners(bets: Iterable[Bet]) -> Winners:
    winners: Winners = {}
    for bet in bets:
        if has_won(bet):
            winners.setdefault(bet.agency, []).append(bet.document)
    return winners


def count_winners(winners: Winners) -> int:
    return sum(len(documents) for documents in winners.values())


def save_winners(path: Path, winners: Winners, fsync: bool = False) -> None:
    """Write temp + rename, so a reader sees the old file or the whole new one."""
    temporary = path.with_name(path.name + ".tmp")
    data = json.dumps({str(agency): documents for agency, documents in winners.items()}).encode()
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        if fsync:
            os.fsync(file.fileno())
    os.replace(temporary, path)


def load_winners(path: Path) -> Winners:
    with open(path, encoding="utf-8") as file:
        raw = json.load(file)
    return {int(agency): [str(document) for document in documents] for agency, documents in raw.items()}
