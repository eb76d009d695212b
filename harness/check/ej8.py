"""Exercise 8: agencies served in parallel: ten at once, and the others while one stalls mid-batch."""

from __future__ import annotations

import functools

from harness.check import lottery
from harness.check.context import (
    Check,
    CheckContext,
    wait_clients,
    wait_for_line,
)
from harness.check.ej7 import winner_verdicts, winners_run
from harness.check.inputs import edit_client_config, write_agency
from harness.check.lottery import MAX_AMOUNT, STALL_TIMEOUT, client_services, stored_batches
from harness.verdicts import Verdict, judge


def check_stalled_agency(
    ctx: CheckContext, agencies: int = 4, stalled_rows: int = 20_000, rows: int = 150
) -> list[Verdict]:
    """Agency 1 is paused mid-batch; the others start then, and the server must store all their
    bets while agency 1 holds its connection: it serves agencies in parallel."""
    name = "stalled agency"
    winners = {agency: agency % 3 for agency in range(1, agencies + 1)}
    others = client_services(agencies)[1:]
    others_total = rows * (agencies - 1)
    problems: list[str] = []
    with ctx.tree() as tree:
        images = ctx.images(tree)
        written = [write_agency(tree / ".data", 1, stalled_rows, winners[1])]
        written += [write_agency(tree / ".data", agency, rows, winners[agency]) for agency in range(2, agencies + 1)]
        edit_client_config(tree, {"batch.maxAmount": MAX_AMOUNT})
        with ctx.run(tree, images, agencies, name, deferred=others) as run:
            if wait_for_line(run, STALL_TIMEOUT, "apuesta_recibida", "success", service="server") is None:
                problems.append(f"the server stored no batch of agency 1 within {STALL_TIMEOUT}s")
            ended = run.exit_code("client1")
            if ended is not None:  # nothing left to stall: say how it ended instead of failing to pause
                last = run.cluster.hub.lines("client1")[-1:] or ["(no output)"]
                problems.append(f"client1 exited {ended} before it could be paused (its last line: {last[0].strip()})")
            else:
                run.cluster.pause("client1")
            batches_before = len(stored_batches(run))
            stored_before = sum(stored_batches(run))
            run.cluster.start(*others)
            reached = lottery.wait_for_total(run, stored_before + others_total, STALL_TIMEOUT)
            during = sum(stored_batches(run)) - stored_before
            if not reached:
                problems.append(
                    f"while agency 1 was paused mid-batch, the server stored {during} of the other agencies' "
                    f"{others_total} bets in {STALL_TIMEOUT}s: it does not serve agencies in parallel"
                )
            if ended is None:
                run.cluster.unpause("client1")
            _, waited = wait_clients(run, client_services(agencies), lottery.WINNERS_TIMEOUT)
            log = run.log()
    if stored_before >= stalled_rows:
        problems.append("agency 1 had sent all its bets before the pause: the stall did not land mid-run")
    evidence = [
        f"agency 1 paused after {batches_before} stored batch(es) ({stored_before} of its {stalled_rows} bets)",
        f"bets stored while it was paused: {during} (the other agencies have {others_total})",
    ]
    stall = judge(
        "ej8",
        name,
        problems,
        f"the other {agencies - 1} agencies' {others_total} bets stored while agency 1 stalls",
        f"{during} stored during the stall",
        evidence,
    )
    return [stall, *winner_verdicts("ej8", name, log, written, waited)]


TEN_AGENCIES = {agency: agency % 4 for agency in range(1, 11)}
CHECKS: list[Check] = [
    Check(
        "ej8",
        "10 agencies",
        "ten agencies at once, each with its own winners",
        functools.partial(winners_run, exercise="ej8", winners=TEN_AGENCIES, rows=150),
    ),
    Check(
        "ej8", "stalled agency", "the server serves the others while one agency stalls mid-batch", check_stalled_agency
    ),
]
