"""Exercise 7: each agency gets its own winners, after exactly one draw that follows every batch."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from harness.check import lottery
from harness.check.context import (
    Check,
    CheckContext,
    contract_problems,
    wait_clients,
)
from harness.check.inputs import AgencyFile, edit_client_config, write_agency
from harness.check.lines import Line, RunLog, shown, stamp_seconds
from harness.check.lottery import MAX_AMOUNT, ORDER_TOLERANCE, batches, client_services, wait_for_total
from harness.verdicts import Verdict, judge


def before(first: Line, second: Line) -> bool:
    """``first`` was logged before ``second``: exactly within one container's log, by more than the
    engine's stamping jitter across two containers."""
    if first.service == second.service:
        return first.stamp < second.stamp
    return stamp_seconds(second.stamp) - stamp_seconds(first.stamp) > ORDER_TOLERANCE


def winner_verdicts(
    exercise: str, name: str, log: RunLog, written: Sequence[AgencyFile], problems: list[str]
) -> list[Verdict]:
    """Per agency the planted count; one draw; no answer before it, no bet stored after it."""
    expected_counts = {f"client{file.agency}": len(file.winners) for file in written}
    answers = {service: log.find("consulta_ganadores", "success", service=service) for service in expected_counts}
    wrong: list[str] = []
    for service, want in expected_counts.items():
        counts = [line.int_field("cant_ganadores") for line in answers[service]]
        if not counts:
            wrong.append(f"{service}: no `consulta_ganadores | result: success` line (expected cant_ganadores: {want})")
        elif counts[-1] != want:
            wrong.append(f"{service}: cant_ganadores {counts[-1]}, expected {want}")
    total_winners = sum(expected_counts.values())
    if wrong and all(
        answers[s] and answers[s][-1].int_field("cant_ganadores") == total_winners for s in expected_counts
    ):
        wrong.append(f"every agency got all {total_winners} winners: the answer is a broadcast, not per agency")
    counts_evidence = shown(line for lines in answers.values() for line in lines[-1:])
    expected_text = ", ".join(f"{s}: {n}" for s, n in expected_counts.items())
    verdicts = [
        judge(
            exercise,
            f"{name}: winners",
            problems + wrong,
            f"cant_ganadores {expected_text}",
            f"every agency got its own count ({total_winners} winners in all)",
            counts_evidence,
        )
    ]

    draws = log.find("sorteo", "success", service="server")
    order: list[str] = []
    if len(draws) != 1:
        order.append(f"{len(draws)} `sorteo | result: success` lines, expected exactly 1")
    if draws:
        draw = draws[0]
        early = [line for lines in answers.values() for line in lines if before(line, draw)]
        if early:
            order.append(f"{len(early)} winners answer(s) logged before the draw")
        late = [line for line in batches(log) if before(draw, line)]
        if late:
            order.append(f"{len(late)} batch(es) stored after the draw: it came before every agency had finished")
        order_evidence = shown([draw, *early[:3], *late[:3]])
    else:
        order_evidence = shown(log.events()[-6:])
    verdicts.append(
        judge(
            exercise,
            f"{name}: draw",
            order,
            "one sorteo, after the last apuesta_recibida and before every consulta_ganadores success",
            f"one sorteo, {len(batches(log))} batches before it, {sum(map(len, answers.values()))} answers after it",
            order_evidence,
        )
    )
    line_problems, line_evidence = contract_problems(log.lines)
    verdicts.append(
        judge(
            exercise,
            f"{name}: log lines",
            line_problems,
            "result words success/fail/in_progress only, and no fail",
            f"{len(log.events())} event lines, all success or in_progress",
            line_evidence,
        )
    )
    return verdicts


def winners_run(ctx: CheckContext, exercise: str, winners: Mapping[int, int], rows: int) -> list[Verdict]:
    """Every agency but the last runs; once the server stored all their bets, the last one starts.
    A draw (or an answer) before the last agency's bets is then plainly before, not a close call."""
    name = f"{len(winners)} agencies"
    last = f"client{max(winners)}"
    with ctx.tree() as tree:
        images = ctx.images(tree)
        written = [write_agency(tree / ".data", agency, rows, count) for agency, count in winners.items()]
        edit_client_config(tree, {"batch.maxAmount": MAX_AMOUNT})
        problems: list[str] = []
        with ctx.run(tree, images, len(winners), name, deferred=[last]) as run:
            first_total = rows * (len(winners) - 1)
            if not wait_for_total(run, first_total, lottery.WINNERS_TIMEOUT):
                problems.append(f"the server did not store the first {len(winners) - 1} agencies' {first_total} bets")
            run.cluster.start(last)
            _, waited = wait_clients(run, client_services(len(winners)), lottery.WINNERS_TIMEOUT)
            log = run.log()
    return winner_verdicts(exercise, name, log, written, problems + waited)


CHECKS: list[Check] = [
    Check(
        "ej7",
        "3 agencies",
        "each agency gets its own winners, after one draw",
        functools.partial(winners_run, exercise="ej7", winners={1: 2, 2: 0, 3: 1}, rows=120),
    ),
    Check(
        "ej7",
        "5 agencies",
        "each agency gets its own winners, after one draw",
        functools.partial(winners_run, exercise="ej7", winners={1: 1, 2: 3, 3: 0, 4: 2, 5: 1}, rows=120),
    ),
]
