"""A verdict: whether a check passed, what it expected, what it saw, and the log lines behind it.

Jepsen's checkers are the model: a check looks at what a run left (events, the store, exit codes)
and returns a ``Verdict`` instead of raising, so a run can collect every problem it has
(``merge``) and a report can show each one. ``assert_passed`` turns a failed verdict into the
``AssertionError`` a test fails with.

The fields and their order are those of the contract checks' verdict (``harness check``):
``exercise`` groups checks (an exercise of the course there, ``lottery`` for the domain checks of
``harness.assertions``), ``check`` names one. ``problems`` (one entry per thing found wrong; ``seen``
joins them) is this module's addition, with a default, so either type can stand for the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

EVIDENCE_LINES = 12


@dataclass
class Verdict:
    exercise: str
    check: str
    passed: bool
    expected: str
    seen: str
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False  # not applicable (``seen`` says why)
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "skip" if self.skipped else ("pass" if self.passed else "FAIL")

    @property
    def name(self) -> str:
        return f"{self.exercise}/{self.check}"

    def evidence_line(self) -> str:
        """The one line a table shows: the most telling piece of evidence, or what was seen."""
        return self.evidence[0] if self.evidence else self.seen

    def message(self, evidence_lines: int | None = EVIDENCE_LINES) -> str:
        """The verdict in a few lines; ``evidence_lines``: how many evidence lines at most (None: all)."""
        lines = [f"{self.name}: {self.status}", f"  expected: {self.expected}", f"  seen:     {self.seen}"]
        if self.evidence:
            shown = self.evidence if evidence_lines is None else self.evidence[:evidence_lines]
            lines.append("  evidence:")
            lines += [f"    {entry}" for entry in shown]
            if len(self.evidence) > len(shown):
                lines.append(f"    ... {len(self.evidence) - len(shown)} more")
        return "\n".join(lines)


class VerdictFailed(AssertionError):
    """A failed verdict, raised; ``verdict`` holds it whole."""

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


def judge(
    exercise: str, check: str, problems: list[str], expected: str, seen: str, evidence: Iterable[str] = ()
) -> Verdict:
    """Passed when ``problems`` is empty (``seen`` then says what was seen); else ``seen`` lists them."""
    if problems:
        return Verdict(exercise, check, False, expected, "; ".join(problems), list(evidence), problems=problems)
    return Verdict(exercise, check, True, expected, seen, list(evidence))


def merge(verdicts: Iterable[Verdict], exercise: str, check: str, expected: str) -> Verdict:
    """One verdict for several: passed when each passed (or was skipped); its problems and evidence
    are those of every failed one, each named by the verdict it comes from."""
    every = list(verdicts)
    failed = [verdict for verdict in every if not verdict.passed and not verdict.skipped]
    problems = [f"{v.name}: {problem}" for v in failed for problem in (v.problems or [v.seen])]
    evidence = [f"[{v.name}] {line}" for v in failed for line in v.evidence]
    seen = f"{len(every) - len(failed)} of {len(every)} checks passed"
    merged = judge(exercise, check, problems, expected, seen, evidence)
    merged.seconds = sum(verdict.seconds for verdict in every)
    return merged


def assert_passed(verdict: Verdict, message: str | None = None) -> None:
    """Raise ``VerdictFailed`` (an ``AssertionError``) with ``message`` (default: the verdict's own)
    unless the verdict passed or was skipped."""
    if not verdict.passed and not verdict.skipped:
        raise VerdictFailed(verdict.message() if message is None else message, verdict)
