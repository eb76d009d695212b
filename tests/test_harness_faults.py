"""The fault objects, the harness's timeline lines, exit reports and the malformed-input model, without Docker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from harness.badinput import CATEGORIES, RandomDraw, ServerModel, probe, random_probes, valid_batch
from harness.exits import describe_client_exit
from harness.faults import Disconnect, FaultError, Faults, Kill, Pause, Restart, harness_line
from harness.logs import EventLog, parse_line, parse_lines
from harness.logstream import LogHub
from harness.trials import kth_event
from protocol import AckStatus, ErrorCode, Finished, Ping, WinnersQuery, encode


class FakeCluster:
    """A ``FaultTarget``: the actions (recorded), ``note`` and ``faults``."""

    def __init__(self, failing: str = "") -> None:
        self.hub = LogHub()
        self.faults = Faults()
        self.calls: list[tuple[str, str]] = []
        self.failing = failing

    def note(self, action: str, result: str, *, at: datetime | None = None, **fields: object) -> None:
        self.hub.add_line("harness", harness_line(action, result, at=at, **fields))

    def _act(self, name: str, service: str) -> None:
        if name == self.failing:
            raise RuntimeError(f"engine says no to {name}")
        self.calls.append((name, service))

    def signal(self, service: str, signal: str) -> None:
        self._act(signal, service)

    def kill(self, service: str) -> None:
        self._act("kill", service)

    def wait_exit(self, service: str, timeout: float) -> int:
        return 137

    def start(self, *services: str) -> None:
        for service in services:
            self._act("start", service)

    def pause(self, service: str) -> None:
        self._act("pause", service)

    def unpause(self, service: str) -> None:
        self._act("unpause", service)

    def disconnect(self, service: str) -> None:
        self._act("disconnect", service)

    def reconnect(self, service: str) -> None:
        self._act("reconnect", service)

    def restart(self, service: str, grace: float) -> None:
        self._act("restart", service)

    def lines(self) -> list[str]:
        return [line.split("INFO     ", 1)[1] for line in self.hub.lines("harness")]


def test_a_harness_line_is_an_event_on_the_containers_clock() -> None:
    event = parse_line(harness_line("fault", "success", kind="pause", service="server", note="a | b\nc"), "harness")
    assert event is not None
    assert (event.service, event.action, event.result) == ("harness", "fault", "success")
    assert event.fields == {"kind": "pause", "service": "server", "note": "a / b c"}
    assert event.time is not None
    assert abs(event.time - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_pause_is_logged_and_healed_by_its_with_block() -> None:
    cluster = FakeCluster()
    with Pause("server").inject(cluster) as fault:
        assert fault.active and cluster.faults.active == [fault]
    assert not fault.active
    assert cluster.calls == [("pause", "server"), ("unpause", "server")]
    assert cluster.lines() == [
        "action: fault | result: success | kind: pause | service: server | phase: inject",
        "action: fault | result: success | kind: pause | service: server | phase: undo",
    ]
    fault.undo()  # a second undo does nothing
    assert len(cluster.calls) == 2


def test_teardown_heals_what_is_still_active_but_leaves_a_killed_service_down() -> None:
    cluster = FakeCluster()
    Disconnect("client2").inject(cluster)
    killed = Kill("client1").inject(cluster)
    assert cluster.faults.teardown() == []
    assert cluster.calls == [("disconnect", "client2"), ("kill", "client1"), ("reconnect", "client2")]
    assert not killed.active and cluster.faults.active == []
    assert "kind: kill | service: client1 | phase: teardown" in cluster.lines()[-2]


def test_kill_undo_starts_the_service_again_and_restart_is_not_left_active() -> None:
    cluster = FakeCluster()
    kill = Kill("server").inject(cluster)
    kill.undo()
    restart = Restart("server").inject(cluster)
    assert not restart.active
    assert cluster.calls == [("kill", "server"), ("start", "server"), ("restart", "server")]


def test_a_fault_the_engine_refuses_is_an_error_on_the_timeline() -> None:
    cluster = FakeCluster(failing="pause")
    with pytest.raises(FaultError, match="inject of pause on server failed: RuntimeError: engine says no"):
        Pause("server").inject(cluster)
    assert cluster.lines()[-1].startswith("action: fault | result: fail | kind: pause | service: server")
    assert cluster.faults.active == []


def test_a_fault_is_injected_once() -> None:
    cluster = FakeCluster()
    fault = Pause("server").inject(cluster)
    with pytest.raises(FaultError, match="injected already"):
        fault.inject(cluster)
    with pytest.raises(FaultError, match="inject it first"), Pause("client1"):
        pass


def test_the_report_of_a_dead_client_says_why_the_draw_waits() -> None:
    events = parse_lines("action: lote_confirmado | result: success | lote: 1 | cantidad: 5 | total: 5", "client2")
    text = describe_client_exit("client2", 137, events, ["client1", "client3"])
    assert text == (
        "client2 was killed by SIGKILL (exit 137); agency 2 never sent FINISHED, so the draw (it waits for "
        "every agency) cannot happen and client1, client3 would wait for their winners forever"
    )
    finished = parse_lines("action: finalizado | result: success | total: 5", "client2")
    assert describe_client_exit("client2", 1, finished, []) == "client2 failed (exit 1)"


def test_the_trial_trigger_counts_from_the_targets_first_line() -> None:
    lines = [
        ("server", "action: config | result: success"),
        ("harness", "action: trial | result: in_progress"),
        ("client1", "action: config | result: success"),
        ("server", "action: accept_connections | result: success"),
        ("client1", "action: connect | result: success"),
    ]
    log = EventLog()
    events = [event for service, line in lines if (event := log.feed(line, service)) is not None]
    assert len(events) == len(lines)
    fires = kth_event("client1", 2, ["client1"])
    assert [fires(event) for event in events] == [False, False, False, True, True]
    ends = kth_event("server", 99, ["client1"])
    done = log.feed("action: shutdown | result: success | reason: done", "client1")
    assert done is not None
    assert [ends(event) for event in events] == [False] * 5 and ends(done)


# -- the model of the server's answers to malformed input -------------------------------------


def test_the_model_on_hand_written_streams() -> None:
    draw = RandomDraw(random.Random(1))
    model = ServerModel(agencies=10)
    batch = valid_batch(draw, 5, 1)
    cases = {
        "truncated header": (batch[:7], [], ErrorCode.MALFORMED, False),
        "length over 8 kB": (batch[:8] + b"\xff\xff", [], ErrorCode.MALFORMED, True),
        "finished twice": (encode(Finished(5)) * 2, [("ACK", AckStatus.OK)], ErrorCode.UNEXPECTED_MESSAGE, False),
        "winners before finished": (encode(WinnersQuery(5)), [], ErrorCode.UNEXPECTED_MESSAGE, False),
        "agency mismatch": (batch + valid_batch(draw, 6, 1), [("ACK", AckStatus.OK)], ErrorCode.AGENCY_MISMATCH, True),
        "unknown agency": (valid_batch(draw, 11, 1), [], ErrorCode.UNEXPECTED_MESSAGE, True),
        "a ping then EOF": (encode(Ping(0, b"x")), [("PONG", 1)], None, False),
    }
    for name, (stream, replies, error, bets_logged) in cases.items():
        outcome = model.predict(stream)
        assert (outcome.replies, outcome.error, outcome.rejected_bets_logged) == (replies, error, bets_logged), name
    model.commit(model.predict(batch))  # stored once: the same batch again is a duplicate
    assert model.predict(batch).replies == [("ACK", AckStatus.DUPLICATE)]


def test_every_category_makes_malformed_streams() -> None:
    model = ServerModel()
    for category in CATEGORIES:
        outcomes = [model.predict(probe(RandomDraw(random.Random(seed)), 1000, category).stream) for seed in range(30)]
        assert sum(outcome.malformed for outcome in outcomes) >= 25, category
    assert [p.stream for p in random_probes(7, 20, 10)] == [p.stream for p in random_probes(7, 20, 10)]
