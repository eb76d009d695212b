"""logline: the one definition of the log contract (format, escaping, strict parsing, action names)."""

from __future__ import annotations

import ast
import logging
import re
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import logline
from logline import (
    FAIL,
    IN_PROGRESS,
    LOG_FORMAT,
    MAX_VALUE_CHARS,
    RESULTS,
    SUCCESS,
    LogEvent,
    LogLineError,
    Uncut,
    actions,
    clean_value,
    format_event,
    format_line,
    parse_line,
    parse_message,
)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
keys = names.filter(lambda key: key not in {"action", "result", "source"})
results = st.sampled_from(sorted(RESULTS))
texts = st.text(max_size=1200)
values = st.one_of(texts, texts.map(Uncut), st.integers(), st.floats(allow_nan=False))
field_maps = st.dictionaries(keys, values, max_size=6)


@given(names, results, field_maps)
def test_any_event_formatted_then_parsed_is_the_same_event(action: str, result: str, fields: dict) -> None:
    message = format_event(action, result, **fields)
    assert message.splitlines() == [message]  # one line, whatever the values held
    event = parse_message(message)
    assert event == LogEvent(action, result, {key: clean_value(value) for key, value in fields.items()})
    assert list(event.fields) == list(fields)  # the order too
    assert parse_message(event.message()) == event  # and a parsed event formats back to itself


@given(names, results, st.dictionaries(keys, st.text(max_size=MAX_VALUE_CHARS).map(clean_value), max_size=6))
def test_clean_values_travel_unchanged(action: str, result: str, fields: dict[str, str]) -> None:
    assert parse_message(format_event(action, result, **fields)).fields == fields


@given(names, results, field_maps)
def test_a_whole_logged_line_parses_back(action: str, result: str, fields: dict) -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, format_event(action, result, **fields), None, None)
    line = logging.Formatter(LOG_FORMAT).format(record)
    parsed = parse_line(line)
    assert parsed is not None
    assert parsed.level == "WARNING"
    assert parsed.event == parse_message(format_event(action, result, **fields))
    assert parsed.time is not None and abs(parsed.time.timestamp() - record.created) < 0.002


@given(st.text(max_size=3000))
def test_a_clean_value_has_no_separator_no_line_break_and_a_bound(value: str) -> None:
    cleaned = clean_value(value)
    assert "|" not in cleaned
    assert len(cleaned.splitlines()) <= 1
    assert len(cleaned) <= MAX_VALUE_CHARS + 3
    assert cleaned == cleaned.strip()


def test_clean_value_rules() -> None:
    assert clean_value("a | b\r\nc") == "a / b  c"
    assert clean_value("x" * (MAX_VALUE_CHARS + 1)) == "x" * MAX_VALUE_CHARS + "..."
    assert clean_value(7) == "7"
    whole = ",".join(str(30_000_000 + i) for i in range(1500))
    assert clean_value(Uncut(whole)) == whole


def test_format_line_is_what_logging_writes() -> None:
    when = datetime(2026, 11, 27, 4, 57, 1, 123456)
    line = format_line(format_event("fault", SUCCESS, kind="pause"), "INFO", when)
    assert line == "2026-11-27 04:57:01,123 INFO     action: fault | result: success | kind: pause"
    parsed = parse_line(line)
    assert parsed is not None and parsed.time == datetime(2026, 11, 27, 4, 57, 1, 123000)


@pytest.mark.parametrize(
    ("action", "result", "fields"),
    [
        ("", SUCCESS, {}),
        ("two words", SUCCESS, {}),
        ("x", "succes", {}),
        ("x", "", {}),
        ("x", FAIL, {"source": "a"}),
        ("x", FAIL, {"bad key": "a"}),
    ],
)
def test_format_refuses_what_would_break_the_contract(action: str, result: str, fields: dict) -> None:
    with pytest.raises(ValueError):
        format_event(action, result, **fields)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2026-11-27 04:57:01,123 INFO     action: close_connection | result: succes | ip: 1.2.3.4", "succes"),
        ("action: x | result: OK", "'OK'"),
        ("action: x | result:", "''"),
        ("action: shutdown", "no result"),
        ("action:  | result: success", "no action name"),
        ("action: x | k: v | result: success", "second field is not result"),
        ("action: x | result: success | a value with | a bar", "is not key: value"),
        ("action: x | result: success | k: 1 | k: 2", "repeated or reserved"),
        ("action: x | result: success | action: y", "repeated or reserved"),
    ],
)
def test_a_broken_event_line_is_an_error_naming_the_line(line: str, reason: str) -> None:
    with pytest.raises(LogLineError, match="invalid log line") as caught:
        parse_line(line)
    assert reason in caught.value.reason
    assert caught.value.line.strip() in line


