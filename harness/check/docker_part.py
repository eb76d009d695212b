"""Checks of the Docker exercises (1-4): the compose generator, config volumes, the echo probe
script and graceful shutdown, from the contract alone."""

from __future__ import annotations

import configparser
import contextlib
import functools
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from docker.errors import APIError
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from harness.check.build import SutImages
from harness.check.context import (
    Check,
    CheckContext,
    contract_problems,
    now_stamp,
    wait_clients,
    wait_for_any_line,
)
from harness.check.dockershim import SHIM_ENV, install_shim, shim_settings
from harness.check.inputs import edit_client_config, edit_server_config, write_agency
from harness.check.lines import RunLog, parse_contract_line
from harness.check.run import GeneratorFailed, SutRun
from harness.check.safecompose import CLIENT_SERVICE, SERVER_SERVICE, generate
from harness.check.verdict import Verdict, shown, verdict
from harness.compose_command import ComposeCommandError, run_compose
from harness.images import ensure_base_image
from harness.logstream import sortable_timestamp
from harness.probe import impostor_server

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
        verdict(
            "ej1",
            name,
            problems,
            f"services and container names {', '.join(expected[:4])}{'...' if clients > 3 else ''}; valid compose",
            f"{len(services)} services, valid",
            evidence,
        )
    ]


# -- ej4: graceful shutdown ------------------------------------------------------------------

GRACE = 5.0  # seconds between SIGTERM and the verdict "did not exit in time" (the course's `-t`)
START_TIMEOUT = 30
RESIGNAL_EVERY = 1.0
BUSY_LOOP = {"loop.amount": 100_000, "loop.period": "100ms"}
BUSY_ROWS = 3_000


@dataclass(frozen=True)
class Stopped:
    service: str
    code: int | None  # None: still running after GRACE (then killed)
    seconds: float
    stamp: str  # when the SIGTERM was sent, as an engine stamp
    exited_before: bool = False  # it had already ended when the signal was sent


def sigterm(run: SutRun, service: str, grace: float = GRACE) -> Stopped:
    """SIGTERM ``service`` and wait ``grace`` s for its exit code (the engine's); SIGKILL after.

    The SIGTERM is repeated every RESIGNAL_EVERY s until the exit: a container's PID 1 ignores a
    signal it has no handler for yet, so one sent just before the program installs its handler
    (e.g. right after its first log line) would be lost, and the check would blame the program."""
    container = run.cluster.container(service)
    stamp = now_stamp()
    started = time.monotonic()
    deadline = started + grace
    code: int | None = None
    while code is None:
        with contextlib.suppress(APIError):  # it may have exited meanwhile
            container.kill(signal="SIGTERM")
        remaining = deadline - time.monotonic()
        try:
            code = int(container.wait(timeout=max(0.01, min(RESIGNAL_EVERY, remaining)))["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            if remaining <= RESIGNAL_EVERY:
                break
    if code is None:
        with contextlib.suppress(APIError):
            container.kill(signal="SIGKILL")
    seconds = time.monotonic() - started
    container.reload()
    finished = str(container.attrs.get("State", {}).get("FinishedAt", ""))
    exited_before = code is not None and bool(finished) and sortable_timestamp(finished) < stamp
    return Stopped(service, code, seconds, stamp, exited_before)


def _busy_tree(tree: Path, clients: int) -> None:
    """Agencies with enough to do, and an echo loop long enough, to be mid-loop when signalled."""
    for agency in range(1, clients + 1):
        write_agency(tree / ".data", agency, BUSY_ROWS)
    edit_client_config(tree, BUSY_LOOP)


def _shutdown_verdict(name: str, run: SutRun, stopped: list[Stopped], running_before: list[str]) -> Verdict:
    log = run.log()
    problems: list[str] = []
    evidence: list[str] = []
    for stop in stopped:
        if stop.exited_before:
            problems.append(f"{stop.service} had already exited ({stop.code}) before the SIGTERM")
        elif stop.code is None:
            problems.append(f"{stop.service} did not exit within {GRACE:.0f}s of SIGTERM (killed)")
        elif stop.code != 0:
            problems.append(f"{stop.service} exited {stop.code} on SIGTERM, expected 0")
        evidence.append(
            f"{stop.service}: SIGTERM -> "
            + ("no exit" if stop.code is None else f"exit {stop.code}")
            + f" after {stop.seconds:.2f}s"
        )
        tail = log.of(stop.service)[-2:]
        evidence += shown(tail)
    first_signal = min(stop.stamp for stop in stopped)
    before = [line for line in log.lines if line.stamp < first_signal]
    line_problems, line_evidence = contract_problems(before)
    problems += [f"before the stop: {problem}" for problem in line_problems]
    broken_after = [line for line in log.broken() if line.stamp >= first_signal]
    if broken_after:
        problems.append(f"after the stop, line(s) that break the log contract: {broken_after[0].broken}")
        line_evidence += shown(broken_after[:3])
    problems += [f"{service} was not running when signalled" for service in running_before]
    expected = f"exit 0 within {GRACE:.0f}s of SIGTERM; no `result: fail` before it"
    seen = "; ".join(evidence[:1]) if not problems else ""
    return verdict("ej4", name, problems, expected, seen, line_evidence + evidence)


def _not_running(run: SutRun, services: list[str]) -> list[str]:
    return [service for service in services if run.exit_code(service) is not None]


def check_sigterm_client(ctx: CheckContext) -> list[Verdict]:
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, 2)
        with ctx.run(tree, images, 2, "sigterm-client", deferred=["client2"]) as run:
            wait_for_any_line(run, "client1", START_TIMEOUT)
            idle = _not_running(run, ["client1"])
            stopped = [sigterm(run, "client1")]
            return [_shutdown_verdict("client mid-loop", run, stopped, idle)]


def check_sigterm_server(ctx: CheckContext, *, with_clients: bool) -> list[Verdict]:
    clients = 2 if with_clients else 0
    name = "server with clients" if with_clients else "server without clients"
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, clients)
        with ctx.run(tree, images, clients, name, deferred=["client2"] if with_clients else ()) as run:
            wait_for_any_line(run, "client1" if with_clients else "server", START_TIMEOUT)
            idle = _not_running(run, ["server"])
            stopped = [sigterm(run, "server")]
            return [_shutdown_verdict(name, run, stopped, idle)]


