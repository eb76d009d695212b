"""Domain assertions. Each failure names what was expected, what was seen, and the log lines behind it."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from harness.data import Dataset
from harness.faults import FAULT_ACTION
from harness.logs import Event, EventLog

if TYPE_CHECKING:
    from harness.cluster import Cluster, StoredBet

BetKey = tuple[int, str, str, str, str, int]
EVIDENCE_LINES = 12
# docs/protocol.md: a frame is at most 8192 bytes; a header is 10; a BATCH payload starts with seq (u32)
# and count (u16); a bet is five strings, each a u16 byte count and its UTF-8 bytes.
MAX_FRAME_SIZE = 8192
FRAME_HEADER_SIZE = 10
BATCH_PREFIX_SIZE = 6
STRING_PREFIX_SIZE = 2


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


def assert_server_answered_winners(events: EventLog, expected: dict[int, list[str]]) -> None:
    """The server answered every expected agency (``consulta_ganadores | result: success | agencia: A``)
    with the number of that agency's winners, and answered no other agency."""
    answered: dict[int, set[int]] = {}
    for event in events:
        if event.matches("consulta_ganadores", "success") and "agencia" in event.fields:
            answered.setdefault(event.int_field("agencia") or 0, set()).add(event.int_field("cant_ganadores") or 0)
    want = {agency: {len(documents)} for agency, documents in expected.items()}
    if answered != want:
        lines = [e.raw for e in events if e.action == "consulta_ganadores" and "agencia" in e.fields]
        raise AssertionError(
            f"server answers differ: expected winner counts {want}, observed {answered}\n" + _evidence(lines)
        )


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


def assert_graceful_exit(cluster: Cluster, service: str, grace: float = 10, events: EventLog | None = None) -> int:
    """``service`` exits 0 within ``grace`` seconds, logs its ``shutdown`` line, prints no traceback.

    ``events``: where to look for those lines (default: the whole cluster log; pass
    ``EventLog(cluster.events()[mark:])`` for a service started again after ``mark``)."""
    code = cluster.wait_exit(service, timeout=grace)
    events = cluster.events() if events is None else events
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


def assert_acknowledged_bets_stored(
    cluster: Cluster, dataset: Dataset, events: EventLog | None = None
) -> dict[int, int]:
    """No acknowledged bet lost, none duplicated, no partial row.

    The client logs how many bets the server acknowledged so far (the first T of its
    file). Each agency's stored rows must be exactly the first K rows of its file, in
    order, with K >= T. Returns the acknowledged count per agency. ``events``: the
    acknowledgements to check (default: the whole cluster log; a slice of it for a
    store that was emptied and a run started again).
    """
    events = cluster.events() if events is None else events
    acknowledged = events.acknowledged_by_agency()
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
        lines = [f"{e.service} | {e.raw}" for e in events if e.action in ("lote_confirmado", FAULT_ACTION)]
        raise AssertionError(
            "acknowledged bets not stored exactly once:\n  "
            + "\n  ".join(problems)
            + "\nlast acknowledgements:\n"
            + _evidence(lines)
        )
    return acknowledged


def assert_one_draw_before_winners(events: EventLog) -> Event:
    """Exactly one ``sorteo``, and no agency told its winners before it: in the server's own log
    (exact order) every ``consulta_ganadores | result: success`` follows it, and no client's
    answer is timestamped earlier (containers share the host's clock). Returns the draw."""
    draws = [e for e in events if e.matches("sorteo", "success")]
    if len(draws) != 1:
        detail = _evidence(e.raw for e in draws)
        raise AssertionError(f"expected exactly one `sorteo`, observed {len(draws)}:\n{detail}")
    draw = draws[0]
    answers = [e for e in events if e.matches("consulta_ganadores", "success")]
    early = [
        e
        for e in answers
        if (e.service == draw.service and e.seq < draw.seq)
        or (e.service != draw.service and e.time is not None and draw.time is not None and e.time < draw.time)
    ]
    if early:
        raise AssertionError(
            f"{len(early)} winners answer(s) before the draw ({draw.raw}):\n"
            + _evidence(f"{e.service} | {e.raw}" for e in early)
        )
    return draw


def batch_frame_size(bets: Sequence[BetKey]) -> int:
    """Bytes of the BATCH frame that carries ``bets``, from docs/protocol.md alone (not protocol/)."""
    payload = BATCH_PREFIX_SIZE
    for _agency, first, last, document, birthdate, number in bets:
        for text in (first, last, document, birthdate, str(number)):
            payload += STRING_PREFIX_SIZE + len(text.encode("utf-8"))
    return FRAME_HEADER_SIZE + payload


def assert_batches_fit_frames(events: EventLog, dataset: Dataset, limit: int = MAX_FRAME_SIZE) -> dict[int, list[int]]:
    """Each agency's acknowledged batches, cut in order from its file by their ``cantidad``, make
    frames of at most ``limit`` bytes. Returns the frame sizes per agency."""
    sizes: dict[int, list[int]] = {}
    problems = []
    for agency, counts in sorted(events.batches_by_agency().items()):
        rows = dataset_bets(dataset, agency)
        if sum(counts) > len(rows):
            problems.append(f"agency {agency}: batches acknowledge {sum(counts)} bets, the file has {len(rows)}")
            continue
        start = 0
        sizes[agency] = []
        for seq, count in enumerate(counts, start=1):
            size = batch_frame_size(rows[start : start + count])
            sizes[agency].append(size)
            if size > limit:
                problems.append(f"agency {agency}: batch {seq} ({count} bets) is a frame of {size} bytes > {limit}")
            start += count
    if problems:
        lines = [e.raw for e in events if e.action == "lote_confirmado"]
        raise AssertionError("batches over the frame limit:\n  " + "\n  ".join(problems) + "\n" + _evidence(lines))
    return sizes


def assert_full_batches(events: EventLog, max_amount: int) -> dict[int, list[int]]:
    """Every agency's batches carry ``max_amount`` bets each except its last (1..max_amount).
    Returns the batch sizes per agency."""
    batches = events.batches_by_agency()
    problems = []
    for agency, counts in sorted(batches.items()):
        if not counts:
            continue
        *full, last = counts
        if any(count != max_amount for count in full) or not 1 <= last <= max_amount:
            problems.append(
                f"agency {agency}: batch sizes {counts}, expected {max_amount} each and a last of 1..{max_amount}"
            )
    if problems:
        raise AssertionError("batches are not full:\n  " + "\n  ".join(problems))
    return batches
