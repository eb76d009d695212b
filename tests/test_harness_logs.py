"""harness.logs: parsing captured log lines into events and summarizing them."""

# ruff: noqa: E501  (captured log lines are kept verbatim, as Docker printed them)

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from harness.logs import (
    Event,
    EventLog,
    InvalidLine,
    agency_from_service,
    domain_state,
    parse_line,
    parse_lines,
    where,
)
from logline import LogLineError

# What `docker compose logs` printed for a run with 2 clients (client2 in single-bet mode).
COMPOSE_LOGS = """\
server     | 2026-11-27 04:57:00,001 INFO     action: config | result: success | port: 12345 | listen_backlog: 5 | logging_level: INFO | agencies: 2 | workers: 4
server     | 2026-11-27 04:57:00,002 INFO     action: recuperacion | result: success | apuestas: 0 | lotes: 0 | agencias_finalizadas: 0
client1-1  | 2026-11-27 04:57:01,100 INFO     action: config | result: success | client_id: 1 | server_address: server:12345 | batch_max_amount: 2 | log_level: INFO
client1-1  | 2026-11-27 04:57:01,101 INFO     action: connect | result: fail | error: [Errno 111] Connection refused: server:12345 | retry_in: 0.5
client1-1  | 2026-11-27 04:57:01,700 INFO     action: connect | result: success | server_address: server:12345
server     | 2026-11-27 04:57:01,701 INFO     action: accept_connections | result: success | ip: 172.18.0.3
client1-1  | 2026-11-27 04:57:01,800 INFO     action: lote_confirmado | result: success | lote: 1 | cantidad: 2 | total: 2
client1-1  | 2026-11-27 04:57:01,801 INFO     action: lote_confirmado | result: success | lote: 2 | cantidad: 1 | total: 3
client2-1  | 2026-11-27 04:57:01,900 INFO     action: config | result: success | client_id: 2 | server_address: server:12345 | batch_max_amount: 2 | log_level: INFO
client2-1  | 2026-11-27 04:57:01,950 INFO     action: apuesta_enviada | result: success | dni: 30904465 | numero: 7574
client1-1  | 2026-11-27 04:57:02,000 INFO     action: finalizado | result: success | total: 3
client2-1  | 2026-11-27 04:57:02,001 INFO     action: finalizado | result: success | total: 1
server     | 2026-11-27 04:57:02,002 INFO     action: sorteo | result: success | ganadores: 3
server     | 2026-11-27 04:57:02,003 INFO     action: consulta_ganadores | result: success | agencia: 1 | cant_ganadores: 2
client1-1  | 2026-11-27 04:57:02,010 INFO     action: consulta_ganadores | result: success | cant_ganadores: 2 | dnis: 24807259,30876370
client2-1  | 2026-11-27 04:57:02,011 INFO     action: consulta_ganadores | result: success | cant_ganadores: 1 | dnis: 30904465
client1-1  | 2026-11-27 04:57:02,020 INFO     action: shutdown | result: success | reason: done
server     | 2026-11-27 04:57:03,000 ERROR    action: connection | result: fail | ip: 172.18.0.4 | agencia: 2 | error: EOF mid-frame: 3 of 8 header bytes
server     | Traceback (most recent call last):
server     |   File "/app/server/worker.py", line 10, in run
server     |     handle(conn)
server     | ValueError: boom: bad
server     | 2026-11-27 04:57:04,000 INFO     action: shutdown | result: success
"""


@pytest.fixture
def run_log() -> EventLog:
    return parse_lines(COMPOSE_LOGS)


def test_parses_a_plain_line() -> None:
    event = parse_line(
        "2026-11-27 04:57:01,123 INFO     action: apuesta_almacenada | result: success | dni: 30904465 | numero: 2201",
        service="server",
    )
    assert event is not None
    assert event.service == "server"
    assert event.time == datetime(2026, 11, 27, 4, 57, 1, 123000)
    assert event.level == "INFO"
    assert (event.action, event.result) == ("apuesta_almacenada", "success")
    assert event.fields == {"dni": "30904465", "numero": "2201"}
    assert event.int_field("numero") == 2201


def test_compose_prefix_names_the_service() -> None:
    event = parse_line("client12-1  | 2026-11-27 04:57:01,123 DEBUG    action: x | result: in_progress")
    assert event is not None
    assert (event.service, event.level, event.result) == ("client12", "DEBUG", "in_progress")


def test_explicit_service_wins_over_the_prefix() -> None:
    event = parse_line("client1-1  | 2026-11-27 04:57:01,123 INFO     action: x | result: success", "c")
    assert event is not None and event.service == "c"


