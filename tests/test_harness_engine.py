"""Engine operations and the log delivery, on stand-ins for the engine's objects: waiting on
several containers at once, an agency's unexpected exit in words, a wait that returns only once the
running containers' logs have reached the hub, and each swarm log line delivered once whichever way
it came (follower or catch-up read), named by task slot."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import requests
from docker.errors import APIError, NotFound

from harness import engine
from harness.cluster_errors import WaitTimeout
from harness.cluster_events import ClusterEvents
from harness.compose import ComposeSpec
from harness.exits import unexpected_exit
from harness.logs import parse_lines
from harness.logstream import LogHub
from harness.swarm import stack
from harness.swarm.engines import SwarmEngine
from harness.swarm.servicelogs import ServiceLogs, parse_details
from harness.swarm.tasks import StackTasks

REPO_ROOT = Path(__file__).resolve().parent.parent


class Ending:
    """A container whose ``wait`` answers once ``ended`` is set, as the SDK's does."""

    def __init__(self, code: int, error: Exception | None = None) -> None:
        self.code = code
        self.error = error
        self.ended = threading.Event()

    def wait(self, timeout: float) -> dict[str, int]:
        if self.error is not None:
            raise self.error
        if not self.ended.wait(timeout):
            raise requests.exceptions.ReadTimeout("read timed out")
        return {"StatusCode": self.code}

    def reload(self) -> None:
        self.attrs = {"State": {"Status": "exited" if self.ended.is_set() else "running", "ExitCode": self.code}}


class Unanswered(Ending):
    """An ended container whose wait the engine does not answer."""

    def wait(self, timeout: float) -> dict[str, int]:
        raise requests.exceptions.ReadTimeout("read timed out")


def containers(**found: Ending) -> Any:
    return found


def test_wait_exits_gives_each_exit_code_as_its_container_ends() -> None:
    first, second = Ending(0), Ending(3)
    waits = engine.wait_exits(containers(first=first, second=second), timeout=60)
    second.ended.set()
    assert next(waits) == ("second", 3)
    first.ended.set()
    assert next(waits) == ("first", 0)
    assert list(waits) == []


def test_wait_exits_gives_none_for_a_container_still_running_at_the_deadline() -> None:
    done, running = Ending(0), Ending(0)
    done.ended.set()
    assert dict(engine.wait_exits(containers(done=done, running=running), timeout=0.5)) == {"done": 0, "running": None}


def test_an_exit_the_wait_did_not_report_is_read_from_the_engines_record() -> None:
    ended = Unanswered(143)
    ended.ended.set()
    assert list(engine.wait_exits(containers(server=ended), timeout=0.2)) == [("server", 143)]


def test_wait_exits_raises_what_a_wait_raised() -> None:
    with pytest.raises(APIError, match="engine says no"):
        list(engine.wait_exits(containers(broken=Ending(0, APIError("engine says no"))), timeout=60))


def test_wait_exits_handles_ended_containers_in_parallel_before_yielding_them() -> None:
    """``then`` runs in each container's own wait: two slow handlers overlap instead of queueing."""
    first, second = Ending(0), Ending(0)
    both_inside = threading.Barrier(2, timeout=30)  # broken (an error) unless both handlers run at once
    handled: list[str] = []

    def then(name: str, container: Any) -> None:
        both_inside.wait()
        handled.append(name)

    first.ended.set()
    second.ended.set()
    assert dict(engine.wait_exits(containers(first=first, second=second), timeout=60, then=then)) == {
        "first": 0,
        "second": 0,
    }
    assert sorted(handled) == ["first", "second"]


def test_a_container_another_remover_is_removing_counts_as_not_removed_here() -> None:
    def remove_container(container_id: str, force: bool, v: bool) -> None:
        response = SimpleNamespace(status_code=409, reason="Conflict", url="/containers/abc")
        raise APIError(
            "409 Conflict", response=cast(Any, response), explanation="removal of container abc is already in progress"
        )

    client = SimpleNamespace(api=SimpleNamespace(remove_container=remove_container))
    assert engine.remove_container("abc", cast(Any, client)) == 0


