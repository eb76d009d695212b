"""Domain assertions, as checks and as asserts.

Each ``check_*`` returns a ``Verdict`` (``harness.verdicts``): passed or not, what was expected,
what was seen, the log lines behind it. Each ``assert_*`` runs its check and raises
``AssertionError`` (a ``VerdictFailed``) on a failed verdict, naming the same; scenarios call the
asserts, and code that wants every problem of a run (the randomized trials) merges the checks.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from harness.data import Dataset
from harness.faults import FAULT_ACTION
from harness.logs import Event, EventLog
from harness.verdicts import EVIDENCE_LINES, Verdict, assert_passed, judge

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.store import StoredBet

BetKey = tuple[int, str, str, str, str, int]
DOMAIN = "lottery"  # the ``exercise`` of every verdict here
# docs/protocol.md: a frame is at most 8192 bytes; a header is 10; a BATCH payload starts with seq (u32)
# and count (u16); a bet is five strings, each a u16 byte count and its UTF-8 bytes.
MAX_FRAME_SIZE = 8192
FRAME_HEADER_SIZE = 10
BATCH_PREFIX_SIZE = 6
STRING_PREFIX_SIZE = 2


def _evidence(lines: Iterable[str]) -> str:
    shown = list(lines)[-EVIDENCE_LINES:]
    return "\n".join(f"    {line}" for line in shown) if shown else "    (no log lines)"


def _last(lines: Iterable[str]) -> list[str]:
    """The evidence a verdict keeps: the last lines (those an assertion message shows)."""
    return list(lines)[-EVIDENCE_LINES:]


def _problem_lines(verdict: Verdict) -> str:
    return "\n  ".join(verdict.problems)


def check_winners(events: EventLog, expected: dict[int, list[str]]) -> Verdict:
    """Every agency reported exactly its expected winners (documents, in any order)."""
    observed = events.winners_by_agency()
    problems = []
    for agency in sorted(set(expected) | set(observed)):
        want, got = sorted(expected.get(agency, [])), observed.get(agency)
        if got is None:
            problems.append(f"agency {agency}: expected {len(want)} winners {want}, but it reported none")
        elif sorted(got) != want:
            problems.append(f"agency {agency}: expected {len(want)} winners {want}, observed {len(got)} {sorted(got)}")
    lines = [e.raw for e in events if e.action == "consulta_ganadores" and e.result == "success"] if problems else []
    seen = f"{len(observed)} agencies reported their winners"
    return judge(DOMAIN, "winners", problems, "each agency reports exactly its winners", seen, _last(lines))


def assert_winners(events: EventLog, expected: dict[int, list[str]]) -> None:
    """Every agency reported exactly its expected winners (documents, in any order)."""
    verdict = check_winners(events, expected)
    assert_passed(
        verdict, "winners differ:\n  " + _problem_lines(verdict) + "\nlog lines:\n" + _evidence(verdict.evidence)
    )


def check_server_answered_winners(events: EventLog, expected: dict[int, list[str]]) -> Verdict:
    """The server answered every expected agency (``consulta_ganadores | result: success | agencia: A``)
    with the number of that agency's winners, and answered no other agency."""
    answered: dict[int, set[int]] = {}
    for event in events:
        if event.matches("consulta_ganadores", "success") and "agencia" in event.fields:
            answered.setdefault(event.int_field("agencia") or 0, set()).add(event.int_field("cant_ganadores") or 0)
    want = {agency: {len(documents)} for agency, documents in expected.items()}
    problems = [] if answered == want else [f"expected winner counts {want}, observed {answered}"]
    lines = [e.raw for e in events if e.action == "consulta_ganadores" and "agencia" in e.fields] if problems else []
    return judge(
        DOMAIN, "server answered winners", problems, f"winner counts {want}", f"winner counts {answered}", _last(lines)
    )


def assert_server_answered_winners(events: EventLog, expected: dict[int, list[str]]) -> None:
    """The server answered every expected agency (``consulta_ganadores | result: success | agencia: A``)
    with the number of that agency's winners, and answered no other agency."""
    verdict = check_server_answered_winners(events, expected)
    assert_passed(verdict, f"server answers differ: {_problem_lines(verdict)}\n" + _evidence(verdict.evidence))


