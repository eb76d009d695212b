"""Agency datasets: synthetic ones with planted winners, and the course's real one.

A dataset is a directory of ``agency-N.csv`` files, one bet a row:
``first name,last name,document,birthdate (YYYY-MM-DD),number``, UTF-8, no header.
The winning number is 7574; a dataset knows, per agency, the documents of its winning bets
(in file order, duplicates kept), computed here with ``csv`` alone, independently of the server.
"""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

WINNING_NUMBER = 7574
FIELDS_PER_BET = 5
DATASET_ENV = "LOTTERY_DATASET"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REAL_DATASET = REPO_ROOT.parent / "shared" / "data" / "tp0-dataset.zip"

_AGENCY_FILE = re.compile(r"^agency-(?P<agency>[1-9]\d*)\.csv$")
_OLDEST_BIRTHDATE = date(1930, 1, 1).toordinal()
_YOUNGEST_BIRTHDATE = date(2005, 12, 31).toordinal()
_REPEATED_DOCUMENT_RATE = 0.05

# Accents, commas, quotes, apostrophes and a pipe: every one must survive csv and the protocol.
FIRST_NAMES = (
    "José",
    'José "Pepe", Jr.',
    "María José",
    "Agustín",
    "Lucía",
    "Iñaki",
    "Begoña",
    "Zoë",
    'Renée, la "Flaca"',
    "Jürgen",
    "Łukasz",
    "Søren",
    "Ana | Luz",
    "Ñusta",
    "Chloé",
    "Björn",
)
LAST_NAMES = (
    "Pérez",
    "Núñez",
    "D'Alessandro",
    "Gómez, h.",
    'Muñoz "Tito"',
    "Çelik",
    "Østergaard",
    "Dvořák",
    "Ibáñez",
    "García-Márquez",
    "O'Connor",
    "Zúñiga",
)
# Multi-byte syllables (2, 3 and 4 UTF-8 bytes) for names of hundreds of bytes.
LONG_NAME_SYLLABLES = ("ñá", "ü", "łø", "José", "ção", "Ðé", "日本", "€", "𝄞", "Ω", "ß", "ĳ", ",Ñ", '"é"')


@dataclass
class Dataset:
    """Agency files in ``directory`` and what a correct system must answer for them."""

    directory: Path
    agencies: list[int]
    bets_per_agency: dict[int, int]
    expected_winners: dict[int, list[str]] = field(default_factory=dict)

    def path(self, agency: int) -> Path:
        return self.directory / f"agency-{agency}.csv"

    @property
    def total_bets(self) -> int:
        return sum(self.bets_per_agency.values())

    @property
    def total_winners(self) -> int:
        return sum(len(documents) for documents in self.expected_winners.values())


# -- generation -------------------------------------------------------------------------


def _check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _agency_list(agencies: int | Sequence[int]) -> list[int]:
    if isinstance(agencies, int | bool):
        return list(range(1, _check_count(agencies, "agencies") + 1))
    if not isinstance(agencies, Sequence) or isinstance(agencies, str):
        raise ValueError(f"agencies must be a count or a list of agency numbers, got {agencies!r}")
    numbers = list(agencies)
    for agency in numbers:
        if isinstance(agency, bool) or not isinstance(agency, int) or agency < 1:
            raise ValueError(f"agency numbers must be positive integers, got {agency!r}")
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"agency numbers repeat: {numbers}")
    return sorted(numbers)


def _per_agency(values: int | Mapping[int, int], agencies: list[int], what: str) -> dict[int, int]:
    if not isinstance(values, Mapping):
        count = _check_count(values, what)
        return dict.fromkeys(agencies, count)
    if set(values) != set(agencies):
        raise ValueError(f"{what} must give exactly agencies {agencies}, got {sorted(values)}")
    return {agency: _check_count(values[agency], f"{what} of agency {agency}") for agency in agencies}


def _winners_per_agency(winners: Mapping[int, int] | None, bets: dict[int, int], agencies: list[int]) -> dict[int, int]:
    planted = dict.fromkeys(agencies, 0)
    for agency, count in (winners or {}).items():
        if agency not in planted:
            raise ValueError(f"winners given for agency {agency}, which is not in {agencies}")
        planted[agency] = _check_count(count, f"winners of agency {agency}")
        if count > bets[agency]:
            raise ValueError(f"agency {agency}: {count} winners but only {bets[agency]} bets")
    return planted


def _name(rng: random.Random, pool: Sequence[str], long_names: bool) -> str:
    if not long_names:
        return rng.choice(pool)
    target_bytes = rng.randint(200, 400)
    name = rng.choice(pool)
    while len(name.encode("utf-8")) < target_bytes:
        name += rng.choice(LONG_NAME_SYLLABLES)
    return name


def _document(rng: random.Random, issued: list[str]) -> str:
    if issued and rng.random() < _REPEATED_DOCUMENT_RATE:
        return rng.choice(issued)
    document = str(rng.randint(10_000_000, 99_999_999))
    issued.append(document)
    return document


def _losing_number(rng: random.Random) -> int:
    """Uniform over 0..9999 without the winning number."""
    number = rng.randrange(9999)
    return number + 1 if number >= WINNING_NUMBER else number


def _agency_rows(
    rng: random.Random, bets: int, winners: int, long_names: bool
) -> Iterator[tuple[str, str, str, str, str]]:
    winning_rows = set(rng.sample(range(bets), winners))
    issued: list[str] = []
    for row in range(bets):
        first_name = _name(rng, FIRST_NAMES, long_names)
        last_name = _name(rng, LAST_NAMES, long_names)
        document = _document(rng, issued)
        birthdate = date.fromordinal(rng.randint(_OLDEST_BIRTHDATE, _YOUNGEST_BIRTHDATE))
        number = WINNING_NUMBER if row in winning_rows else _losing_number(rng)
        yield first_name, last_name, document, birthdate.isoformat(), str(number)


