"""harness.data: generated datasets with planted winners, and loading folders and the real zip."""

from __future__ import annotations

import csv
import zipfile
from datetime import date
from pathlib import Path

import pytest

from harness.data import WINNING_NUMBER, Dataset, generate, load, real_dataset_path

REAL_LINE_COUNTS = {1: 26936, 2: 25518, 3: 16014, 4: 9238, 5: 991}
REAL_WINNER_COUNTS = {1: 2, 2: 3, 3: 3, 4: 2, 5: 0}


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def test_generate_writes_agency_files_with_exact_planted_winners(tmp_path: Path) -> None:
    dataset = generate(tmp_path, agencies=3, bets={1: 50, 2: 0, 3: 200}, winners={1: 4, 3: 1}, seed=7)
    assert dataset.agencies == [1, 2, 3]
    assert dataset.bets_per_agency == {1: 50, 2: 0, 3: 200}
    assert dataset.total_bets == 250
    assert sorted(path.name for path in tmp_path.iterdir()) == ["agency-1.csv", "agency-2.csv", "agency-3.csv"]
    for agency in dataset.agencies:
        rows = read_rows(dataset.path(agency))
        assert len(rows) == dataset.bets_per_agency[agency]
        winners = [row[2] for row in rows if row[4] == str(WINNING_NUMBER)]
        assert winners == dataset.expected_winners[agency]
    assert {agency: len(docs) for agency, docs in dataset.expected_winners.items()} == {1: 4, 2: 0, 3: 1}
    assert dataset.total_winners == 5


def test_generated_rows_are_well_formed(tmp_path: Path) -> None:
    dataset = generate(tmp_path, agencies=2, bets=500, winners={1: 3, 2: 3}, seed=1)
    documents: list[str] = []
    for agency in dataset.agencies:
        raw = dataset.path(agency).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        raw.decode("utf-8")
        for first_name, last_name, document, birthdate, number in read_rows(dataset.path(agency)):
            assert first_name and last_name
            assert first_name == first_name.strip() and last_name == last_name.strip()
            assert document.isascii() and document.isdigit() and len(document) == 8
            assert date.fromisoformat(birthdate).isoformat() == birthdate
            assert number.isascii() and number.isdigit() and 0 <= int(number) <= 9999
            assert number == str(int(number))
            documents.append(document)
    assert len(set(documents)) < len(documents), "some documents should repeat"


def test_names_with_commas_quotes_and_accents_round_trip_through_csv(tmp_path: Path) -> None:
    dataset = generate(tmp_path, agencies=1, bets=400, seed=3)
    names = {row[0] for row in read_rows(dataset.path(1))} | {row[1] for row in read_rows(dataset.path(1))}
    assert 'José "Pepe", Jr.' in names
    assert any("," in name for name in names)
    assert any('"' in name for name in names)
    assert any(not name.isascii() for name in names)
    assert all(len(row) == 5 for row in read_rows(dataset.path(1)))


