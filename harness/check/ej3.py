"""Exercise 3: their ``validar-echo-server.sh`` against a running, a garbage-answering and a stopped server."""

from __future__ import annotations

import configparser
import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.check.context import (
    Check,
    CheckContext,
    wait_for_any_line,
)
from harness.check.dockershim import SHIM_ENV, install_shim, shim_settings
from harness.check.ej4 import GRACE, START_TIMEOUT
from harness.check.lines import parse_contract_line
from harness.check.safecompose import shell_command
from harness.check.scriptimages import images_run_by
from harness.images import ensure_base_image
from harness.probe import impostor_server
from harness.standins import StandIn, StandInError, ensure_run_image
from harness.standins.fromlines import normalise
from harness.standins.kinds import Report
from harness.verdicts import Verdict, judge

PROBE_SCRIPT = "validar-echo-server.sh"
PROBE_TIMEOUT = 60
PROBE_LINE = "test_echo_server"
PROBE_EVIDENCE_LINES = 8  # the end of its output (the whole of it is saved with --artifacts)


@dataclass(frozen=True)
class ProbeOutcome:
    result: str | None  # the result word of its test_echo_server line; None when it printed none
    exit_code: int | None
    output: list[str]

    def evidence(self, label: str) -> list[str]:
        shown = self.output[-PROBE_EVIDENCE_LINES:]
        return [f"{label}: exit {self.exit_code}", *(f"{PROBE_SCRIPT} | {line}" for line in shown)]


def _run_probe_script(tree: Path, shim: Path, settings: str) -> ProbeOutcome:
    script = tree / PROBE_SCRIPT
    command = shell_command(script)
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


def _provide_images(images: list[str], script: Path, report: Report) -> tuple[list[StandIn], list[str]]:
    """The images its ``docker run`` lines name, present or stood in; (stand-ins used, why each
    image that cannot be had here is missing). The probe runs either way: the script may build one."""
    standins: list[StandIn] = []
    unavailable: list[str] = []
    for image in images:
        try:
            standin = ensure_run_image(image, script, report)
        except StandInError as exc:
            unavailable.append(str(exc))
        else:
            standins += [standin] if standin is not None else []
    return standins, unavailable


def probe_problem(
    outcome: ProbeOutcome, want: str, situation: str, standins: list[StandIn], unavailable: list[str]
) -> list[str]:
    if outcome.result == want:
        return []
    said = f"said {outcome.result}" if outcome.result else f"printed no `action: {PROBE_LINE}` line"
    problem = f"against {situation} the script {said}, expected {want}"
    if standins:  # the real image may hold what the stand-in lacks (a package manager, nc's options)
        used = "; ".join(f"{standin.image} as {standin.description}" for standin in standins)
        problem += f" (it ran offline stand-ins, none could be pulled: {used})"
    if unavailable:
        problem += f" (an image it runs could not be had here: {'; '.join(unavailable)})"
    return [problem]


def _server_port(tree: Path) -> int:
    parser = configparser.ConfigParser()
    with contextlib.suppress(OSError, configparser.Error):
        parser.read(tree / "server" / "config.ini", encoding="utf-8")
    try:
        return int(parser["DEFAULT"].get("SERVER_PORT", "12345"))
    except ValueError:
        return 12345


def _network_names(document: dict[str, Any]) -> set[str]:
    """What their script may call their network: ``testing_net``, ``tp0_testing_net`` (compose's
    ``<project>_<key>``, the project from the file's ``name:``) or the network's own ``name:``."""
    project = str(document.get("name") or "")
    found: set[str] = set()
    for key, spec in (document.get("networks") or {}).items():
        found.add(str(key))
        if project:
            found.add(f"{project}_{key}")
        if isinstance(spec, dict) and spec.get("name"):
            found.add(str(spec["name"]))
    return found


def check_echo_probe(ctx: CheckContext) -> list[Verdict]:
    """Their validar-echo-server.sh: success against their running server, fail against a stopped
    one and against a server that answers garbage; their compose publishes no port."""
    with ctx.tree() as tree:
        if not (tree / PROBE_SCRIPT).is_file():
            return [Verdict("ej3", "probe script", False, f"{PROBE_SCRIPT} at the repository root", "it is missing")]
        script_text = (tree / PROBE_SCRIPT).read_text(encoding="utf-8", errors="replace")
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
            names |= {course_name: network_name for course_name in _network_names(run.generated.document)}

            theirs = {normalise(name) for name in names}
            run_images = [image for image in images_run_by(script_text) if normalise(image) not in theirs]
            standins, unavailable = _provide_images(run_images, tree / PROBE_SCRIPT, ctx.report)

            def probe(server_name: str, label: str) -> ProbeOutcome:
                mapped = {**names, "server": server_name}
                settings = shim_settings(
                    names=mapped,
                    network=network_name,
                    labels=run.labels_of_run,
                    project=run.cluster.project,
                    compose_file=run.cluster.compose_file,
                )
                outcome = _run_probe_script(tree, shim, settings)
                if run.artifacts is not None:
                    run.artifacts.mkdir(parents=True, exist_ok=True)
                    (run.artifacts / f"probe-{label}.out").write_text("".join(f"{line}\n" for line in outcome.output))
                return outcome

            server_name = containers["server"].name
            running = probe(server_name, "running")
            run.cluster.stop("server", grace=int(GRACE))
            impostor_name = f"{run.cluster.project}-impostor"
            with impostor_server(
                run.run_id, alias="server", port=_server_port(tree), image=ensure_base_image().tag, name=impostor_name
            ):
                garbage = probe(impostor_name, "garbage")
            stopped = probe(server_name, "stopped")
    verdicts = [
        judge(
            "ej3",
            "probe: running server",
            probe_problem(running, "success", "their running server", standins, unavailable),
            "`action: test_echo_server | result: success`",
            "success",
            running.evidence("running server"),
        ),
        judge(
            "ej3",
            "probe: garbage answer",
            probe_problem(garbage, "fail", "a server that answers garbage", standins, unavailable),
            "`action: test_echo_server | result: fail`",
            "fail",
            garbage.evidence("garbage server"),
        ),
        judge(
            "ej3",
            "probe: stopped server",
            probe_problem(stopped, "fail", "a stopped server", standins, unavailable),
            "`action: test_echo_server | result: fail`",
            "fail",
            stopped.evidence("stopped server"),
        ),
        judge(
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
        "ej3",
        "probe script",
        "validar-echo-server.sh tells a working echo server from a stopped one and from garbage",
        check_echo_probe,
    )
]