def check_sigterm_all(ctx: CheckContext) -> list[Verdict]:
    """``docker compose down -t G``'s order: the clients (at once), then the server."""
    with ctx.tree() as tree:
        images = ctx.images(tree)
        _busy_tree(tree, 3)
        with ctx.run(tree, images, 3, "sigterm-all", deferred=["client3"]) as run:
            for service in ("client1", "client2"):
                wait_for_any_line(run, service, START_TIMEOUT)
            idle = _not_running(run, ["server", "client1", "client2"])
            with ThreadPoolExecutor(max_workers=2) as pool:
                stopped = list(pool.map(lambda service: sigterm(run, service), ["client1", "client2"]))
            stopped.append(sigterm(run, "server"))
            return [_shutdown_verdict("all", run, stopped, idle)]


# -- ej2: config files through volumes -------------------------------------------------------

CONFIG_TIMEOUT = 60
CONFIG_ROWS = 60


@dataclass(frozen=True)
class ConfigCase:
    name: str
    proves: str
    client_before: dict[str, object]
    client_after: dict[str, object]
    server_before: dict[str, object]
    server_after: dict[str, object]


CONFIG_CASES = [
    ConfigCase(
        "batch.maxAmount",
        "an edited batch.maxAmount sets the batch size on the next up, without a rebuild",
        {"batch.maxAmount": 10},
        {"batch.maxAmount": 25},
        {},
        {},
    ),
    ConfigCase(
        "log level",
        "edited LOGGING_LEVEL and log.level (INFO -> ERROR) silence the INFO lines on the next up",
        {"log.level": "INFO"},
        {"log.level": "ERROR"},
        {"LOGGING_LEVEL": "INFO"},
        {"LOGGING_LEVEL": "ERROR"},
    ),
    ConfigCase(
        "loop settings",
        "an edited loop.amount sets how many messages the echo client sends on the next up",
        {"loop.amount": 3, "loop.period": "100ms"},
        {"loop.amount": 2, "loop.period": "100ms"},
        {},
        {},
    ),
]


def _config_run(
    ctx: CheckContext, tree: Path, images: SutImages, name: str
) -> tuple[RunLog, dict[str, str], list[str]]:
    with ctx.run(tree, images, 1, name) as run:
        _, problems = wait_clients(run, ["client1"], CONFIG_TIMEOUT)
        wait_for_any_line(run, "server", 1)
        return run.log(), run.image_ids(), problems


