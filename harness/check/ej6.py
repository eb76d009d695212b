"""Exercise 6: an agency file in batches of at most batch.maxAmount bets and 8 kB, every bet stored."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from harness.check.context import (
    Check,
    CheckContext,
    contract_problems,
    wait_clients,
)
from harness.check.inputs import AgencyFile, edit_client_config, write_agency
from harness.check.lines import RunLog, shown
from harness.check.lottery import BATCH_TIMEOUT, MAX_AMOUNT, MAX_FRAME_BYTES, batches, client_services, wait_for_total
from harness.verdicts import Verdict, judge

CLIENT_TAIL_LINES = 3


def _batch_run(
    ctx: CheckContext, name: str, files: Sequence[tuple[int, bool]], max_amount: int, timeout: float
) -> tuple[RunLog, list[AgencyFile], list[str]]:
    """Agency files (rows, long names), ``batch.maxAmount``, every client run to its end."""
    with ctx.tree() as tree:
        images = ctx.images(tree)
        written = [
            write_agency(tree / ".data", agency, rows, long_names=long_names)
            for agency, (rows, long_names) in enumerate(files, start=1)
        ]
        edit_client_config(tree, {"batch.maxAmount": max_amount})
        with ctx.run(tree, images, len(files), name) as run:
            _, problems = wait_clients(run, client_services(len(files)), timeout)
            total = sum(file.rows for file in written)
            wait_for_total(run, total)
            log = run.log()
    return log, written, problems


def check_batch_total(ctx: CheckContext, *, rows: int, long_names: bool = False) -> list[Verdict]:
    name = f"{rows} long-name bets" if long_names else f"total {rows}"
    log, (written,), problems = _batch_run(ctx, name, [(rows, long_names)], MAX_AMOUNT, BATCH_TIMEOUT)
    received = batches(log)
    stored = [line for line in received if line.matches("apuesta_recibida", "success")]
    refused = [line for line in received if line.matches("apuesta_recibida", "fail")]
    sizes = [line.int_field("cantidad") or 0 for line in stored]
    if refused:
        problems.append(f"{len(refused)} batch(es) refused (`apuesta_recibida | result: fail`)")
    if sum(sizes) != rows:
        lost = rows - sum(sizes)
        problems.append(
            f"cantidad values add up to {sum(sizes)}, the file has {rows} rows"
            + (f": {lost} bet(s) never stored" if lost > 0 else "")
        )
    too_big = [size for size in sizes if size > MAX_AMOUNT]
    if too_big:
        problems.append(f"batches of {too_big} bets, over batch.maxAmount = {MAX_AMOUNT}")
    oversized = _over_frame_limit(sizes, written.bet_bytes)
    if oversized:
        problems.append(
            f"batch(es) {oversized} carried more than {MAX_FRAME_BYTES} bytes of bet fields: frames over 8 kB"
        )
    if not long_names and any(size != MAX_AMOUNT for size in sizes[:-1]):
        problems.append(f"a batch before the last is not full ({MAX_AMOUNT}): {sizes}")
    line_problems, line_evidence = contract_problems(log.lines)
    problems += line_problems
    evidence = line_evidence + shown(received[-4:] if not problems else received[-8:])
    if sum(sizes) < rows:  # what the client said last tells why (a file it could not read...)
        evidence += shown(log.of("client1")[-CLIENT_TAIL_LINES:])
    if long_names:
        expected = (
            f"{rows} bets of ~450 bytes each delivered in frames of at most 8 kB (fewer than {MAX_AMOUNT} a batch)"
        )
    else:
        expected = f"cantidad values adding up to {rows}, every batch but the last holding {MAX_AMOUNT}"
    seen = f"{len(sizes)} batches: {_summary(sizes)}"
    return [judge("ej6", name, problems, expected, seen, evidence)]


def _over_frame_limit(sizes: Sequence[int], bet_bytes: Sequence[int]) -> list[int]:
    """The batches (1-based) whose bets, taken in file order, hold more field bytes than a frame
    can: whatever the encoding, such a batch went out in a frame over 8 kB."""
    over = []
    start = 0
    for number, size in enumerate(sizes, start=1):
        if sum(bet_bytes[start : start + size]) > MAX_FRAME_BYTES:
            over.append(number)
        start += size
    return over


def _summary(sizes: Sequence[int]) -> str:
    if len(sizes) <= 6:
        return ", ".join(map(str, sizes)) + f" (sum {sum(sizes)})"
    return f"{sizes[0]}, {sizes[1]}, ..., {sizes[-2]}, {sizes[-1]} (sum {sum(sizes)})"


CHECKS: list[Check] = [
    *(
        Check(
            "ej6",
            f"total {rows}",
            f"{rows} bets arrive in full batches of batch.maxAmount",
            functools.partial(check_batch_total, rows=rows),
        )
        for rows in (1, MAX_AMOUNT - 1, MAX_AMOUNT, MAX_AMOUNT + 1, 3 * MAX_AMOUNT + 1, 2_000)
    ),
    Check(
        "ej6",
        "long names",
        "the 8 kB frame limit, not batch.maxAmount, cuts batches of long UTF-8 names, and every bet arrives",
        functools.partial(check_batch_total, rows=300, long_names=True),
    ),
]
