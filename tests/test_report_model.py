"""The timeline behind report.html, from log lines and exit records (no browser, no engine)."""

from __future__ import annotations

import pytest
from reportutil import T0, faulty_run, hub_of

from harness.lifecycle import ExitRecord, Lifecycle, engine_time, exit_record
from harness.logs import parse_lines
from harness.logstream import LogHub
from harness.report.lanes import density_bins, lane_order
from harness.report.lines import timed_lines
from harness.report.model import COLLAPSE_AT, SERIES_POINTS, SPANS_PER_KIND
from harness.report.timeline import build_timeline


def timeline_of(lines, exits=(), **options):
    return build_timeline(timed_lines(hub_of(lines)), exits, **options)


# -- times --------------------------------------------------------------------------------


def test_lines_take_dockers_timestamp_and_a_traceback_the_time_of_the_line_before() -> None:
    hub = hub_of(
        [
            ("client1", 1.25, "action: connect | result: success"),
            ("client1", 2.5, "Traceback (most recent call last):"),
            ("server", 3.0, "action: config | result: success"),
        ]
    )
    lines = timed_lines(hub)
    assert [(line.service, round(line.time - T0, 3)) for line in lines] == [
        ("client1", 1.25),
        ("client1", 2.5),  # Docker's timestamp: the line itself has none
        ("server", 3.0),
    ]
    assert lines[1].event is None and lines[1].text == "Traceback (most recent call last):"


def test_without_docker_timestamps_events_use_their_own_and_other_lines_the_previous_one() -> None:
    log = parse_lines(
        [
            "2026-12-01 10:00:01,500 INFO     action: connect | result: success",
            "Traceback (most recent call last):",
            "2026-12-01 10:00:03,000 INFO     action: shutdown | result: success",
        ],
        "client1",
    )
    lines = timed_lines(log)
    start = lines[0].time
    assert [round(line.time - start, 3) for line in lines] == [0.0, 0.0, 1.5]
    assert engine_time("2026-12-01T10:00:01.5Z") == lines[0].time  # the logger's clock is UTC


def test_engine_times_and_exit_records() -> None:
    assert engine_time("0001-01-01T00:00:00Z") is None
    assert engine_time("not a time") is None
    whole = engine_time("2026-12-01T10:00:00Z")
    assert whole is not None and engine_time("2026-12-01T10:00:00.123456789Z") == pytest.approx(whole + 0.123456)
    killed = exit_record(
        "client2",
        {
            "Status": "exited",
            "StartedAt": "2026-12-01T10:00:00Z",
            "FinishedAt": "2026-12-01T10:00:05Z",
            "ExitCode": 137,
        },
    )
    assert killed.finished is not None and killed.started is not None
    assert (killed.exit_code, killed.finished - killed.started, killed.running) == (137, 5.0, False)
    running = exit_record(
        "server", {"Status": "running", "Running": True, "StartedAt": "2026-12-01T10:00:00Z", "ExitCode": 0}
    )
    assert running.running and running.exit_code is None