@pytest.mark.parametrize(
    "line",
    ["", "   ", "Traceback (most recent call last):", "ValueError: a | b", "2026-11-27 04:57:01,123 INFO     hello"],
)
def test_lines_that_are_not_events_are_none(line: str) -> None:
    assert parse_line(line) is None


def test_every_result_word_parses() -> None:
    for result in (SUCCESS, FAIL, IN_PROGRESS):
        assert parse_message(f"action: x | result: {result}").result == result


# -- which lines may say `fail`: the module, the docs and the code agree --------------------

REPO = Path(__file__).resolve().parent.parent
SIDES = {
    "server": (actions.SERVER_ACTIONS, actions.SERVER_MAY_FAIL, {"log_event", "format_event"}),
    "client": (actions.CLIENT_ACTIONS, actions.CLIENT_MAY_FAIL, {"format_event"}),
    "harness": (actions.HARNESS_ACTIONS, actions.HARNESS_MAY_FAIL, {"note", "harness_line"}),
}
NAMES = {**vars(logline), **vars(actions), "FAULT_ACTION": actions.FAULT}


def logged_events(side: str, functions: set[str]) -> list[tuple[str, int, str, str]]:
    """(file, line, action, result) of every call to ``functions`` under ``side/`` whose first two
    arguments are string literals or logline constants."""
    found = []
    for path in sorted((REPO / side).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in functions:
                continue
            action, result = (
                arg.value if isinstance(arg, ast.Constant) else NAMES.get(getattr(arg, "id", ""))
                for arg in node.args[:2]
            )
            if isinstance(action, str) and isinstance(result, str):
                found.append((path.relative_to(REPO).as_posix(), node.lineno, action, result))
    return found


@pytest.mark.parametrize("side", SIDES)
def test_every_logged_action_is_known_and_says_fail_only_where_allowed(side: str) -> None:
    known, may_fail, functions = SIDES[side]
    calls = logged_events(side, functions)
    assert len(calls) >= 3, f"found no logging calls under {side}/: the scan is broken"
    unknown = [call for call in calls if call[2] not in known]
    assert not unknown, f"actions missing from logline.actions: {unknown}"
    assert all(call[3] in RESULTS for call in calls)
    wrong = [call for call in calls if call[3] == FAIL and call[2] not in may_fail]
    assert not wrong, f"`result: fail` on lines that may not carry it: {wrong}"
    never = may_fail - {call[2] for call in calls if call[3] == FAIL}
    assert not never, f"{side}: listed as may-fail but never logged with fail: {sorted(never)}"


def test_the_conventions_list_the_same_may_fail_lines_as_the_module() -> None:
    text = (REPO / "docs" / "CONVENTIONS.md").read_text(encoding="utf-8")
    section = text.split("### Lines that may carry `result: fail`", 1)[1].split("\n#", 1)[0]
    listed = {
        side: set(re.findall(r"`([a-z_]+)`", line.partition(":")[2]))
        for side, _, line in (
            (match.group(1), None, match.group(0)) for match in re.finditer(r"^- (\w+): .*$", section, re.M)
        )
    }
    assert listed == {side: set(may_fail) for side, (_, may_fail, _) in SIDES.items()}


def test_text_before_action_is_ignored_whatever_its_format() -> None:
    """The course's rule: another implementation's timestamp (Go's log package) is not the event."""
    parsed = parse_line("2026/12/01 22:50:27 INFO     action: sorteo | result: success | ganadores: 3")
    assert parsed is not None and parsed.asctime is None and parsed.level == "INFO"
    assert parsed.event.action == "sorteo" and parsed.event.fields == {"ganadores": "3"}
    with pytest.raises(LogLineError, match="succes"):
        parse_line("[client] 12:00 action: sorteo | result: succes")
    assert parse_line("no event here: transaction: x") is None
