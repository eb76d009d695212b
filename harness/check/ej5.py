"""Exercise 5: one bet from the environment, sent by the client and stored by the server."""

from __future__ import annotations

from harness.check.context import (
    Check,
    CheckContext,
    contract_problems,
    wait_clients,
    wait_for_line,
)
from harness.check.lines import shown
from harness.check.lottery import BET_TIMEOUT, ENV_BET, LINE_TIMEOUT
from harness.verdicts import Verdict, judge


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
    return [judge("ej5", "env bet", problems, expected, "both lines, same dni and numero", evidence)]


CHECKS: list[Check] = [
    Check("ej5", "env bet", "a bet from the environment is sent and stored with its dni and numero", check_env_bet)
]