def _config_effect(case: ConfigCase, before: RunLog, after: RunLog) -> tuple[list[str], str, list[str]] | None:
    """(problems, what was seen, evidence); None when the implementation has nothing to show it."""
    if case.name == "batch.maxAmount":
        sizes = [
            [line.int_field("cantidad") or 0 for line in log.find("apuesta_recibida", "success")]
            for log in (before, after)
        ]
        if not sizes[0]:
            return None
        want = (case.client_before["batch.maxAmount"], case.client_after["batch.maxAmount"])
        problems = [
            f"{label}: first batch of {found[0] if found else 'none'}, expected {expected}"
            for label, found, expected in zip(("before the edit", "after the edit"), sizes, want, strict=True)
            if not found or found[0] != expected
        ]
        return problems, f"first batch {sizes[0][0]} then {sizes[1][0] if sizes[1] else 'none'}", []
    if case.name == "log level":
        loud = [line for line in before.events() if line.event is not None and line.event.result == "success"]
        quiet = [line for line in after.events() if line.event is not None and line.event.result == "success"]
        problems = []
        for service in ("server", "client1"):
            if not any(line.service == service for line in loud):
                problems.append(f"{service} logged no success line at INFO")
            still = [line for line in quiet if line.service == service]
            if still:
                problems.append(f"{service} still logs {len(still)} success line(s) at ERROR")
        return problems, f"{len(loud)} success lines at INFO, {len(quiet)} at ERROR", shown(quiet[:4])
    echoes = [len(log.find("receive_message", "success", service="server")) for log in (before, after)]
    if not echoes[0] and not echoes[1]:
        return None
    want_counts = (case.client_before["loop.amount"], case.client_after["loop.amount"])
    problems = [
        f"{label}: {found} messages, expected loop.amount = {expected}"
        for label, found, expected in zip(("before the edit", "after the edit"), echoes, want_counts, strict=True)
        if found != expected
    ]
    return problems, f"{echoes[0]} then {echoes[1]} messages", []


def check_config(ctx: CheckContext, *, case: ConfigCase) -> list[Verdict]:
    with ctx.tree() as tree:
        images = ctx.images(tree)
        write_agency(tree / ".data", 1, CONFIG_ROWS)
        edit_client_config(tree, case.client_before)
        if case.server_before:
            edit_server_config(tree, case.server_before)
        before, images_before, problems = _config_run(ctx, tree, images, f"{case.name} before")
        edit_client_config(tree, case.client_after)
        if case.server_after:
            edit_server_config(tree, case.server_after)
        after, images_after, waited = _config_run(ctx, tree, images, f"{case.name} after")
    effect = _config_effect(case, before, after)
    expected = f"{case.proves}; the same image IDs"
    if effect is None:
        return [Verdict("ej2", case.name, True, expected, "not applicable: no line shows this setting", skipped=True)]
    effect_problems, seen, evidence = effect
    problems += waited + effect_problems
    if images_before != images_after:
        problems.append(f"image IDs changed between the runs: {images_before} -> {images_after}")
    evidence = [f"image IDs unchanged: {sorted(set(images_after.values()))}", *evidence]
    return [verdict("ej2", case.name, problems, expected, seen, evidence)]


# -- ej3: their echo-server probe script ------------------------------------------------------

PROBE_SCRIPT = "validar-echo-server.sh"
PROBE_TIMEOUT = 60
PROBE_LINE = "test_echo_server"


@dataclass(frozen=True)
class ProbeOutcome:
    result: str | None  # the result word of its test_echo_server line; None when it printed none
    exit_code: int | None
    output: list[str]

    def evidence(self, label: str) -> list[str]:
        return [f"{label}: exit {self.exit_code}", *(f"{PROBE_SCRIPT} | {line}" for line in self.output[-4:])]


