"""Faults in real containers: no acknowledged bet is lost, none duplicated, whatever breaks.

Each fault is injected on a log event (agency 2's 3rd acknowledged batch), never after a
sleep, and healed by an event too; harness.faults logs it on the cluster's timeline.
The agencies are slowed by configuration, not by data volume: batches of 5 bets and a pause of
0.2 s between batches (`batch.pause`), so agency 2's 40 batches take ~8 s and the fault, ~7 s
before its last batch, always lands while it is still sending.
"""

import os
import subprocess
import sys
import time

import pytest

from harness.assertions import (
    assert_acknowledged_bets_stored,
    assert_all_bets_stored,
    assert_graceful_exit,
    assert_winners,
)
from harness.cluster_errors import ClusterError
from harness.engine import docker_client
from harness.faults import Disconnect, Kill, Pause
from harness.logs import where

pytestmark = pytest.mark.scenario

BATCH = 5
FAST_RETRIES = {
    "CLI_BATCH_MAXAMOUNT": str(BATCH),
    "CLI_BATCH_PAUSE": "0.2",  # the throttle that keeps agencies 2 and 3 sending for ~8 s
    "CLI_BACKOFF_INITIAL": "0.05",
    "CLI_BACKOFF_MAX": "0.5",
}
AGENCY_2_THIRD_BATCH = where("lote_confirmado", "success", service="client2", lote=3)


@pytest.fixture
def data(agency_data):
    """Agency 1 finishes at once (2 batches), agencies 2 and 3 send 40 throttled batches each."""
    return agency_data(agencies=3, bets={1: 10, 2: 200, 3: 200}, winners={1: 1, 2: 2, 3: 1})


def test_sigkill_a_client_mid_batch(cluster, data, harness_figures):
    # The kill reacts to agency 2's 3rd acknowledgement through the log stream and the engine's
    # API; the throttle leaves it ~7 s before agency 2's last batch.
    with cluster(clients=3, data=data, client_env=FAST_RETRIES) as c:
        mark = c.mark()
        kill = c.inject(Kill("client2"), after=AGENCY_2_THIRD_BATCH)

        c.wait_for(where("close_connection", service="server", agencia=2), timeout=10, since=mark)
        for other in ("client1", "client3"):
            c.wait_for(where("finalizado", "success", service=other), timeout=60)
        assert c.events().first("finalizado", service="client2") is None, "the kill came too late"
        assert c.events().count("sorteo") == 0, "the draw must wait for agency 2"
        assert c.status("client1") == c.status("client3") == "running"

        started = time.monotonic()
        with pytest.raises(ClusterError, match=r"client2 was killed by SIGKILL \(exit 137\).*never sent FINISHED"):
            c.wait_exit_all_clients(timeout=60)
        assert time.monotonic() - started < 10, "the dead agency must be reported at once, not after the timeout"

        acknowledged = assert_acknowledged_bets_stored(c, data)
        stored = sum(1 for bet in c.read_store() if bet.agency == 2)
        assert stored % BATCH == 0, f"{stored} rows of agency 2: a partial batch"
        assert acknowledged[2] <= stored <= acknowledged[2] + BATCH
        assert kill.active  # still down: the cluster's teardown leaves a killed service as it is
        harness_figures.add("faults survived (scenarios)")


def test_sigkill_the_server_and_start_it_again(cluster, data, harness_figures):
    with cluster(clients=3, data=data, client_env=FAST_RETRIES) as c:
        c.wait_for(where("agencia_finalizada", "success", service="server", agencia=1), timeout=60)
        kill = c.inject(Kill("server"), after=AGENCY_2_THIRD_BATCH)
        before = c.events()
        finished_before = before.count("agencia_finalizada", "success", service="server")
        acknowledged_before = before.acknowledged_by_agency()
        mark = c.mark()
        kill.undo()  # start it again: the clients reconnect within their back-off

        recovery = c.wait_for(where("recuperacion", "success", service="server"), timeout=30, since=mark)
        assert recovery.int_field("agencias_finalizadas") == finished_before >= 1
        assert recovery.int_field("apuestas") >= sum(acknowledged_before.values())

        c.wait_exit_all_clients(timeout=90)
        assert_winners(c.events(), data.expected_winners)  # agency 1 never sent FINISHED again
        assert_acknowledged_bets_stored(c, data)
        assert_all_bets_stored(c, data)
        assert c.events().count("sorteo", "success") == 1
        assert any(c.events().first("connect", "fail", service=s) for s in c.client_services)
        harness_figures.add("faults survived (scenarios)")


