"""Runs checks (several at once), turning every outcome, exceptions included, into verdicts."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from harness.check import ej1, ej2, ej3, ej4, ej5, ej6, ej7, ej8
from harness.check.context import Check, CheckContext
from harness.check.run import GeneratorFailed
from harness.check.sut import EXERCISES, Sut
from harness.cluster_errors import ClusterError
from harness.engine import EngineUnavailable
from harness.images import ImageError
from harness.verdicts import Verdict

ALL_CHECKS: list[Check] = [check for module in (ej1, ej2, ej3, ej4, ej5, ej6, ej7, ej8) for check in module.CHECKS]
OUTPUT_LINES = 15


def select(exercises: Iterable[str] | None = None, name_pattern: str | None = None) -> list[Check]:
    """The checks of ``exercises`` (all when None) whose ``exercise/name`` matches ``name_pattern``."""
    wanted = list(exercises) if exercises else list(EXERCISES)
    unknown = sorted(set(wanted) - set(EXERCISES))
    if unknown:
        raise ValueError(f"unknown exercise(s) {unknown}: choose among {', '.join(EXERCISES)}")
    pattern = re.compile(name_pattern) if name_pattern else None
    return [
        check for check in ALL_CHECKS if check.exercise in wanted and (pattern is None or pattern.search(check.key))
    ]


def _failure(check: Check, expected: str, seen: str, evidence: list[str]) -> list[Verdict]:
    return [Verdict(check.exercise, check.name, False, expected, seen, evidence)]


def run_check(check: Check, ctx: CheckContext) -> list[Verdict]:
    """The check's verdicts; a failing generator, build or engine call is a failed verdict, not a traceback."""
    started = time.monotonic()
    try:
        verdicts = check.run(ctx)
    except GeneratorFailed as exc:
        generated = exc.generated
        output = generated.output.strip().splitlines()[-OUTPUT_LINES:] or ["(no output)"]
        verdicts = _failure(
            check,
            f"`./generar-compose.sh OUTPUT {generated.clients}` writes a compose file",
            str(exc),
            [f"generar-compose.sh | {line}" for line in output],
        )
        verdicts[0].exercise = "ej1" if check.exercise != "ej1" else check.exercise
        verdicts[0].check = f"generator ({check.key})" if check.exercise != "ej1" else check.name
    except ImageError as exc:
        lines = str(exc).splitlines()
        verdicts = _failure(check, "server/Dockerfile and client/Dockerfile build", lines[0], lines[1:])
    except (ClusterError, EngineUnavailable, OSError, ValueError, RuntimeError) as exc:
        lines = str(exc).splitlines()
        verdicts = _failure(check, check.proves, f"{type(exc).__name__}: {lines[0] if lines else ''}", lines[1:])
    elapsed = time.monotonic() - started
    for verdict in verdicts:
        verdict.seconds = elapsed
    return verdicts


def run_checks(
    sut: Sut,
    checks: list[Check],
    *,
    workers: int = 1,
    artifacts: Path | None = None,
    build_args: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    report: Callable[[str], None] = lambda _: None,
    on_start: Callable[[Check], None] = lambda _: None,
    on_done: Callable[[Check, list[Verdict]], None] = lambda _check, _verdicts: None,
) -> list[Verdict]:
    """Every check's verdicts, in the order of ``checks``; ``workers`` checks run at once."""
    workdir = Path(tempfile.mkdtemp(prefix="harness-check-"))
    results: dict[int, list[Verdict]] = {}

    def one(index: int, check: Check) -> list[Verdict]:
        on_start(check)
        ctx = CheckContext(
            sut=sut,
            exercise=check.exercise,
            workdir=workdir / f"{index:02d}",
            artifacts=artifacts,
            build_args=dict(build_args or {}),
            report=report,
            labels=dict(labels or {}),
        )
        verdicts = run_check(check, ctx)
        on_done(check, verdicts)
        return verdicts

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {pool.submit(one, index, check): index for index, check in enumerate(checks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return [verdict for index in sorted(results) for verdict in results[index]]
