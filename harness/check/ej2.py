"""Exercise 2: edited config files take effect on the next ``up``, with the same images."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from harness.check.build import SutImages
from harness.check.context import (
    Check,
    CheckContext,
    wait_clients,
    wait_for_any_line,
)
from harness.check.inputs import edit_client_config, edit_server_config, write_agency
from harness.check.lines import RunLog, shown
from harness.verdicts import Verdict, judge

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
    return [judge("ej2", case.name, problems, expected, seen, evidence)]


CHECKS: list[Check] = [
    Check("ej2", case.name, case.proves, functools.partial(check_config, case=case)) for case in CONFIG_CASES
]