class StuckNetwork:
    """A network the engine will not remove: "has active endpoints", none listed (the engine's bug)."""

    name = "lottery-abc_lottery"
    attrs: dict[str, Any] = {"Containers": {}}

    def remove(self) -> None:
        raise APIError("403 Forbidden", explanation=f"network {self.name} has active endpoints")

    def reload(self) -> None:
        pass


def test_a_network_the_engine_will_not_free_is_named_with_what_frees_it(monkeypatch) -> None:
    monkeypatch.setattr(engine, "NETWORK_REMOVE_TIMEOUT", 0.3)
    with pytest.raises(engine.NetworkLeftByEngine) as raised:
        engine.remove_network(StuckNetwork())
    assert "has active endpoints" in str(raised.value) and "restarting dockerd" in str(raised.value)


def test_sweep_removes_the_other_networks_before_saying_one_is_stuck(monkeypatch) -> None:
    removed: list[str] = []
    free = SimpleNamespace(name="free", remove=lambda: removed.append("free"))
    monkeypatch.setattr(engine, "NETWORK_REMOVE_TIMEOUT", 0.3)
    monkeypatch.setattr(engine, "container_ids", lambda labels, client: [])
    monkeypatch.setattr(engine, "networks", lambda labels, client: [StuckNetwork(), free])
    no_volumes = SimpleNamespace(volumes=SimpleNamespace(list=lambda filters: []))
    with pytest.raises(APIError, match="active endpoints"):
        engine.sweep({"lottery-harness.run": "abc"}, cast(Any, no_volumes))
    assert removed == ["free"]


def test_an_unexpected_exit_names_the_code_what_it_means_and_the_last_lines() -> None:
    events = parse_lines("action: lote_confirmado | result: success | lote: 1 | cantidad: 5 | total: 5", "client2")
    text = unexpected_exit("client2", 137, 0, events, ["client1"], ["last line"])
    assert text.startswith("clients exited with {'client2': 137}, expected 0: client2 was killed by SIGKILL (exit 137)")
    assert "agency 2 never sent FINISHED" in text and "client1 would wait for their winners forever" in text
    assert text.endswith("\nlast line")


def stack_spec(tmp_path: Path, shape: str) -> stack.StackSpec:
    compose = ComposeSpec(
        clients=2,
        project="lottery-abc",
        data_dir=tmp_path / "data",
        storage_dir=tmp_path / "storage",
        server_config=REPO_ROOT / "server" / "config.ini",
        client_config=REPO_ROOT / "client" / "config.yaml",
        labels={"lottery-harness.run": "abc"},
    )
    return stack.StackSpec(compose=compose, shape=shape)


def fake_swarm(tasks: list[dict[str, Any]], container_logs: bytes = b"") -> SwarmEngine:
    """A swarm whose manager lists ``tasks`` and whose (one) engine has ``container_logs``."""
    api = SimpleNamespace(tasks=lambda filters: tasks, logs=lambda container_id, **options: container_logs)
    return SwarmEngine(manager=cast(Any, SimpleNamespace(api=api)))


def service_line(task_id: str, timestamp: str, message: str) -> bytes:
    return f"{timestamp} com.docker.swarm.node.id=n1,com.docker.swarm.task.id={task_id} {message}".encode()