def test_pause_the_server_longer_than_the_clients_read_timeout(cluster, data, harness_figures):
    client_env = {**FAST_RETRIES, "CLI_READ_TIMEOUT": "1"}
    with cluster(clients=3, data=data, client_env=client_env) as c:
        mark = c.mark()
        with c.inject(Pause("server"), after=AGENCY_2_THIRD_BATCH):
            for client in c.client_services:  # every client times out and retries while it is frozen
                c.wait_for(where("connect", "fail", service=client), timeout=15, since=mark)
        timeouts = c.events().filter("connect", "fail")
        assert any("no reply within 1 s" in (e.get("error") or "") for e in timeouts)

        c.wait_exit_all_clients(timeout=90)
        assert_winners(c.events(), data.expected_winners)
        assert_acknowledged_bets_stored(c, data)
        assert_all_bets_stored(c, data)
        harness_figures.add("faults survived (scenarios)")


def test_cut_a_client_off_the_network_mid_batch(cluster, data, harness_figures):
    read_timeout = 2
    client_env = {**FAST_RETRIES, "CLI_READ_TIMEOUT": "2"}
    with cluster(clients=3, data=data, client_env=client_env, server_env={"READ_TIMEOUT": str(read_timeout)}) as c:
        mark = c.mark()
        with c.inject(Disconnect("client2"), after=AGENCY_2_THIRD_BATCH):
            # Counted from here, when the engine has cut it off: while that call is under way (slow
            # on a loaded engine) client2 may still get frames through, and the idle clock restarts.
            cut_off = time.monotonic()
            freed = c.wait_for(where("connection", "fail", service="server", agencia=2), timeout=10, since=mark)
            elapsed = time.monotonic() - cut_off
        assert elapsed <= read_timeout + 1.5, f"the server held a dead connection {elapsed:.1f}s"
        assert "idle" in freed.get("error") or "stalled" in freed.get("error")

        c.wait_exit_all_clients(timeout=90)
        assert_winners(c.events(), data.expected_winners)
        assert_acknowledged_bets_stored(c, data)
        assert_all_bets_stored(c, data)
        assert_graceful_exit(c, "client2", grace=1)
        harness_figures.add("faults survived (scenarios)")


def test_harness_run_reports_a_killed_agency_instead_of_hanging(tmp_path, harness_images, harness_figures):
    """`harness run` with agency 2 SIGKILLed as soon as it runs: the CLI stops at once and says why."""
    state = tmp_path / "state"
    env = {**os.environ, "HARNESS_STATE_DIR": str(state)}
    command = [sys.executable, "-m", "harness", "run", "--clients", "3", "--bets", "20000", "--timeout", "120"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client2 = wait_for_container(f"{state.resolve()}/", "client2", timeout=120)
        client2.kill(signal="SIGKILL")
        started = time.monotonic()
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        subprocess.run([sys.executable, "-m", "harness", "down", "--all"], env=env, timeout=120, check=False)
    assert time.monotonic() - started < 30, "the CLI must stop as soon as an agency dies"
    assert run.returncode == 1, stdout + stderr
    report = " ".join(stderr.split())
    assert "client2 was killed by SIGKILL (exit 137); agency 2 never sent FINISHED" in report, stderr
    assert "would wait for their winners forever" in report
    harness_figures.add("faults survived (scenarios)")


def wait_for_container(workdir_prefix: str, service: str, timeout: float):
    """The running container of ``service`` in the compose project whose folder starts with the prefix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for container in docker_client().containers.list(
            ignore_removed=True, filters={"label": f"com.docker.compose.service={service}"}
        ):
            if container.labels.get("com.docker.compose.project.working_dir", "").startswith(workdir_prefix):
                return container
        time.sleep(0.05)  # another process starts it: poll the engine
    pytest.fail(f"no running {service} under {workdir_prefix} within {timeout}s")