def _run_probe_script(tree: Path, shim: Path, settings: str) -> ProbeOutcome:
    script = tree / PROBE_SCRIPT
    command = [str(script)] if os.access(script, os.X_OK) else ["bash", str(script)]
    environment = dict(os.environ)
    environment["PATH"] = os.pathsep.join([str(shim), environment.get("PATH", "")])
    environment[SHIM_ENV] = settings
    try:
        completed = subprocess.run(
            command,
            cwd=tree,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = (exc.output or b"").decode(errors="replace").splitlines()
        return ProbeOutcome(None, None, [*output, f"(did not finish within {PROBE_TIMEOUT}s)"])
    output = completed.stdout.decode(errors="replace").splitlines()
    results = [
        event.result
        for line in output
        if (event := parse_contract_line(line, "probe")) is not None and event.action == PROBE_LINE
    ]
    return ProbeOutcome(results[-1] if results else None, completed.returncode, output)


def _probe_problem(outcome: ProbeOutcome, want: str, situation: str) -> list[str]:
    if outcome.result == want:
        return []
    said = f"said {outcome.result}" if outcome.result else f"printed no `action: {PROBE_LINE}` line"
    return [f"against {situation} the script {said}, expected {want}"]


def _server_port(tree: Path) -> int:
    parser = configparser.ConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        parser.read(tree / "server" / "config.ini", encoding="utf-8")
    try:
        return int(parser["DEFAULT"].get("SERVER_PORT", "12345"))
    except ValueError:
        return 12345


def check_echo_probe(ctx: CheckContext) -> list[Verdict]:
    """Their validar-echo-server.sh: success against their running server, fail against a stopped
    one and against a server that answers garbage; their compose publishes no port."""
    with ctx.tree() as tree:
        if not (tree / PROBE_SCRIPT).is_file():
            return [Verdict("ej3", "probe script", False, f"{PROBE_SCRIPT} at the repository root", "it is missing")]
        images = ctx.images(tree)
        shim = install_shim(tree.parent / "shim-bin")
        with ctx.run(tree, images, 0, "echo-probe") as run:
            assert run.generated is not None and run.generated.document is not None and run.safe is not None
            original = run.generated.document["services"]
            published = {name: spec.get("ports") for name, spec in original.items() if (spec or {}).get("ports")}
            wait_for_any_line(run, "server", START_TIMEOUT)
            containers = run.cluster.containers()
            names = {
                str((spec or {}).get("container_name") or service): containers[service].name
                for service, spec in original.items()
                if service in containers
            }
            names |= {
                str((spec or {}).get("image")): run.safe.document["services"][service]["image"]
                for service, spec in original.items()
                if (spec or {}).get("image")
            }
            network = run.cluster.container("server").attrs["NetworkSettings"]["Networks"]
            network_name = next(iter(network))

            def probe(server_name: str) -> ProbeOutcome:
                mapped = {**names, "server": server_name}
                settings = shim_settings(names=mapped, network=network_name, labels=run.labels_of_run)
                return _run_probe_script(tree, shim, settings)

            server_name = containers["server"].name
            running = probe(server_name)
            run.cluster.stop("server", grace=int(GRACE))
            impostor_name = f"{run.cluster.project}-impostor"
            with impostor_server(
                run.run_id, alias="server", port=_server_port(tree), image=ensure_base_image().tag, name=impostor_name
            ):
                garbage = probe(impostor_name)
            stopped = probe(server_name)
    verdicts = [
        verdict(
            "ej3",
            "probe: running server",
            _probe_problem(running, "success", "their running server"),
            "`action: test_echo_server | result: success`",
            "success",
            running.evidence("running server"),
        ),
        verdict(
            "ej3",
            "probe: garbage answer",
            _probe_problem(garbage, "fail", "a server that answers garbage"),
            "`action: test_echo_server | result: fail`",
            "fail",
            garbage.evidence("garbage server"),
        ),
        verdict(
            "ej3",
            "probe: stopped server",
            _probe_problem(stopped, "fail", "a stopped server"),
            "`action: test_echo_server | result: fail`",
            "fail",
            stopped.evidence("stopped server"),
        ),
        verdict(
            "ej3",
            "no port published",
            [f"ports published: {published}"] if published else [],
            "no `ports` in the generated compose file (the probe runs inside the network)",
            "none",
            [],
        ),
    ]
    return verdicts


CHECKS: list[Check] = [
    Check(
        "ej1",
        f"N={clients}",
        f"the generator writes a server and {clients} clients",
        functools.partial(check_generator, clients=clients),
    )
    for clients in (0, 1, 3, 10)
] + [
    *(Check("ej2", case.name, case.proves, functools.partial(check_config, case=case)) for case in CONFIG_CASES),
    Check(
        "ej3",
        "probe script",
        "validar-echo-server.sh tells a working echo server from a stopped one and from garbage",
        check_echo_probe,
    ),
    Check(
        "ej4", "client mid-loop", "a client exits 0 on SIGTERM mid-loop, within the grace period", check_sigterm_client
    ),
    Check(
        "ej4",
        "server with clients",
        "the server exits 0 on SIGTERM while clients are connected",
        functools.partial(check_sigterm_server, with_clients=True),
    ),
    Check(
        "ej4",
        "server without clients",
        "the server exits 0 on SIGTERM with no client",
        functools.partial(check_sigterm_server, with_clients=False),
    ),
    Check("ej4", "all", "every container exits 0 when all are stopped (compose down -t)", check_sigterm_all),
]
