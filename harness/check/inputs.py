"""What a check feeds a system under test: agency files and edited config files, in the contract's form.

Agency files are ``.data/agency-N.csv``, rows ``first,last,document,YYYY-MM-DD,number``, no
header, CRLF line ends like the course's; names are plain (no commas nor quotes: the course's
files have none, so a check must not depend on a CSV dialect), optionally long and multi-byte.
"""

from __future__ import annotations

import configparser
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.data import WINNING_NUMBER

FIRST_NAMES = ("Ana", "José", "María", "Lucía", "Agustín", "Iñaki", "Zoë", "Jürgen", "Søren", "Chloé", "Björn")
LAST_NAMES = ("Pérez", "Núñez", "Gómez", "Muñoz", "Çelik", "Dvořák", "Ibáñez", "Zúñiga", "Østergaard")
# 2-, 3- and 4-byte UTF-8 syllables: a long name's bytes, not its bets, fill an 8 kB frame.
LONG_SYLLABLES = ("ñá", "ü", "łø", "ção", "Ðé", "日本", "€", "𝄞", "Ω", "ß")
LONG_NAME_BYTES = 220


@dataclass(frozen=True)
class AgencyFile:
    agency: int
    rows: int
    winners: list[str]  # documents of the planted winning bets
    bet_bytes: list[int]  # per row, the UTF-8 bytes of its five fields: what any encoding must carry


def _long_name(rng: random.Random) -> str:
    name = ""
    while len(name.encode()) < LONG_NAME_BYTES:
        name += rng.choice(LONG_SYLLABLES)
    return name


def write_agency(
    data_directory: Path, agency: int, rows: int, winners: int = 0, *, long_names: bool = False, seed: int = 0
) -> AgencyFile:
    """``.data/agency-N.csv`` with ``rows`` bets, ``winners`` of them on the winning number."""
    if not 0 <= winners <= rows:
        raise ValueError(f"agency {agency}: {winners} winners among {rows} bets")
    rng = random.Random(seed * 1_000 + agency)
    winning_rows = set(rng.sample(range(rows), winners))
    documents: list[str] = []
    bet_bytes: list[int] = []
    lines = []
    for row in range(rows):
        document = str(10_000_000 + agency * 1_000_000 + row)
        losing = rng.randrange(9_999)
        number = WINNING_NUMBER if row in winning_rows else losing + (losing >= WINNING_NUMBER)
        if row in winning_rows:
            documents.append(document)
        first = _long_name(rng) if long_names else rng.choice(FIRST_NAMES)
        last = _long_name(rng) if long_names else rng.choice(LAST_NAMES)
        birthdate = f"{rng.randint(1940, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        fields = (first, last, document, birthdate, str(number))
        bet_bytes.append(sum(len(value.encode()) for value in fields))
        lines.append(",".join(fields) + "\r\n")
    data_directory.mkdir(parents=True, exist_ok=True)
    (data_directory / f"agency-{agency}.csv").write_bytes("".join(lines).encode("utf-8"))
    return AgencyFile(agency, rows, documents, bet_bytes)


def edit_client_config(tree: Path, values: Mapping[str, object]) -> Path:
    """Set dotted keys (``batch.maxAmount``) in the tree's ``client/config.yaml``."""
    path = tree / "client" / "config.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    document = document or {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def edit_server_config(tree: Path, values: Mapping[str, object]) -> Path:
    """Set ``[DEFAULT]`` keys in the tree's ``server/config.ini``, the rest of the file kept as is."""
    path = tree / "server" / "config.ini"
    text = path.read_text(encoding="utf-8") if path.is_file() else "[DEFAULT]\n"
    for key, value in values.items():
        line = f"{key} = {value}"
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", flags=re.M | re.I)
        text, found = pattern.subn(line.replace("\\", "\\\\"), text)
        if not found:
            text = text.replace("[DEFAULT]\n", f"[DEFAULT]\n{line}\n", 1)
    configparser.ConfigParser().read_string(text)  # still a valid ini file
    path.write_text(text, encoding="utf-8")
    return path