def test_lifecycle_keeps_one_record_per_run_and_the_phases() -> None:
    life = Lifecycle()
    first = {
        "Status": "exited",
        "StartedAt": "2026-12-01T10:00:00Z",
        "FinishedAt": "2026-12-01T10:00:05Z",
        "ExitCode": 137,
    }
    life.record("server", {**first, "Status": "running", "Running": True, "FinishedAt": "0001-01-01T00:00:00Z"})
    life.record("server", first)  # the same run, seen again after it ended
    life.record(
        "server", {**first, "StartedAt": "2026-12-01T10:00:07Z", "FinishedAt": "2026-12-01T10:00:09Z", "ExitCode": 0}
    )
    life.record("client1", {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"})  # never started
    assert [(r.service, r.exit_code) for r in life.exits()] == [("server", 137), ("server", 0)]
    life.begin("up")
    life.end("up")
    life.begin("down")
    life.end("down")
    phases = life.phase_times()
    assert set(phases) == {"up", "run", "down"}
    assert phases["up"][1] == phases["run"][0] and phases["run"][1] == phases["down"][0]


# -- lanes, marks and densities -----------------------------------------------------------


def test_lanes_harness_first_then_server_then_agencies_by_number() -> None:
    names = ["client10", "zeta", "client2", "server", "harness", "proj-client1"]
    assert sorted(names, key=lane_order) == ["harness", "server", "proj-client1", "client2", "client10", "zeta"]
    timeline = timeline_of([("client2", 1, "action: connect | result: success")])
    assert [lane.name for lane in timeline.lanes] == ["harness", "client2"]  # the harness lane is always there


def test_marks_are_coloured_by_result_and_keep_the_whole_line() -> None:
    timeline = timeline_of(
        [
            ("client1", 1, "action: connect | result: fail | error: refused | retry_in: 0.1"),
            ("client1", 2, "action: consulta_ganadores | result: in_progress | intento: 1"),
            ("client1", 3, "action: finalizado | result: success | total: 5"),
            ("client1", 4, "action: odd | result: succes"),
            ("client1", 5, "Traceback (most recent call last):"),
        ]
    )
    lane = timeline.lane("client1")
    assert [(m.result, m.label) for m in lane.marks] == [
        ("fail", "connect fail"),
        ("in_progress", "consulta_ganadores in_progress"),
        ("success", "finalizado success"),
        ("invalid", "breaks the log contract"),
        ("unparsed", "line"),
    ]
    assert lane.marks[0].line.endswith("action: connect | result: fail | error: refused | retry_in: 0.1")
    assert [round(m.time, 3) for m in lane.marks] == [0, 1, 2, 3, 4]  # time 0 is the first line
    assert lane.counts == {"success": 1, "fail": 1, "in_progress": 1, "invalid": 1, "unparsed": 1}
    assert "action: odd | result: succes  [" in lane.marks[3].line  # with the reason it breaks the contract


def test_a_repeated_event_becomes_a_density_the_rare_ones_stay_marks() -> None:
    many = [
        ("client1", i * 0.01, f"action: lote_confirmado | result: success | lote: {i}") for i in range(COLLAPSE_AT + 1)
    ]
    few = [("client2", i * 0.01, f"action: lote_confirmado | result: success | lote: {i}") for i in range(COLLAPSE_AT)]
    timeline = timeline_of([*many, *few, ("client1", 9, "action: connect | result: fail")])
    dense = timeline.lane("client1")
    assert [(d.label, d.result, d.count) for d in dense.densities] == [
        ("lote_confirmado success", "success", COLLAPSE_AT + 1)
    ]
    assert [m.label for m in dense.marks] == ["connect fail"]  # not swallowed by the density
    assert dense.densities[0].first_line.endswith("lote: 0") and dense.densities[0].last_line.endswith(
        f"lote: {COLLAPSE_AT}"
    )
    assert timeline.lane("client2").densities == [] and len(timeline.lane("client2").marks) == COLLAPSE_AT


def test_density_bins_count_every_time_in_range_once() -> None:
    times = [0.0, 0.1, 0.5, 0.99, 1.0, 1.5]
    assert density_bins(times, 0.0, 1.0, 4) == [2, 0, 1, 2]  # 1.0 falls in the last bin; 1.5 is outside
    assert sum(density_bins(times, 0.0, 2.0, 7)) == len(times)
    assert density_bins(times, 1.0, 1.0, 3) == [0, 0, 0]


# -- spans --------------------------------------------------------------------------------


def test_container_runs_end_with_their_exit_code() -> None:
    exits = [
        ExitRecord("client2", T0 + 1, T0 + 5, 137),
        ExitRecord("client2", T0 + 6, None, None),
        ExitRecord("server", T0 + 0.5, T0 + 9, 0, oom_killed=True),
    ]
    timeline = timeline_of([("client2", 2, "action: connect | result: success")], exits)
    runs = [s for s in timeline.lane("client2").spans if s.kind == "run"]
    assert [(s.start, s.end, s.label, s.result, s.open) for s in runs] == [
        (0.5, 4.5, "exit 137 (SIGKILL)", "fail", False),
        (5.5, timeline.end, "running", "in_progress", True),
    ]
    assert timeline.lane("server").spans[0].label == "exit 0, out of memory"
    assert timeline.end == 8.5  # the server's exit is the last instant


def test_connections_from_accept_to_close_per_peer_and_from_connect_to_the_next_attempt() -> None:
    timeline = timeline_of(
        [
            ("server", 1, "action: accept_connections | result: success | ip: 10.0.0.2"),
            ("server", 2, "action: accept_connections | result: success | ip: 10.0.0.3"),
            ("server", 3, "action: connection | result: fail | ip: 10.0.0.2 | agencia: 1 | error: reset"),
            ("server", 4, "action: close_connection | result: success | ip: 10.0.0.3 | agencia: 2"),
            ("server", 5, "action: accept_connections | result: success | ip: 10.0.0.2"),
            ("client1", 1, "action: connect | result: success"),
            ("client1", 3, "action: connect | result: fail | error: connection lost"),
            ("client1", 3.5, "action: connect | result: success"),
            ("client1", 6, "action: shutdown | result: success | reason: done"),
        ]
    )
    server = [(s.start, s.end, s.label, s.result, s.open) for s in timeline.lane("server").spans]
    assert server == [
        (0, 2, "connection of agency 1", "fail", False),
        (1, 3, "connection of agency 2", "success", False),
        (4, 5, "connection", "in_progress", True),  # never closed: to the end
    ]
    client = [(s.start, s.end, s.result) for s in timeline.lane("client1").spans]
    assert client == [(0, 2, "fail"), (2.5, 5, "success")]


def test_batches_from_stored_to_acknowledged_and_the_wait_for_the_winners() -> None:
    timeline = timeline_of(
        [
            ("client1", 0, "action: config | result: success | client_id: 1"),
            ("server", 1.0, "action: apuesta_recibida | result: success | cantidad: 5 | agencia: 1 | lote: 1"),
            ("client1", 1.25, "action: lote_confirmado | result: success | lote: 1 | cantidad: 5 | total: 5"),
            ("server", 2.0, "action: apuesta_recibida | result: success | cantidad: 3 | agencia: 1 | lote: 2"),
            ("client1", 2.5, "action: lote_confirmado | result: success | lote: 2 | cantidad: 3 | total: 8"),
            ("client1", 3.0, "action: finalizado | result: success | total: 8"),
            ("client1", 4.0, "action: consulta_ganadores | result: in_progress | intento: 1"),
            ("client1", 5.5, "action: consulta_ganadores | result: success | cant_ganadores: 2 | dnis: 1,2"),
        ]
    )
    spans = {(s.kind, s.label): s for s in timeline.lane("client1").spans}
    assert (spans["batch", "batch 1"].start, spans["batch", "batch 1"].end) == (1.0, 1.25)
    assert (spans["batch", "batch 2"].start, spans["batch", "batch 2"].end) == (2.0, 2.5)
    summary = spans["batches", "2 batches"]
    assert (summary.start, summary.end) == (1.0, 2.5) and "8 bets" in summary.detail
    winners = spans["winners", "winners: 2"]
    assert (winners.start, winners.end, winners.result) == (3.0, 5.5, "success")


def test_thousands_of_batches_keep_only_their_summary_span() -> None:
    lines = [
        ("client1", i * 0.001, f"action: lote_confirmado | result: success | lote: {i} | cantidad: 1 | total: {i}")
        for i in range(1, SPANS_PER_KIND + 2)
    ]
    kinds = [s.kind for s in timeline_of(lines).lane("client1").spans]
    assert kinds == ["batches"]


# -- faults, signals, the chart, the pin --------------------------------------------------


def test_fault_windows_from_inject_to_heal() -> None:
    fault = "action: fault | result: {result} | kind: {kind} | service: {service} | phase: {phase}"
    timeline = timeline_of(
        [
            (
                "harness",
                1,
                fault.format(result="success", kind="pause", service="server", phase="inject") + " | after: client2: x",
            ),
            ("harness", 3, fault.format(result="success", kind="pause", service="server", phase="undo")),
            ("harness", 4, fault.format(result="success", kind="kill", service="client2", phase="inject")),
            ("harness", 6, fault.format(result="success", kind="kill", service="client2", phase="teardown")),
            ("harness", 7, fault.format(result="success", kind="disconnect", service="client1", phase="inject")),
            ("harness", 8, fault.format(result="success", kind="restart", service="server", phase="inject")),
            (
                "harness",
                8.5,
                fault.format(result="fail", kind="pause", service="client3", phase="inject") + " | error: gone",
            ),
            ("server", 10, "action: shutdown | result: success"),
        ]
    )
    windows = [(f.kind, f.service, f.start, f.end, f.healed) for f in timeline.faults]
    assert windows == [
        ("pause", "server", 0, 2, True),
        ("kill", "client2", 3, 5, False),  # left down by the teardown
        ("disconnect", "client1", 6, 9, False),  # still cut off at the end
        ("restart", "server", 7, 7, True),
        ("pause", "client3", 7.5, 7.5, False),
    ]
    assert "after client2: x" in timeline.faults[0].detail
    assert "gone" in timeline.faults[4].detail


def test_signals_become_markers_on_their_service() -> None:
    timeline = timeline_of([("harness", 2, "action: signal | result: success | service: client1 | signal: SIGTERM")])
    assert [(s.time, s.service, s.signal) for s in timeline.signals] == [(0, "client1", "SIGTERM")]


def test_acknowledged_bets_per_agency_over_time() -> None:
    lines = [("client1", 0, "action: config | result: success | client_id: 7")]  # its config names the agency
    lines += [
        ("client1", i, f"action: lote_confirmado | result: success | lote: {i} | cantidad: 10 | total: {10 * i}")
        for i in range(1, 4)
    ]
    lines += [("client2", 5, "action: apuesta_enviada | result: success | dni: 1 | numero: 2")]
    series = {s.agency: s.points for s in timeline_of(lines).series}
    assert series == {7: [(1, 10), (2, 20), (3, 30)], 2: [(5, 1)]}


def test_a_long_series_is_thinned_to_its_budget_keeping_both_ends() -> None:
    lines = [
        ("client1", i * 0.001, f"action: lote_confirmado | result: success | lote: {i} | cantidad: 1 | total: {i}")
        for i in range(1, 3001)
    ]
    points = timeline_of(lines).series[0].points
    assert len(points) == SERIES_POINTS
    assert points[0][1] == 1 and points[-1][1] == 3000
    assert [value for _, value in points] == sorted(value for _, value in points)


def test_the_failed_assertion_is_pinned_at_its_time() -> None:
    timeline = timeline_of(
        [("server", 1, "action: config | result: success")], failure=(T0 + 4, "agency 2: expected 2")
    )
    assert timeline.pin is not None and (timeline.pin.time, timeline.pin.message) == (3, "agency 2: expected 2")
    assert timeline.end == 3


def test_a_whole_faulty_run() -> None:
    hub, exits = faulty_run()
    timeline = build_timeline(timed_lines(hub), exits, phases={"up": (T0, T0 + 0.25), "down": (T0 + 7, T0 + 7.6)})
    assert [lane.name for lane in timeline.lanes] == ["harness", "server", "client1", "client2", "client3"]
    assert [(f.kind, f.service, f.healed) for f in timeline.faults] == [("pause", "server", True)]
    server = timeline.lane("server")
    assert [d.label for d in server.densities] == ["apuesta_recibida success"]
    assert server.densities[0].count == 620
    assert timeline.phases["up"] == (0, 0.25)
    client2 = timeline.lane("client2")
    assert [s.label for s in client2.spans if s.kind == "run"] == ["exit 137 (SIGKILL)"]
    paused = [t for t in client2.densities[0].times if 2.0 < t < 4.0]
    assert paused == []  # agency 2 had no acknowledgement while the server was frozen
    assert client2.counts["success"] == 305
    assert timeline.lane("client3").counts["unparsed"] == 2


@pytest.mark.parametrize(
    "stamp",
    ["2026-12-01T10:00:01.5Z", "2026-12-01T10:00:01.123456789Z", "2026-12-01T10:00:01Z", "2026-12-01T11:00:01+01:00"],
)
def test_any_docker_timestamp_reads_as_the_engine_reads_it(stamp: str) -> None:
    hub = LogHub()
    hub.add_line("server", f"{stamp} action: config | result: success")
    assert [line.time for line in timed_lines(hub)] == [engine_time(stamp)]


def test_harness_lines_say_what_happened_in_a_few_words() -> None:
    timeline = timeline_of(
        [
            ("harness", 1, "action: fault | result: success | kind: pause | service: server | phase: inject"),
            ("harness", 2, "action: fault | result: fail | kind: kill | service: client2 | phase: undo | error: x"),
            ("harness", 3, "action: signal | result: success | service: client1 | signal: SIGTERM"),
            ("harness", 4, "action: trial | result: in_progress | trial: 3 | seed: 99 | target: server"),
        ]
    )
    assert [m.label for m in timeline.lane("harness").marks] == [
        "pause server inject",
        "kill client2 undo failed",
        "SIGTERM -> client1",
        "trial in_progress trial 3 seed 99",
    ]


def test_a_killed_servers_connections_end_with_its_process_not_at_the_next_close() -> None:
    timeline = timeline_of(
        [
            ("server", 1, "action: accept_connections | result: success | ip: 10.0.0.2"),
            ("server", 5, "action: config | result: success"),  # started again
            ("server", 6, "action: accept_connections | result: success | ip: 10.0.0.2"),
            ("server", 8, "action: close_connection | result: success | ip: 10.0.0.2 | agencia: 1"),
        ],
        [ExitRecord("server", T0 + 0.5, T0 + 3, 137), ExitRecord("server", T0 + 4.5, T0 + 9, 0)],
    )
    connections = [
        (s.start, s.end, s.result, s.detail) for s in timeline.lane("server").spans if s.kind == "connection"
    ]
    assert connections == [
        (0.5, 2.5, "fail", "10.0.0.2: open when the process ended (exit 137)"),
        (5.5, 7.5, "success", "10.0.0.2: close_connection success"),
    ]


def test_lines_without_any_time_are_kept_at_time_zero() -> None:
    lines = timed_lines(parse_lines(["action: connect | result: success", "a stray line"], "client1"))
    assert [(line.time, line.text) for line in lines] == [
        (0.0, "action: connect | result: success"),
        (0.0, "a stray line"),
    ]
    assert [m.label for m in build_timeline(lines).lane("client1").marks] == ["connect success", "line"]