def _write_agency(path: Path, rows: Iterator[tuple[str, str, str, str, str]]) -> list[str]:
    """Write the rows; returns the documents of the winning ones in file order."""
    winners: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        for row in rows:
            writer.writerow(row)
            if row[4] == str(WINNING_NUMBER):
                winners.append(row[2])
    return winners


def generate(
    directory: Path | str,
    agencies: int | Sequence[int],
    bets: int | Mapping[int, int],
    winners: Mapping[int, int] | None = None,
    seed: int = 0,
    long_names: bool = False,
) -> Dataset:
    """Write ``agency-{i}.csv`` for each agency into ``directory`` (created if needed).

    ``agencies``: a count (agencies 1..n) or the agency numbers. ``bets``: per agency, one count
    for all or a mapping. ``winners``: agency -> how many bets carry 7574 (others: none).
    The same arguments always write the same bytes. Other files in ``directory`` are left alone.
    """
    agency_numbers = _agency_list(agencies)
    bets_per_agency = _per_agency(bets, agency_numbers, "bets")
    planted = _winners_per_agency(winners, bets_per_agency, agency_numbers)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    dataset = Dataset(Path(directory), agency_numbers, bets_per_agency)
    dataset.directory.mkdir(parents=True, exist_ok=True)
    for agency in agency_numbers:
        rng = random.Random(f"lottery-dataset:{seed}:{agency}")
        rows = _agency_rows(rng, bets_per_agency[agency], planted[agency], long_names)
        dataset.expected_winners[agency] = _write_agency(dataset.path(agency), rows)
    return dataset


def append_bets(dataset: Dataset, agency: int, bets: int, seed: int = 1) -> list[str]:
    """Append ``bets`` more generated losing bets to the agency's file (say, bets that come in
    late); the dataset's counts follow the file. Returns the documents of the new rows."""
    if agency not in dataset.agencies:
        raise ValueError(f"agency {agency} is not in {dataset.agencies}")
    rng = random.Random(f"lottery-dataset-appended:{seed}:{agency}")
    rows = list(_agency_rows(rng, _check_count(bets, "bets"), 0, long_names=False))
    with dataset.path(agency).open("a", encoding="utf-8", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)
    dataset.bets_per_agency[agency] += len(rows)
    return [row[2] for row in rows]


# -- loading ----------------------------------------------------------------------------


def _agency_of_file(name: str) -> int | None:
    match = _AGENCY_FILE.match(name)
    return int(match.group("agency")) if match else None


def scan_agency_file(path: Path) -> tuple[int, list[str]]:
    """(number of bets, documents of the winning bets in file order) of one agency file."""
    bets = 0
    winners: list[str] = []
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != FIELDS_PER_BET:
                raise ValueError(f"{path}:{reader.line_num}: expected {FIELDS_PER_BET} fields, got {len(row)}")
            bets += 1
            if row[4].strip() == str(WINNING_NUMBER):
                winners.append(row[2].strip())
    return bets, winners


def _dataset_of_directory(directory: Path) -> Dataset:
    files = {
        agency: path
        for path in directory.iterdir()
        if path.is_file() and (agency := _agency_of_file(path.name)) is not None
    }
    if not files:
        raise ValueError(f"{directory} holds no agency-N.csv file")
    dataset = Dataset(directory, sorted(files), {})
    for agency in dataset.agencies:
        bets, winners = scan_agency_file(files[agency])
        dataset.bets_per_agency[agency] = bets
        dataset.expected_winners[agency] = winners
    return dataset


def _extract_agency_files(archive: Path, directory: Path) -> None:
    """Extract only ``agency-N.csv`` members (by base name, so no path escapes ``directory``)."""
    extracted: set[str] = set()
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            name = member.filename.rsplit("/", 1)[-1]
            if member.is_dir() or _agency_of_file(name) is None or member.filename.startswith("__MACOSX"):
                continue
            if name in extracted:
                raise ValueError(f"{archive}: {name} appears twice")
            extracted.add(name)
            with zipped.open(member) as source, (directory / name).open("wb") as target:
                shutil.copyfileobj(source, target)


def _copy_agency_files(source: Path, directory: Path) -> None:
    for path in source.iterdir():
        if path.is_file() and _agency_of_file(path.name) is not None:
            shutil.copy2(path, directory / path.name)


def load(source: Path | str, directory: Path | str | None = None) -> Dataset:
    """The dataset of a directory of ``agency-N.csv`` files or of a zip of them.

    A zip is extracted into ``directory`` (a new temporary directory when None: the caller
    removes it). A directory is used in place, or copied into ``directory`` when one is given.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"no dataset at {source}")
    if source.is_dir() and (directory is None or Path(directory).resolve() == source.resolve()):
        return _dataset_of_directory(source)
    if not source.is_dir() and not zipfile.is_zipfile(source):
        raise ValueError(f"{source} is neither a directory nor a zip archive")
    target = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="lottery-dataset-"))
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        _copy_agency_files(source, target)
    else:
        _extract_agency_files(source, target)
    return _dataset_of_directory(target)


def real_dataset_path() -> Path | None:
    """The course's dataset zip (env ``LOTTERY_DATASET`` first), None when it is absent."""
    configured = os.environ.get(DATASET_ENV)
    path = Path(configured).expanduser() if configured else DEFAULT_REAL_DATASET
    return path if path.exists() else None