def test_generation_is_deterministic_per_seed(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", agencies=2, bets=300, winners={2: 5}, seed=42)
    again = generate(tmp_path / "b", agencies=2, bets=300, winners={2: 5}, seed=42)
    other = generate(tmp_path / "c", agencies=2, bets=300, winners={2: 5}, seed=43)
    for agency in (1, 2):
        assert first.path(agency).read_bytes() == again.path(agency).read_bytes()
        assert first.path(agency).read_bytes() != other.path(agency).read_bytes()
    assert first.expected_winners == again.expected_winners
    assert first.expected_winners != other.expected_winners


def test_winner_positions_depend_on_the_seed(tmp_path: Path) -> None:
    def winning_rows(seed: int) -> list[int]:
        dataset = generate(tmp_path / str(seed), agencies=1, bets=1000, winners={1: 3}, seed=seed)
        rows = read_rows(dataset.path(1))
        return [index for index, row in enumerate(rows) if row[4] == str(WINNING_NUMBER)]

    positions = {tuple(winning_rows(seed)) for seed in range(5)}
    assert len(positions) > 1
    assert all(len(rows) == 3 for rows in positions)


def test_every_bet_may_win_and_none_may(tmp_path: Path) -> None:
    everyone = generate(tmp_path / "all", agencies=1, bets=5, winners={1: 5})
    assert len(everyone.expected_winners[1]) == 5
    nobody = generate(tmp_path / "none", agencies=[4], bets=3000)
    assert nobody.agencies == [4] and nobody.expected_winners == {4: []}
    assert all(row[4] != str(WINNING_NUMBER) for row in read_rows(nobody.path(4)))


def test_long_names_are_hundreds_of_multibyte_utf8_bytes(tmp_path: Path) -> None:
    dataset = generate(tmp_path, agencies=1, bets=30, winners={1: 2}, long_names=True)
    rows = read_rows(dataset.path(1))
    for first_name, last_name, *_ in rows:
        for name in (first_name, last_name):
            assert 200 <= len(name.encode("utf-8")) < 1000
            assert len(name.encode("utf-8")) > len(name)
    assert any(len(char.encode("utf-8")) == 4 for row in rows for char in row[0] + row[1])
    assert len([row for row in rows if row[4] == str(WINNING_NUMBER)]) == 2


def test_generate_with_zero_agencies_writes_nothing(tmp_path: Path) -> None:
    dataset = generate(tmp_path, agencies=0, bets=10)
    assert dataset == Dataset(tmp_path, [], {}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agencies": -1, "bets": 1}, "agencies"),
        ({"agencies": [0], "bets": 1}, "positive"),
        ({"agencies": [1, 1], "bets": 1}, "repeat"),
        ({"agencies": True, "bets": 1}, "non-negative integer"),
        ({"agencies": "12", "bets": 1}, "a count or a list"),
        ({"agencies": 2, "bets": -5}, "bets"),
        ({"agencies": 2, "bets": {1: 5}}, "exactly"),
        ({"agencies": 2, "bets": 5, "winners": {1: 6}}, "only 5 bets"),
        ({"agencies": 2, "bets": 5, "winners": {3: 1}}, "not in"),
        ({"agencies": 2, "bets": 5, "winners": {1: -1}}, "winners"),
        ({"agencies": 1, "bets": 5, "seed": "x"}, "seed"),
    ],
)
def test_generate_refuses_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_load_a_generated_folder_agrees_with_generate(tmp_path: Path) -> None:
    generated = generate(tmp_path, agencies=[2, 5], bets={2: 120, 5: 80}, winners={2: 2, 5: 1}, seed=9)
    (tmp_path / "notes.txt").write_text("not an agency file")
    loaded = load(tmp_path)
    assert loaded == generated


def test_load_copies_a_folder_into_a_directory(tmp_path: Path) -> None:
    generated = generate(tmp_path / "source", agencies=2, bets=10, winners={1: 1})
    loaded = load(tmp_path / "source", tmp_path / "copy")
    assert loaded.directory == tmp_path / "copy"
    assert loaded.expected_winners == generated.expected_winners
    assert load(tmp_path / "source", tmp_path / "source") == generated


def test_load_a_zip_with_crlf_lines_and_skips_other_members(tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("agency-1.csv", "Ana,Pérez,30904465,1999-03-17,7574\r\nLuis,Gómez,1,2000-01-01,7575\r\n")
        zipped.writestr("nested/agency-2.csv", "Ana,Pérez,2,1999-03-17, 7574 \r\n")
        zipped.writestr("../agency-x.csv", "ignored")
        zipped.writestr("__MACOSX/agency-3.csv", "ignored")
    dataset = load(archive, tmp_path / "out")
    assert dataset.agencies == [1, 2]
    assert dataset.bets_per_agency == {1: 2, 2: 1}
    assert dataset.expected_winners == {1: ["30904465"], 2: ["2"]}
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["agency-1.csv", "agency-2.csv"]
    assert b"\r\n" in dataset.path(1).read_bytes()


def test_load_refuses_what_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing")
    with pytest.raises(ValueError, match="no agency"):
        load(tmp_path)
    (tmp_path / "file.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither"):
        load(tmp_path / "file.txt")
    (tmp_path / "agency-1.csv").write_text("a,b,1,2000-01-01,1\na,b,1\n")
    with pytest.raises(ValueError, match=r"agency-1.csv:2: expected 5 fields"):
        load(tmp_path)


def test_real_dataset_path_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTTERY_DATASET", str(tmp_path / "absent.zip"))
    assert real_dataset_path() is None
    (tmp_path / "present.zip").write_bytes(b"")
    monkeypatch.setenv("LOTTERY_DATASET", str(tmp_path / "present.zip"))
    assert real_dataset_path() == tmp_path / "present.zip"


def test_load_the_real_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOTTERY_DATASET", raising=False)
    archive = real_dataset_path()
    if archive is None:
        pytest.skip("the course's dataset (../shared/data/tp0-dataset.zip) is absent")
    dataset = load(archive, tmp_path)
    assert dataset.agencies == [1, 2, 3, 4, 5]
    assert dataset.bets_per_agency == REAL_LINE_COUNTS
    assert dataset.total_bets == 78_697
    assert {agency: len(docs) for agency, docs in dataset.expected_winners.items()} == REAL_WINNER_COUNTS
    for agency, count in REAL_LINE_COUNTS.items():
        assert dataset.path(agency).read_bytes().count(b"\n") == count
    assert all(doc.isdigit() for docs in dataset.expected_winners.values() for doc in docs)