def check_no_failures(events: EventLog, *, allow: Iterable[str] = ()) -> Verdict:
    """No event logged ``result: fail`` (except for the ``allow``-ed actions), and no traceback."""
    allowed = set(allow)
    failures = [e for e in events if e.result == "fail" and e.action not in allowed]
    tracebacks = events.tracebacks()
    problems = []
    if failures or tracebacks:
        problems.append(f"{len(failures)} fail events and {len(tracebacks)} tracebacks")
    detail = [f"{e.service} | {e.raw}" for e in failures] + tracebacks
    return judge(DOMAIN, "no failures", problems, "no failures", "no fail event, no traceback", _last(detail))


def assert_no_failures(events: EventLog, *, allow: Iterable[str] = ()) -> None:
    """No event logged ``result: fail`` (except for the ``allow``-ed actions), and no traceback."""
    verdict = check_no_failures(events, allow=allow)
    assert_passed(verdict, f"expected no failures, observed {_problem_lines(verdict)}:\n" + _evidence(verdict.evidence))


def check_graceful_exit(cluster: Cluster, service: str, grace: float = 10, events: EventLog | None = None) -> Verdict:
    """``service`` exits 0 within ``grace`` seconds, logs its ``shutdown`` line, prints no traceback.

    ``events``: where to look for those lines (default: the whole cluster log; pass
    ``EventLog(cluster.events()[mark:])`` for a service started again after ``mark``). A service
    still running after ``grace`` raises ``WaitTimeout`` (naming the lottery's state), as does the
    log of another running service that does not reach the harness (``Cluster.wait_exit``): a
    wait, not a verdict."""
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
    evidence = _last(cluster.hub.lines(service) + tracebacks) if problems else []
    expected = f"{service} exits 0 within {grace}s after its shutdown line, no traceback"
    return judge(DOMAIN, f"graceful exit of {service}", problems, expected, f"{service} exited 0", evidence)


def assert_graceful_exit(cluster: Cluster, service: str, grace: float = 10, events: EventLog | None = None) -> int:
    """``service`` exits 0 within ``grace`` seconds, logs its ``shutdown`` line, prints no traceback.

    ``events``: where to look for those lines (default: the whole cluster log; pass
    ``EventLog(cluster.events()[mark:])`` for a service started again after ``mark``)."""
    verdict = check_graceful_exit(cluster, service, grace, events)
    assert_passed(
        verdict,
        f"{service} did not exit gracefully: {'; '.join(verdict.problems)}\nlast lines:\n"
        + _evidence(verdict.evidence),
    )
    return 0


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


def check_all_bets_stored(cluster: Cluster, dataset: Dataset) -> Verdict:
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
    seen = f"{sum(len(rows) for rows in stored.values())} rows, each bet of the files once"
    return judge(DOMAIN, "all bets stored", problems, "every bet of every agency file stored once", seen)


def assert_all_bets_stored(cluster: Cluster, dataset: Dataset) -> None:
    """The store holds every bet of every agency file exactly once, and nothing else."""
    verdict = check_all_bets_stored(cluster, dataset)
    assert_passed(verdict, "stored bets differ from the dataset:\n  " + _problem_lines(verdict))


def _acknowledged_bets_stored(
    cluster: Cluster, dataset: Dataset, events: EventLog | None
) -> tuple[Verdict, dict[int, int]]:
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
    lines = (
        [f"{e.service} | {e.raw}" for e in events if e.action in ("lote_confirmado", FAULT_ACTION)] if problems else []
    )
    expected = "each agency's stored rows: the first K of its file, in order, K >= the bets acknowledged"
    seen = f"{sum(acknowledged.values())} bets acknowledged, all stored once"
    return judge(DOMAIN, "acknowledged bets stored", problems, expected, seen, _last(lines)), acknowledged


def check_acknowledged_bets_stored(cluster: Cluster, dataset: Dataset, events: EventLog | None = None) -> Verdict:
    """No acknowledged bet lost, none duplicated, no partial row (see ``assert_acknowledged_bets_stored``)."""
    return _acknowledged_bets_stored(cluster, dataset, events)[0]


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
    verdict, acknowledged = _acknowledged_bets_stored(cluster, dataset, events)
    assert_passed(
        verdict,
        "acknowledged bets not stored exactly once:\n  "
        + _problem_lines(verdict)
        + "\nlast acknowledgements:\n"
        + _evidence(verdict.evidence),
    )
    return acknowledged