def test_docker_timestamps_are_skipped_with_or_without_prefix() -> None:
    stamped = "2026-11-27T04:57:01.123456789Z 2026-11-27 04:57:01,123 INFO     action: x | result: success"
    for line in (stamped, f"server  | {stamped}", f"\x1b[36mserver  |\x1b[0m {stamped}"):
        event = parse_line(line)
        assert event is not None, line
        assert event.action == "x"
        assert event.time == datetime(2026, 11, 27, 4, 57, 1, 123000)


def test_values_may_contain_colons() -> None:
    event = parse_line(
        "2026-11-27 04:57:01,101 INFO     action: connect | result: fail "
        "| error: [Errno 111] Connection refused: server:12345 | retry_in: 0.5\r\n"
    )
    assert event is not None
    assert event.fields == {"error": "[Errno 111] Connection refused: server:12345", "retry_in": "0.5"}
    assert event.raw.endswith("retry_in: 0.5")


def test_missing_level_and_time_are_tolerated() -> None:
    event = parse_line("action: shutdown | result: success")
    assert event is not None
    assert (event.action, event.result, event.level, event.time, event.fields) == ("shutdown", "success", "", None, {})
    empty_value = parse_line("2026-11-27 04:57:01,123 INFO     action: consulta_ganadores | result: success | dnis: ")
    assert empty_value is not None and empty_value.fields == {"dnis": ""}


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "server  | ",
        "Traceback (most recent call last):",
        'server  |   File "/app/server/main.py", line 3, in <module>',
        "ValueError: a | b",
        "2026-11-27 04:57:01,123 INFO     something else happened",
    ],
)
def test_non_events_are_none(line: str) -> None:
    assert parse_line(line) is None


BROKEN = "server  | 2026-11-27 04:57:01,123 INFO     action: close_connection | result: succes | ip: 172.18.0.4"


@pytest.mark.parametrize(
    "line",
    [
        BROKEN,
        "2026-11-27 04:57:01,123 INFO     action:  | result: success",
        "action: shutdown",
        "client1-1  | action: x | result: success | a | b",
    ],
)
def test_a_line_that_breaks_the_contract_raises(line: str) -> None:
    with pytest.raises(LogLineError, match="invalid log line"):
        parse_line(line)


def test_the_event_log_keeps_broken_lines_apart_and_names_them() -> None:
    log = parse_lines([BROKEN, "server  | 2026-11-27 04:57:01,124 INFO     action: shutdown | result: success"])
    assert [event.action for event in log] == ["shutdown"]  # the broken line is no event at all
    (invalid,) = log.invalid_lines()
    assert isinstance(invalid, InvalidLine)
    assert invalid.service == "server" and "result: succes |" in invalid.text and "'succes'" in invalid.reason
    assert "close_connection | result: succes" in invalid.describe()
    assert log.invalid_lines(service="client1") == []
    assert log.filter(service="server").invalid_lines() == [invalid]
    assert parse_lines(COMPOSE_LOGS).invalid_lines() == []


def test_event_log_counts_filters_and_firsts(run_log: EventLog) -> None:
    assert len(run_log) == 19
    assert run_log.services() == ["server", "client1", "client2"]
    assert run_log.count("lote_confirmado", "success") == 2
    assert run_log.count("connect") == 2
    assert run_log.count("connect", "fail", service="client1") == 1
    assert run_log.count("sorteo", service="client1") == 0
    assert len(run_log.filter(service="server")) == 7
    assert [e.int_field("total") for e in run_log.filter("lote_confirmado", lote=2)] == [3]
    first = run_log.first("consulta_ganadores", "success")
    assert first is not None and first.service == "server"
    last = run_log.last("consulta_ganadores", "success")
    assert last is not None and last.service == "client2"
    assert run_log.first("nothing") is None
    assert [event.seq for event in run_log] == sorted(event.seq for event in run_log)


def test_where_builds_a_predicate(run_log: EventLog) -> None:
    predicate = where("lote_confirmado", "success", service="client1", total=3)
    assert [event.fields["lote"] for event in run_log if predicate(event)] == ["2"]
    assert not any(where("sorteo", "fail")(event) for event in run_log)


def test_winners_and_acknowledged_by_agency(run_log: EventLog) -> None:
    assert run_log.winners_by_agency() == {1: ["24807259", "30876370"], 2: ["30904465"]}
    assert run_log.acknowledged_by_agency() == {1: 3, 2: 1}


