"""A check's verdict: passed or not, what was expected, what was seen, and the log lines behind it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.check.lines import Line

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
    skipped: bool = False  # not applicable to this implementation (``seen`` says why)

    @property
    def status(self) -> str:
        return "skip" if self.skipped else ("pass" if self.passed else "FAIL")

    @property
    def name(self) -> str:
        return f"{self.exercise}/{self.check}"

    def evidence_line(self) -> str:
        """The one line a table shows: the most telling piece of evidence, or what was seen."""
        return self.evidence[0] if self.evidence else self.seen

    def message(self) -> str:
        lines = [f"{self.name}: {self.status}", f"  expected: {self.expected}", f"  seen:     {self.seen}"]
        if self.evidence:
            lines.append("  evidence:")
            lines += [f"    {entry}" for entry in self.evidence[:EVIDENCE_LINES]]
            if len(self.evidence) > EVIDENCE_LINES:
                lines.append(f"    ... {len(self.evidence) - EVIDENCE_LINES} more")
        return "\n".join(lines)


def shown(lines: Iterable[Line]) -> list[str]:
    return [line.shown() for line in lines]


def verdict(exercise: str, check: str, problems: list[str], expected: str, seen: str, evidence: list[str]) -> Verdict:
    """Passed when ``problems`` is empty; else ``seen`` lists them."""
    if problems:
        return Verdict(exercise, check, False, expected, "; ".join(problems), evidence)
    return Verdict(exercise, check, True, expected, seen, evidence)
