"""Exercise 1: their ``generar-compose.sh OUTPUT N`` writes the server and N clients, a valid compose file."""

from __future__ import annotations

import functools

from harness.check.context import (
    Check,
    CheckContext,
)
from harness.check.run import GeneratorFailed
from harness.check.safecompose import CLIENT_SERVICE, SERVER_SERVICE, generate
from harness.compose_command import ComposeCommandError, run_compose
from harness.verdicts import Verdict, judge

COMPOSE_CONFIG_TIMEOUT = 30


def _compose_config(compose_file: str, cwd: str) -> str | None:
    """None when ``docker compose config`` accepts the file, else what it said."""
    try:
        run_compose(["docker", "compose", "-f", compose_file, "config", "--quiet"], cwd, COMPOSE_CONFIG_TIMEOUT)
    except ComposeCommandError as exc:
        return str(exc)
    return None


def check_generator(ctx: CheckContext, *, clients: int) -> list[Verdict]:
    """``generar-compose.sh OUT N``: a server and client1..N, container names the same, and a
    file ``docker compose config`` accepts."""
    name = f"N={clients}"
    with ctx.tree() as tree:
        generated = generate(tree, clients)
        if not generated.ok or generated.document is None:
            raise GeneratorFailed(generated)
        services = generated.document["services"]
        expected = [SERVER_SERVICE, *(f"client{number}" for number in range(1, clients + 1))]
        problems: list[str] = []
        missing = [service for service in expected if service not in services]
        extra = [s for s in services if s not in expected and (s == SERVER_SERVICE or CLIENT_SERVICE.match(s))]
        if missing:
            problems.append(f"services {missing} missing")
        if extra:
            problems.append(f"unexpected services {extra}")
        misnamed = {
            service: (services[service] or {}).get("container_name")
            for service in expected
            if service in services and (services[service] or {}).get("container_name") != service
        }
        if misnamed:
            problems.append(f"container names differ from the service names: {misnamed}")
        rejected = _compose_config(generated.path.name, str(tree))
        if rejected is not None:
            problems.append("`docker compose config` rejects the file")
        evidence = [f"services: {', '.join(services)}"] + ([rejected] if rejected else [])
        if generated.output.strip():
            evidence.append(f"generar-compose.sh | {generated.output.strip().splitlines()[-1]}")
    return [
        judge(
            "ej1",
            name,
            problems,
            f"services and container names {', '.join(expected[:4])}{'...' if clients > 3 else ''}; valid compose",
            f"{len(services)} services, valid",
            evidence,
        )
    ]


CHECKS: list[Check] = [
    Check(
        "ej1",
        f"N={clients}",
        f"the generator writes a server and {clients} clients",
        functools.partial(check_generator, clients=clients),
    )
    for clients in (0, 1, 3, 10)
]
