"""Domain assertions. Each failure names what was expected, what was seen, and the log lines behind it."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.data import Dataset
from harness.logs import EventLog

if TYPE_CHECKING:
    from harness.cluster import Cluster, StoredBet

BetKey = tuple[int, str, str, str, str, int]
EVIDENCE_LINES = 12


def _evidence(lines: Iterable[str]) -> str:
    shown = list(lines)[-EVIDENCE_LINES:]
    return "\n".join(f"    {line}" for line in shown) if shown else "    (no log lines)"


def assert_winners(events: EventLog, expected: dict[int, list[str]]) -> None:
    """Every agency reported exactly its expected winners (documents, in any order)."""
    observed = events.winners_by_agency()
    problems = []
    for agency in sorted(set(expected) | set(observed)):
        want, got = sorted(expected.get(agency, [])), observed.get(agency)
        if got is None:
            problems.append(f"agency {agency}: expected {len(want)} winners {want}, but it reported none")
        elif sorted(got) != want:
            problems.append(f"agency {agency}: expected {len(want)} winners {want}, observed {len(got)} {sorted(got)}")
    if problems:
        lines = [e.raw for e in events if e.action == "consulta_ganadores" and e.result == "success"]
        raise AssertionError("winners differ:\n  " + "\n  ".join(problems) + "\nlog lines:\n" + _evidence(lines))


def assert_no_failures(events: EventLog, *, allow: Iterable[str] = ()) -> None:
    """No event logged ``result: fail`` (except for the ``allow``-ed actions), and no traceback."""
    allowed = set(allow)
    failures = [e for e in events if e.result == "fail" and e.action not in allowed]
    tracebacks = events.tracebacks()
    if failures or tracebacks:
        detail = [f"{e.service} | {e.raw}" for e in failures] + tracebacks
        raise AssertionError(
            f"expected no failures, observed {len(failures)} fail events and {len(tracebacks)} tracebacks:\n"
            + _evidence(detail)
        )


def assert_graceful_exit(cluster: Cluster, service: str, grace: float = 10) -> int:
    """``service`` exits 0 within ``grace`` seconds, logs its ``shutdown`` line, prints no traceback."""
    code = cluster.wait_exit(service, timeout=grace)
    events = cluster.events()
    shutdown = events.first("shutdown", "success", service=service)
    tracebacks = events.tracebacks(service)
    problems = []
    if code != 0:
        problems.append(f"exit code {code}, expected 0")
    if shutdown is None:
        problems.append("no `action: shutdown | result: success` line")
    if tracebacks:
        problems.append(f"{len(tracebacks)} traceback(s)")
    if problems:
        raise AssertionError(
            f"{service} did not exit gracefully: {'; '.join(problems)}\nlast lines:\n"
            + _evidence(cluster.hub.lines(service) + tracebacks)
        )
    return code


def dataset_bets(dataset: Dataset, agency: int) -> list[BetKey]:
    """The agency file's bets, normalized like the store's rows (read independently of the server)."""
    with dataset.path(agency).open(newline="", encoding="utf-8") as file:
        return [
            (agency, first, last, document, birthdate, int(number))
            for first, last, document, birthdate, number in (row for row in csv.reader(file) if row)
        ]


def _stored_by_agency(stored: list[StoredBet]) -> dict[int, list[BetKey]]:
    rows: dict[int, list[BetKey]] = {}
    for bet in stored:
        rows.setdefault(bet.agency, []).append(
            (bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate, bet.number)
        )
    return rows


def assert_all_bets_stored(cluster: Cluster, dataset: Dataset) -> None:
    """The store holds every bet of every agency file exactly once, and nothing else."""
    stored = _stored_by_agency(cluster.read_store())
    problems = []
    for agency in sorted(set(dataset.agencies) | set(stored)):
        want = Counter(dataset_bets(dataset, agency)) if agency in dataset.agencies else Counter()
        got = Counter(stored.get(agency, []))
        if want != got:
            missing, extra = want - got, got - want
            problems.append(
                f"agency {agency}: expected {sum(want.values())} rows, stored {sum(got.values())} "
                f"({sum(missing.values())} missing, e.g. {list(missing)[:2]}; "
                f"{sum(extra.values())} extra, e.g. {list(extra)[:2]})"
            )
    if problems:
        raise AssertionError("stored bets differ from the dataset:\n  " + "\n  ".join(problems))


def assert_acknowledged_bets_stored(cluster: Cluster, dataset: Dataset) -> dict[int, int]:
    """No acknowledged bet lost, none duplicated, no partial row.

    The client logs how many bets the server acknowledged so far (the first T of its
    file). Each agency's stored rows must be exactly the first K rows of its file, in
    order, with K >= T. Returns the acknowledged count per agency.
    """
    acknowledged = cluster.events().acknowledged_by_agency()
    stored = _stored_by_agency(cluster.read_store())
    problems = []
    for agency in sorted(set(dataset.agencies) | set(stored)):
        rows = stored.get(agency, [])
        file_rows = dataset_bets(dataset, agency) if agency in dataset.agencies else []
        acked = acknowledged.get(agency, 0)
        if rows != file_rows[: len(rows)]:
            first_bad = next(
                (i for i, (a, b) in enumerate(zip(rows, file_rows, strict=False)) if a != b), len(file_rows)
            )
            problems.append(
                f"agency {agency}: stored rows are not the file's first {len(rows)} bets "
                f"(first difference at row {first_bad + 1}: duplicate, reordered or foreign row)"
            )
        if len(rows) < acked:
            problems.append(f"agency {agency}: {acked} bets acknowledged, only {len(rows)} stored")
    if problems:
        lines = [e.raw for e in cluster.events() if e.action == "lote_confirmado"]
        raise AssertionError(
            "acknowledged bets not stored exactly once:\n  "
            + "\n  ".join(problems)
            + "\nlast acknowledgements:\n"
            + _evidence(lines)
        )
    return acknowledged