def test_agency_comes_from_the_config_line_when_the_name_says_nothing() -> None:
    log = parse_lines(
        [
            "2026-11-27 04:57:01,100 INFO     action: config | result: success | client_id: 7 | batch_max_amount: 2",
            "2026-11-27 04:57:01,800 INFO     action: lote_confirmado | result: success | lote: 1 | cantidad: 2 | total: 2",
            "2026-11-27 04:57:02,010 INFO     action: consulta_ganadores | result: success | cant_ganadores: 0 | dnis: ",
        ],
        service="lottery-abc-agency",
    )
    assert log.winners_by_agency() == {7: []}
    assert log.acknowledged_by_agency() == {7: 2}


def test_agency_from_service_names() -> None:
    assert agency_from_service("client3") == 3
    assert agency_from_service("lottery-abc-client12") == 12
    assert agency_from_service("server") is None
    assert agency_from_service("clientx") is None


def test_tracebacks_are_kept_as_blocks(run_log: EventLog) -> None:
    assert run_log.tracebacks() == [
        "Traceback (most recent call last):\n"
        '  File "/app/server/worker.py", line 10, in run\n'
        "    handle(conn)\n"
        "ValueError: boom: bad"
    ]
    assert run_log.tracebacks(service="client1") == []
    assert len(run_log.unparsed(service="server")) == 4
    assert run_log.filter(service="server").tracebacks() == run_log.tracebacks()
    assert run_log.filter(service="client1").tracebacks() == []


def test_tracebacks_of_interleaved_services_stay_apart() -> None:
    log = EventLog()
    log.feed("Traceback (most recent call last):", service="client1")
    log.feed("Traceback (most recent call last):", service="client2")
    log.feed("KeyError: 'a'", service="client2")
    log.feed("OSError: gone", service="client1")
    log.feed("2026-11-27 04:57:01,100 INFO     action: shutdown | result: success", service="client1")
    log.feed("not part of any traceback", service="client1")
    assert log.tracebacks() == [
        "Traceback (most recent call last):\nOSError: gone",
        "Traceback (most recent call last):\nKeyError: 'a'",
    ]


def test_an_event_that_mentions_a_traceback_is_not_one() -> None:
    log = parse_lines(
        ["2026-11-27 04:57:01,100 ERROR    action: x | result: fail | error: Traceback (most recent call last):"]
    )
    assert log.tracebacks() == []


def test_feed_returns_the_event_and_is_thread_safe() -> None:
    log = EventLog()
    assert log.feed("noise") is None
    line = "2026-11-27 04:57:01,100 INFO     action: tick | result: success"

    def feed_many(service: str) -> None:
        for _ in range(500):
            log.feed(line, service=service)

    threads = [threading.Thread(target=feed_many, args=(f"client{i}",)) for i in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.count("tick") == 2000
    assert len({event.seq for event in log}) == 2000
    assert all(isinstance(event, Event) for event in log[:3])


def test_parse_lines_accepts_a_whole_text_and_events_are_hashable() -> None:
    log = parse_lines("action: a | result: success\n\naction: b | result: fail | k: v: w\n")
    assert [(event.action, event.result) for event in log] == [("a", "success"), ("b", "fail")]
    assert log[1].fields == {"k": "v: w"}
    assert len({log[0], log[1]}) == 2


def test_a_wait_predicate_says_what_it_waits_for() -> None:
    predicate = where("lote_confirmado", "success", service="client1", total=3)
    assert str(predicate) == "action: lote_confirmado | result: success | total: 3 from client1"
    assert str(where("sorteo")) == "action: sorteo | result: any"
    events = parse_lines(COMPOSE_LOGS)
    assert [event.get("lote") for event in events if predicate(event)] == ["2"]


def test_domain_state_tells_where_the_lottery_stands() -> None:
    whole = parse_lines(COMPOSE_LOGS)
    assert domain_state(whole) == (
        "agencies finished: [1, 2]; not finished: none; draw: done (3 winners); waiting for winners: nobody"
    )
    before_the_draw = parse_lines(COMPOSE_LOGS.split("server     | 2026-11-27 04:57:02,002")[0])
    assert domain_state(before_the_draw) == (
        "agencies finished: [1, 2]; not finished: none; draw: not yet; waiting for winners: client1, client2"
    )
    midway = parse_lines(COMPOSE_LOGS.split("client1-1  | 2026-11-27 04:57:02,000")[0])
    assert domain_state(midway).startswith("agencies finished: none; not finished: [1, 2]; draw: not yet")
