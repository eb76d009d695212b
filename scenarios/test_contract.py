"""The course contract's checks (``harness check``) as tests: ``pytest -m contract [--harness-sut PATH]``.

Without ``--harness-sut`` they check this repository's own course drop-in (generar-compose.sh,
the Dockerfiles, the config files), which must pass every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.check.context import Check, CheckContext
from harness.check.runner import ALL_CHECKS, run_check
from harness.check.sut import Sut
from harness.verdicts import Verdict

pytestmark = [pytest.mark.scenario, pytest.mark.contract]
# The longest checks (tens of seconds each on the 2-core machine): `-m "not slow"` leaves them out.
SLOW = {"ej6/total 2000", "ej6/total 1", "ej6/total 39", "ej2/loop settings", "ej8/stalled agency", "ej8/10 agencies"}


def _parameters() -> list[object]:
    return [
        pytest.param(check, id=check.key, marks=[pytest.mark.slow] if check.key in SLOW else []) for check in ALL_CHECKS
    ]


def _assert_passed(verdicts: list[Verdict]) -> None:
    """Every verdict passed; a check whose verdicts were all skipped (not applicable) is a skip, not a pass."""
    assert verdicts
    failed = [verdict for verdict in verdicts if not verdict.passed and not verdict.skipped]
    assert not failed, "\n".join(verdict.message() for verdict in failed)
    if all(verdict.skipped for verdict in verdicts):
        pytest.skip("; ".join(f"{verdict.name}: {verdict.seen}" for verdict in verdicts))


@pytest.mark.parametrize("check", _parameters())
def test_contract(check: Check, harness_sut: Sut, check_context: Callable[[Sut, str], CheckContext]) -> None:
    verdicts = run_check(check, check_context(harness_sut, check.exercise))
    _assert_passed(verdicts)


GO_FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tp0-go"
GO_FAST = {"ej5/env bet", "ej6/total 41", "ej7/3 agencies"}


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(check, id=check.key, marks=[] if check.key in GO_FAST else [pytest.mark.slow])
        for check in ALL_CHECKS
        if check.exercise in ("ej5", "ej6", "ej7")
    ],
)
def test_go_fixture_passes(check: Check, check_context: Callable[[Sut, str], CheckContext]) -> None:
    """A TP0 whose client is Go (tests/fixtures/tp0-go), built through the offline stand-ins, passes
    ej5-ej7: the checks rely on the contract, not on this repository's language or protocol."""
    verdicts = run_check(check, check_context(Sut.at(GO_FIXTURE), check.exercise))
    _assert_passed(verdicts)
