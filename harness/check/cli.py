"""``harness check [PATH]``: every contract check on a TP0 repository, with live progress, a table
of exercise x check, JUnit XML and the containers' logs; exit 0 only if everything passed.

``harness.cli.parser`` names ``cmd_check`` as the command's handler; it prints to ``harness.cli.console``.
"""

from __future__ import annotations

import argparse
import threading
import time

from rich.live import Live
from rich.table import Table

from harness.check.context import Check
from harness.check.junit import write_junit
from harness.check.runner import run_checks, select
from harness.check.sut import Sut
from harness.cli.console import console, report
from harness.engine import docker_client
from harness.verdicts import Verdict

EVIDENCE_WIDTH = 110


def _build_args(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise ValueError(f"--build-arg {pair!r}: expected KEY=VALUE")
        parsed[key] = value
    return parsed


def _short(text: str) -> str:
    return text if len(text) <= EVIDENCE_WIDTH else text[: EVIDENCE_WIDTH - 3] + "..."


def results_table(verdicts: list[Verdict], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("exercise", "check", "result", "evidence"):
        table.add_column(column, overflow="fold" if column == "evidence" else "ellipsis")
    for v in verdicts:
        style = {"pass": "green", "FAIL": "bold red", "skip": "yellow"}[v.status]
        evidence = v.seen if v.passed or not v.evidence else f"{v.seen} | {v.evidence[0]}"
        table.add_row(v.exercise, v.check, f"[{style}]{v.status}[/{style}]", _short(evidence))
    return table


def tree_sources(sut: Sut, checks: list[Check]) -> str:
    """Which tree each exercise is checked on: ``ej1 from ref origin/ej1, ...``."""
    by_source: dict[str, list[str]] = {}
    for exercise in sorted({check.exercise for check in checks}):
        by_source.setdefault(sut.source(exercise).describe(), []).append(exercise)
    return "; ".join(f"{', '.join(exercises)} from {source}" for source, exercises in by_source.items())


class Progress:
    """One line per check: waiting, running (seconds), or its outcome."""

    def __init__(self, checks: list[Check]) -> None:
        self.state = {check.key: "waiting" for check in checks}
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def start(self, check: Check) -> None:
        with self.lock:
            self.state[check.key] = "running"
            self.started[check.key] = time.monotonic()

    def done(self, check: Check, verdicts: list[Verdict]) -> None:
        failed = sum(1 for v in verdicts if not v.passed and not v.skipped)
        skipped = bool(verdicts) and all(v.skipped for v in verdicts)
        with self.lock:
            self.state[check.key] = f"FAIL ({failed})" if failed else ("skip" if skipped else "pass")

    def table(self) -> Table:
        table = Table(title="harness check", show_header=False, box=None)
        with self.lock:
            for key, state in self.state.items():
                if state == "running":
                    state = f"running {time.monotonic() - self.started[key]:.0f}s"
                table.add_row(key, state)
        return table


def cmd_check(args: argparse.Namespace) -> int:
    sut = Sut.at(args.path, args.sut_ref) if args.path else Sut.at(Sut().root, args.sut_ref)
    exercises = [e.strip() for e in args.exercises.split(",") if e.strip()] if args.exercises else None
    checks = select(exercises, args.pattern)
    if args.list:
        for check in checks:
            console.print(f"{check.key:<28} {check.proves}", markup=False)
        return 0
    if not checks:
        raise ValueError("no check matches --exercises / -k")
    docker_client()  # no engine: one clear error now, not one failed verdict per check
    console.print(f"checking {sut.root}: {tree_sources(sut, checks)}", markup=False)
    progress = Progress(checks)
    started = time.monotonic()

    def done(check: Check, found: list[Verdict]) -> None:
        progress.done(check, found)
        if not console.is_terminal:
            console.print(f"{check.key}: {progress.state[check.key]}", markup=False)

    def run() -> list[Verdict]:
        return run_checks(
            sut,
            checks,
            workers=args.workers,
            artifacts=args.artifacts.resolve() if args.artifacts else None,
            build_args=_build_args(args.build_arg),
            report=report,
            on_start=progress.start,
            on_done=done,
        )

    if not console.is_terminal:
        verdicts = run()
    else:
        with Live(progress.table(), console=console, refresh_per_second=2, transient=True) as live:
            stop = threading.Event()

            def refresh() -> None:
                while not stop.wait(0.5):
                    live.update(progress.table())

            threading.Thread(target=refresh, name="check-progress", daemon=True).start()
            try:
                verdicts = run()
            finally:
                stop.set()
    elapsed = time.monotonic() - started
    failed = [v for v in verdicts if not v.passed and not v.skipped]
    console.print(results_table(verdicts, f"{sut.root} ({len(verdicts)} verdicts, {elapsed:.0f}s)"))
    for v in failed:
        console.print(v.message(), markup=False)
    if args.junit:
        write_junit(verdicts, args.junit)
        console.print(f"junit: {args.junit}")
    if args.artifacts:
        console.print(f"logs: {args.artifacts}")
    skipped = sum(1 for v in verdicts if v.skipped)
    passed = len(verdicts) - len(failed) - skipped
    counts = f"{passed} passed, {len(failed)} failed, {skipped} skipped of {len(verdicts)} verdicts"
    console.print(f"{'FAILED' if failed else 'OK'}: {counts} in {elapsed:.1f}s")
    return 1 if failed else 0
