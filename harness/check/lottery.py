"""Checks of the Lotería Nacional exercises (5-8), from the contract's log lines and exit codes only."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from harness.check.context import Check, CheckContext, contract_problems, wait_clients, wait_for_line
from harness.check.inputs import AgencyFile, edit_client_config, write_agency
from harness.check.lines import Line, RunLog, parse_contract_line, stamp_seconds
from harness.check.run import SutRun
from harness.check.verdict import Verdict, shown, verdict

MAX_FRAME_BYTES = 8192  # the contract's frame limit
MAX_AMOUNT = 40  # batch.maxAmount the checks write: 40 plain bets fit an 8 kB frame with room to spare
BET_TIMEOUT = 60
BATCH_TIMEOUT = 120
WINNERS_TIMEOUT = 120
STALL_TIMEOUT = 30
LINE_TIMEOUT = 10
# The engine stamps each container's lines as it reads them: lines of two containers logged within
# a few milliseconds may be stamped in the other order. Ordering checks allow this much.
ORDER_TOLERANCE = 0.1
ENV_BET = {
    "NOMBRE": "Santiago Lionel",
    "APELLIDO": "Lorca",
    "DOCUMENTO": "30904465",
    "NACIMIENTO": "1999-03-17",
    "NUMERO": "7574",
}


def _clients(count: int) -> list[str]:
    return [f"client{number}" for number in range(1, count + 1)]


# -- ej5 --------------------------------------------------------------------------------------


def check_env_bet(ctx: CheckContext) -> list[Verdict]:
    """One bet from the environment: the client's ``apuesta_enviada`` and the server's
    ``apuesta_almacenada`` carry its dni and numero."""
    dni, numero = ENV_BET["DOCUMENTO"], ENV_BET["NUMERO"]
    with ctx.tree() as tree:
        images = ctx.images(tree)
        with ctx.run(tree, images, 1, "env-bet", environment={"client1": ENV_BET}) as run:
            _, problems = wait_clients(run, ["client1"], BET_TIMEOUT)
            wait_for_line(run, LINE_TIMEOUT, "apuesta_almacenada", "success", service="server", dni=dni)
            log = run.log()
    sent = log.find("apuesta_enviada", service="client1")
    stored = log.find("apuesta_almacenada", service="server")
    if not any(line.matches("apuesta_enviada", "success", dni=dni, numero=numero) for line in sent):
        problems.append(f"client1 logged no `apuesta_enviada | result: success | dni: {dni} | numero: {numero}`")
    if not any(line.matches("apuesta_almacenada", "success", dni=dni, numero=numero) for line in stored):
        problems.append(f"the server logged no `apuesta_almacenada | result: success | dni: {dni} | numero: {numero}`")
    line_problems, line_evidence = contract_problems(log.lines)
    problems += line_problems
    evidence = shown(sent + stored) + line_evidence or shown(log.events()[-8:])
    expected = f"apuesta_enviada and apuesta_almacenada with dni {dni}, numero {numero}; client exit 0"
    return [verdict("ej5", "env bet", problems, expected, "both lines, same dni and numero", evidence)]


# -- ej6 --------------------------------------------------------------------------------------


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
            _, problems = wait_clients(run, _clients(len(files)), timeout)
            total = sum(file.rows for file in written)
            _wait_for_total(run, total)
            log = run.log()
    return log, written, problems


def _wait_for_total(run: SutRun, total: int, timeout: float = LINE_TIMEOUT) -> bool:
    """Until the server's ``apuesta_recibida`` lines (from the start) add up to ``total``, at most
    ``timeout`` s (after a client's exit: its log may trail it); whether they did."""
    counted = 0

    def enough(service: str, text: str) -> bool:
        nonlocal counted
        event = parse_contract_line(text, service)
        if service == "server" and event is not None and event.matches("apuesta_recibida", "success"):
            counted += event.int_field("cantidad") or 0
        return counted >= total

    return run.cluster.hub.wait_for_line(enough, timeout) is not None


def _batches(log: RunLog) -> list[Line]:
    return log.find("apuesta_recibida", service="server")


def check_batch_total(ctx: CheckContext, *, rows: int, long_names: bool = False) -> list[Verdict]:
    name = f"{rows} long-name bets" if long_names else f"total {rows}"
    log, (written,), problems = _batch_run(ctx, name, [(rows, long_names)], MAX_AMOUNT, BATCH_TIMEOUT)
    batches = _batches(log)
    stored = [line for line in batches if line.matches("apuesta_recibida", "success")]
    refused = [line for line in batches if line.matches("apuesta_recibida", "fail")]
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
    evidence = line_evidence + shown(batches[-4:] if not problems else batches[-8:])
    if long_names:
        expected = (
            f"{rows} bets of ~450 bytes each delivered in frames of at most 8 kB (fewer than {MAX_AMOUNT} a batch)"
        )
    else:
        expected = f"cantidad values adding up to {rows}, every batch but the last holding {MAX_AMOUNT}"
    seen = f"{len(sizes)} batches: {_summary(sizes)}"
    return [verdict("ej6", name, problems, expected, seen, evidence)]


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


# -- ej7 / ej8 --------------------------------------------------------------------------------


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
        verdict(
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
        late = [line for line in _batches(log) if before(draw, line)]
        if late:
            order.append(f"{len(late)} batch(es) stored after the draw: it came before every agency had finished")
        order_evidence = shown([draw, *early[:3], *late[:3]])
    else:
        order_evidence = shown(log.events()[-6:])
    verdicts.append(
        verdict(
            exercise,
            f"{name}: draw",
            order,
            "one sorteo, after the last apuesta_recibida and before every consulta_ganadores success",
            f"one sorteo, {len(_batches(log))} batches before it, {sum(map(len, answers.values()))} answers after it",
            order_evidence,
        )
    )
    line_problems, line_evidence = contract_problems(log.lines)
    verdicts.append(
        verdict(
            exercise,
            f"{name}: log lines",
            line_problems,
            "result words success/fail/in_progress only, and no fail",
            f"{len(log.events())} event lines, all success or in_progress",
            line_evidence,
        )
    )
    return verdicts


def _winners_run(ctx: CheckContext, exercise: str, winners: Mapping[int, int], rows: int) -> list[Verdict]:
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
            if not _wait_for_total(run, first_total, WINNERS_TIMEOUT):
                problems.append(f"the server did not store the first {len(winners) - 1} agencies' {first_total} bets")
            run.cluster.start(last)
            _, waited = wait_clients(run, _clients(len(winners)), WINNERS_TIMEOUT)
            log = run.log()
    return winner_verdicts(exercise, name, log, written, problems + waited)


def check_stalled_agency(
    ctx: CheckContext, agencies: int = 4, stalled_rows: int = 20_000, rows: int = 150
) -> list[Verdict]:
    """Agency 1 is paused mid-batch; the others start then, and the server must store all their
    bets while agency 1 holds its connection: it serves agencies in parallel."""
    name = "stalled agency"
    winners = {agency: agency % 3 for agency in range(1, agencies + 1)}
    others = _clients(agencies)[1:]
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
            batches_before = len(_stored_batches(run))
            stored_before = sum(_stored_batches(run))
            run.cluster.start(*others)
            stored = 0

            def others_stored(service: str, text: str) -> bool:
                nonlocal stored
                event = parse_contract_line(text, service)
                if service == "server" and event is not None and event.matches("apuesta_recibida", "success"):
                    stored += event.int_field("cantidad") or 0
                return stored >= stored_before + others_total

            reached = run.cluster.hub.wait_for_line(others_stored, STALL_TIMEOUT)
            during = sum(_stored_batches(run)) - stored_before
            if reached is None:
                problems.append(
                    f"while agency 1 was paused mid-batch, the server stored {during} of the other agencies' "
                    f"{others_total} bets in {STALL_TIMEOUT}s: it does not serve agencies in parallel"
                )
            if ended is None:
                run.cluster.unpause("client1")
            _, waited = wait_clients(run, _clients(agencies), WINNERS_TIMEOUT)
            log = run.log()
    if stored_before >= stalled_rows:
        problems.append("agency 1 had sent all its bets before the pause: the stall did not land mid-run")
    evidence = [
        f"agency 1 paused after {batches_before} stored batch(es) ({stored_before} of its {stalled_rows} bets)",
        f"bets stored while it was paused: {during} (the other agencies have {others_total})",
    ]
    stall = verdict(
        "ej8",
        name,
        problems,
        f"the other {agencies - 1} agencies' {others_total} bets stored while agency 1 stalls",
        f"{during} stored during the stall",
        evidence,
    )
    return [stall, *winner_verdicts("ej8", name, log, written, waited)]


def _stored_batches(run: SutRun) -> list[int]:
    """``cantidad`` of each ``apuesta_recibida | result: success`` the server logged so far (live)."""
    sizes = []
    for text in run.cluster.hub.lines("server"):
        event = parse_contract_line(text, "server")
        if event is not None and event.matches("apuesta_recibida", "success"):
            sizes.append(event.int_field("cantidad") or 0)
    return sizes


CHECKS: list[Check] = [
    Check("ej5", "env bet", "a bet from the environment is sent and stored with its dni and numero", check_env_bet),
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
        lambda ctx: check_batch_total(ctx, rows=300, long_names=True),
    ),
    Check(
        "ej7",
        "3 agencies",
        "each agency gets its own winners, after one draw",
        lambda ctx: _winners_run(ctx, "ej7", {1: 2, 2: 0, 3: 1}, 120),
    ),
    Check(
        "ej7",
        "5 agencies",
        "each agency gets its own winners, after one draw",
        lambda ctx: _winners_run(ctx, "ej7", {1: 1, 2: 3, 3: 0, 4: 2, 5: 1}, 120),
    ),
    Check(
        "ej8",
        "10 agencies",
        "ten agencies at once, each with its own winners",
        lambda ctx: _winners_run(ctx, "ej8", {agency: agency % 4 for agency in range(1, 11)}, 150),
    ),
    Check(
        "ej8", "stalled agency", "the server serves the others while one agency stalls mid-batch", check_stalled_agency
    ),
]
