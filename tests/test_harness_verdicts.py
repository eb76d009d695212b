"""harness.verdicts and the checks of harness.assertions: a verdict says what was expected, what
was seen and the lines behind it; the asserts raise on a failed one; merged verdicts keep every problem."""

from __future__ import annotations

import pytest
from test_harness_logs import COMPOSE_LOGS

from harness.assertions import (
    assert_no_failures,
    assert_winners,
    check_full_batches,
    check_no_failures,
    check_one_draw_before_winners,
    check_winners,
)
from harness.logs import EventLog, parse_lines
from harness.verdicts import EVIDENCE_LINES, Verdict, VerdictFailed, assert_passed, judge, merge

WINNERS = {1: ["24807259", "30876370"], 2: ["30904465"]}


@pytest.fixture
def run_log() -> EventLog:
    return parse_lines(COMPOSE_LOGS)


def test_a_passing_check_says_what_it_saw(run_log: EventLog) -> None:
    verdict = check_winners(run_log, WINNERS)
    assert (verdict.passed, verdict.status, verdict.name) == (True, "pass", "lottery/winners")
    assert verdict.seen == "2 agencies reported their winners" and verdict.problems == []
    assert_winners(run_log, WINNERS)  # and its assert does not raise


def test_a_failing_check_names_every_problem_and_its_evidence(run_log: EventLog) -> None:
    verdict = check_winners(run_log, {1: ["24807259"], 3: ["1"]})
    assert not verdict.passed and verdict.status == "FAIL"
    assert verdict.problems == [
        "agency 1: expected 1 winners ['24807259'], observed 2 ['24807259', '30876370']",
        "agency 2: expected 0 winners [], observed 1 ['30904465']",
        "agency 3: expected 1 winners ['1'], but it reported none",
    ]
    assert verdict.seen == "; ".join(verdict.problems)
    assert all("consulta_ganadores | result: success" in line for line in verdict.evidence)
    assert len(verdict.evidence) == 3  # the server's answer and each client's


def test_the_assert_raises_the_verdict_with_the_message_it_always_had(run_log: EventLog) -> None:
    with pytest.raises(AssertionError) as raised:
        assert_no_failures(run_log)
    assert isinstance(raised.value, VerdictFailed)
    assert str(raised.value).startswith("expected no failures, observed 2 fail events and 1 tracebacks:\n    ")
    assert "EOF mid-frame" in str(raised.value) and "ValueError: boom: bad" in str(raised.value)
    assert raised.value.verdict == check_no_failures(run_log)


def test_checks_cover_batches_and_the_draw(run_log: EventLog) -> None:
    assert check_full_batches(run_log, 2).passed
    full = check_full_batches(run_log, 1)
    assert full.problems == ["agency 1: batch sizes [2, 1], expected 1 each and a last of 1..1"]
    draw = check_one_draw_before_winners(run_log)
    assert draw.passed and len(draw.evidence) == 1
    assert draw.evidence[0].endswith("action: sorteo | result: success | ganadores: 3")
    none = check_one_draw_before_winners(EventLog())
    assert none.problems == ["expected exactly one `sorteo`, observed 0"]


def test_merge_keeps_every_problem_of_every_failed_verdict(run_log: EventLog) -> None:
    verdicts = [
        check_winners(run_log, WINNERS),
        check_full_batches(run_log, 1),
        check_no_failures(run_log),
        Verdict("lottery", "n/a", False, "x", "not applicable", skipped=True),
    ]
    merged = merge(verdicts, "trial", "trial 3", "every check passes")
    assert not merged.passed and merged.name == "trial/trial 3"
    assert merged.problems == [
        "lottery/full batches: agency 1: batch sizes [2, 1], expected 1 each and a last of 1..1",
        "lottery/no failures: 2 fail events and 1 tracebacks",
    ]
    assert merged.evidence and all(line.startswith("[lottery/no failures] ") for line in merged.evidence)
    assert merge(verdicts[:1], "trial", "t", "e").seen == "1 of 1 checks passed"
    with pytest.raises(VerdictFailed, match="lottery/full batches: agency 1"):
        assert_passed(merged)


def test_the_message_caps_the_evidence_unless_asked_for_all() -> None:
    lines = [f"line {i}" for i in range(EVIDENCE_LINES + 3)]
    verdict = judge("ej1", "config", ["wrong port"], "port 12345", "", lines)
    head = ["ej1/config: FAIL", "  expected: port 12345", "  seen:     wrong port"]
    assert verdict.message().splitlines()[:3] == head
    assert verdict.message().endswith("    line 11\n    ... 3 more")
    assert verdict.message(evidence_lines=None).endswith("    line 14")
    assert verdict.evidence_line() == "line 0"


def test_the_contract_checks_construct_it_the_same_way() -> None:
    """harness check builds its verdicts positionally: (exercise, check, passed, expected, seen, evidence)."""
    verdict = Verdict("ej3", "probe script", False, "the script at the root", "it is missing", ["ls: -"])
    assert (verdict.seconds, verdict.skipped, verdict.problems) == (0.0, False, [])
    assert verdict.status == "FAIL" and verdict.name == "ej3/probe script"
    skipped = Verdict("ej2", "case", False, "x", "not applicable", skipped=True)
    assert skipped.status == "skip"
    assert_passed(skipped)