def _one_draw_before_winners(events: EventLog) -> tuple[Verdict, str, Event | None]:
    """The verdict, the message an assertion raises with, and the draw (when there is one)."""
    expected = "one `sorteo`, before every winners answer"
    draws = [e for e in events if e.matches("sorteo", "success")]
    if len(draws) != 1:
        problem = f"expected exactly one `sorteo`, observed {len(draws)}"
        verdict = judge(DOMAIN, "one draw before winners", [problem], expected, "", _last(e.raw for e in draws))
        return verdict, f"{problem}:\n{_evidence(verdict.evidence)}", None
    draw = draws[0]
    answers = [e for e in events if e.matches("consulta_ganadores", "success")]
    early = [
        e
        for e in answers
        if (e.service == draw.service and e.seq < draw.seq)
        or (e.service != draw.service and e.time is not None and draw.time is not None and e.time < draw.time)
    ]
    problems = [f"{len(early)} winners answer(s) before the draw ({draw.raw})"] if early else []
    seen = f"one draw, {len(answers)} winners answers after it"
    evidence = _last(f"{e.service} | {e.raw}" for e in early) if early else [draw.raw]
    verdict = judge(DOMAIN, "one draw before winners", problems, expected, seen, evidence)
    return verdict, f"{problems[0]}:\n{_evidence(verdict.evidence)}" if problems else "", draw


def check_one_draw_before_winners(events: EventLog) -> Verdict:
    """Exactly one ``sorteo``, and no agency told its winners before it (see the assert)."""
    return _one_draw_before_winners(events)[0]


def assert_one_draw_before_winners(events: EventLog) -> Event:
    """Exactly one ``sorteo``, and no agency told its winners before it: in the server's own log
    (exact order) every ``consulta_ganadores | result: success`` follows it, and no client's
    answer is timestamped earlier (containers share the host's clock). Returns the draw."""
    verdict, message, draw = _one_draw_before_winners(events)
    assert_passed(verdict, message)
    assert draw is not None  # a passed verdict found the one draw
    return draw


def batch_frame_size(bets: Sequence[BetKey]) -> int:
    """Bytes of the BATCH frame that carries ``bets``, from docs/protocol.md alone (not protocol/)."""
    payload = BATCH_PREFIX_SIZE
    for _agency, first, last, document, birthdate, number in bets:
        for text in (first, last, document, birthdate, str(number)):
            payload += STRING_PREFIX_SIZE + len(text.encode("utf-8"))
    return FRAME_HEADER_SIZE + payload


def _batches_fit_frames(events: EventLog, dataset: Dataset, limit: int) -> tuple[Verdict, dict[int, list[int]]]:
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
    lines = [e.raw for e in events if e.action == "lote_confirmado"] if problems else []
    largest = max((size for agency_sizes in sizes.values() for size in agency_sizes), default=0)
    verdict = judge(
        DOMAIN,
        "batches fit frames",
        problems,
        f"every BATCH frame <= {limit} bytes",
        f"largest {largest}",
        _last(lines),
    )
    return verdict, sizes


def check_batches_fit_frames(events: EventLog, dataset: Dataset, limit: int = MAX_FRAME_SIZE) -> Verdict:
    """Each agency's acknowledged batches make frames of at most ``limit`` bytes (see the assert)."""
    return _batches_fit_frames(events, dataset, limit)[0]


def assert_batches_fit_frames(events: EventLog, dataset: Dataset, limit: int = MAX_FRAME_SIZE) -> dict[int, list[int]]:
    """Each agency's acknowledged batches, cut in order from its file by their ``cantidad``, make
    frames of at most ``limit`` bytes. Returns the frame sizes per agency."""
    verdict, sizes = _batches_fit_frames(events, dataset, limit)
    assert_passed(
        verdict, "batches over the frame limit:\n  " + _problem_lines(verdict) + "\n" + _evidence(verdict.evidence)
    )
    return sizes


def check_full_batches(events: EventLog, max_amount: int) -> Verdict:
    """Every agency's batches carry ``max_amount`` bets each except its last (1..max_amount)."""
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
    expected = f"batches of {max_amount} bets, the last of 1..{max_amount}"
    return judge(DOMAIN, "full batches", problems, expected, f"{len(batches)} agencies' batches full")


def assert_full_batches(events: EventLog, max_amount: int) -> dict[int, list[int]]:
    """Every agency's batches carry ``max_amount`` bets each except its last (1..max_amount).
    Returns the batch sizes per agency."""
    verdict = check_full_batches(events, max_amount)
    assert_passed(verdict, "batches are not full:\n  " + _problem_lines(verdict))
    return events.batches_by_agency()