def test_a_line_from_the_follower_and_again_from_the_catch_up_read_is_delivered_once(tmp_path: Path) -> None:
    message = "2026-12-01 10:00:00 INFO     action: listen | result: success"
    task = {"ID": "t1", "ServiceID": "s1", "Slot": 1, "NodeID": "n1", "CreatedAt": "1", "Status": {}}
    task["Status"] = {"ContainerStatus": {"ContainerID": "c1"}}
    swarm = fake_swarm([task], container_logs=f"2026-12-01T10:00:00.1Z {message}\n".encode())
    tasks = StackTasks(stack_spec(tmp_path, stack.PER_AGENCY), lambda: swarm)
    tasks.service_ids["server"] = "s1"
    hub = LogHub()
    logs = ServiceLogs(hub, tasks, lambda: swarm)
    logs.deliver("server", service_line("t1", "2026-12-01T10:00:00.1Z", message))
    logs.catch_up({"server": task})
    assert hub.lines("server") == [message]
    assert hub.last_docker_timestamp("server") == "2026-12-01T10:00:00.1Z"


def test_a_replicated_clients_line_is_named_by_its_task_slot(tmp_path: Path) -> None:
    task = {"ID": "t7", "ServiceID": "s2", "Slot": 2, "NodeID": "n1", "CreatedAt": "1", "Status": {}}
    swarm = fake_swarm([task])
    tasks = StackTasks(stack_spec(tmp_path, stack.REPLICATED), lambda: swarm)
    tasks.service_ids[stack.REPLICATED_CLIENT] = "s2"
    hub = LogHub()
    ServiceLogs(hub, tasks, lambda: swarm).deliver(stack.REPLICATED_CLIENT, service_line("t7", "T", "hello"))
    assert hub.services() == ["client2"] and hub.lines("client2") == ["hello"]
    assert tasks.stack_service_of("client2") == (stack.REPLICATED_CLIENT, 2)


def test_service_log_details_are_key_value_pairs() -> None:
    details = parse_details("com.docker.swarm.node.id=n1,com.docker.swarm.task.id=t1")
    assert details == {"com.docker.swarm.node.id": "n1", "com.docker.swarm.task.id": "t1"}


DRAW = "2026-12-02T05:00:00.123456789Z action: sorteo | result: success"


def last_line(line: str) -> Callable[[], bytes]:
    """A running container's log, as the engine has it, ends with ``line``."""
    return lambda: line.encode()


class Events(ClusterEvents):
    def __init__(self) -> None:
        self.hub = LogHub()

    def _explain(self, what: str) -> str:
        return what


def test_a_wait_for_the_logs_returns_once_the_hub_has_the_engines_last_line() -> None:
    events = Events()
    events.hub.add_line("server", "2026-12-02T04:59:59.9Z action: apuesta_recibida | result: success")
    late = threading.Timer(0.2, events.hub.add_line, ("server", DRAW))  # the follower, lagging
    late.start()
    events._wait_logs_reached_hub({"server": last_line(DRAW + "\n")}, timeout=30)
    late.join()
    assert events.events().count("sorteo", "success") == 1


def test_a_log_that_does_not_arrive_is_named() -> None:
    events = Events()
    events.hub.add_line("server", "- harness: log stream ended: gone")  # not a stamp the wait could take
    with pytest.raises(WaitTimeout, match=r"the log of server up to 2026-12-02T05:00:00.123456789Z .*nothing"):
        events._wait_logs_reached_hub({"server": last_line(DRAW + "\n")}, timeout=0.2)


def test_a_long_line_stamped_piece_by_piece_counts_as_arrived() -> None:
    """The engine stamps each 16 KiB piece of a long line; the hub keeps it whole, under the first
    piece's stamp, and the engine's last line is the last piece."""
    events = Events()
    events.hub.add_line("server", "2026-12-02T05:00:00.1Z " + "x" * 16384 + "2026-12-02T05:00:00.2Z tail of it")
    events._wait_logs_reached_hub({"server": last_line("2026-12-02T05:00:00.2Z tail of it\n")}, timeout=5)


def test_nothing_is_awaited_for_an_empty_log_a_line_being_written_or_a_container_gone() -> None:
    def gone() -> bytes:
        raise NotFound("no such container")

    events = Events()  # each would raise WaitTimeout if it were awaited: the hub holds nothing
    events._wait_logs_reached_hub(
        {"server": last_line(""), "client1": last_line(DRAW), "client2": gone},
        timeout=5,
    )
