"""Where the bets come from: the agency's CSV file, read row by row, or one bet in the environment."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import NamedTuple, TextIO

from protocol import BetData

FIELDS = ("first name", "last name", "document", "birthdate", "number")
BET_ENV_VARS = ("NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO")
MAX_NUMBER = 2**32 - 1
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class NumberedBet(NamedTuple):
    line: int  # the file line where the bet's row ends (1-based)
    bet: BetData


class MalformedRow(Exception):
    def __init__(self, line: int, error: str) -> None:
        super().__init__(f"line {line}: {error}")
        self.line = line
        self.error = error


def _digits(value: str, field: str) -> str:
    if not value or not (value.isascii() and value.isdigit()):
        raise ValueError(f"{field} {value!r} is not a number")
    return value


def parse_bet(fields: list[str]) -> BetData:
    """A bet from its five text fields; ``ValueError`` says which field is wrong."""
    if len(fields) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} fields ({', '.join(FIELDS)}), got {len(fields)}")
    first_name, last_name, document, birthdate, number = fields
    if not first_name.strip():
        raise ValueError("first name is empty")
    if not last_name.strip():
        raise ValueError("last name is empty")
    _digits(document, "document")
    try:
        if not _ISO_DATE.fullmatch(birthdate):
            raise ValueError
        born = date.fromisoformat(birthdate)
    except ValueError:
        raise ValueError(f"birthdate {birthdate!r} is not a YYYY-MM-DD date") from None
    bet_number = int(_digits(number, "number"))
    if bet_number > MAX_NUMBER:
        raise ValueError(f"number {bet_number} is over {MAX_NUMBER}")
    return BetData(first_name, last_name, document, born, bet_number)


def read_bets(rows: TextIO) -> Iterator[NumberedBet]:
    """The bets of an open agency file, one row at a time (blank lines are skipped).

    The file holds no header; rows are ``first,last,document,YYYY-MM-DD,number``.
    Open it with ``newline=""``. A bad row raises ``MalformedRow`` with its line number.
    """
    reader = csv.reader(rows)
    try:
        for fields in reader:
            if not fields:
                continue
            try:
                bet = parse_bet(fields)
            except ValueError as exc:
                raise MalformedRow(reader.line_num, str(exc)) from None
            yield NumberedBet(reader.line_num, bet)
    except UnicodeDecodeError:  # decoding runs ahead in chunks: the line number is approximate
        raise MalformedRow(reader.line_num + 1, "the file is not valid UTF-8") from None
    except csv.Error as exc:
        raise MalformedRow(reader.line_num, f"bad CSV: {exc}") from None


def bet_from_env(env: Mapping[str, str]) -> BetData | None:
    """The bet of NOMBRE..NUMERO; None when none is set, ``ValueError`` when incomplete or invalid."""
    present = [name for name in BET_ENV_VARS if name in env]
    if not present:
        return None
    missing = [name for name in BET_ENV_VARS if name not in env]
    if missing:
        raise ValueError(f"the bet in the environment lacks {', '.join(missing)}")
    try:
        return parse_bet([env[name] for name in BET_ENV_VARS])
    except ValueError as exc:
        raise ValueError(f"bad bet in {', '.join(BET_ENV_VARS)}: {exc}") from None
