"""Start-up errors, graceful shutdown (idle, mid-traffic, with held queries) and worker replacement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import REPO_ROOT, ServerPool, ServerProcess, lottery_bets, stored_rows, wait_until
from timing import scaled

from harness.store import as_rows
from protocol import Ack, AckStatus, Batch, PeerClosed, Ping, Pong, WinnersQuery, recv_message, send_message

SHUTDOWN_LINE = "action: shutdown | result: success"


def assert_clean_shutdown(server: ServerProcess, sig: int = signal.SIGTERM, within: float = 4.0) -> None:
    code, took = server.terminate(sig)
    assert code == 0, server.output()
    assert took < scaled(within)
    lines = server.lines()
    assert lines[-1].endswith(SHUTDOWN_LINE), lines[-5:]
    assert sum(SHUTDOWN_LINE in line for line in lines) == 1
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_server_stops_cleanly(servers: ServerPool, sig: int) -> None:
    server = servers.start(WORKERS=3)
    with server.agency(1) as client:
        assert client.request(Ping(1)) == Pong(1)
        assert_clean_shutdown(server, sig)
        assert client.sock.recv(1) == b""  # closed without a word
    assert len(server.events("worker_stop", "success")) == 3
    assert len(server.events("close_connection", "success")) == 1


def test_sigterm_mid_traffic_loses_and_duplicates_no_acknowledged_bet(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=10, WORKERS=2)
    agencies = range(1, 7)
    bets = {agency: lottery_bets(agency, 2000, seed=3).bets for agency in agencies}
    acked: dict[int, int] = dict.fromkeys(agencies, 0)  # bets acknowledged, in order
    started = threading.Barrier(len(agencies) + 1, timeout=10)

    def send(agency: int) -> None:
        with server.agency(agency) as client:
            started.wait()
            try:
                for offset in range(0, len(bets[agency]), 5):
                    ack = client.request(Batch(agency, 1 + offset // 5, tuple(bets[agency][offset : offset + 5])))
                    assert ack == Ack(agency, AckStatus.OK, 5)
                    acked[agency] += 5
            except (OSError, PeerClosed):
                pass  # the server went away mid-conversation (reset, or closed between two frames): expected

    threads = [threading.Thread(target=send, args=(agency,)) for agency in agencies]
    for thread in threads:
        thread.start()
    started.wait()
    wait_until(lambda: sum(acked.values()) >= 300, 10, "some traffic")
    assert_clean_shutdown(server)
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)

    rows = stored_rows(server.storage_path)
    ledger = (server.storage_path.parent / "bets.csv.batches").read_text().splitlines()
    assert len(rows) == sum(int(line.split(",")[2]) for line in ledger), "a batch was half stored"
    for agency in agencies:
        mine = [row for row in rows if row[0] == agency]
        # the acknowledged ones, plus at most the one batch stored while its ACK was lost
        assert mine[: acked[agency]] == as_rows(agency, bets[agency][: acked[agency]])
        assert len(mine) in (acked[agency], acked[agency] + 5)

    # after a restart, resending everything stores each bet exactly once
    again = servers.start(AGENCIES=10, WORKERS=2)
    for agency in agencies:
        with again.agency(agency) as client:
            client.send_batches(bets[agency], 5)
    rows = stored_rows(again.storage_path)
    assert sorted(rows) == sorted(row for agency in agencies for row in as_rows(agency, bets[agency]))


def test_sigterm_with_held_queries(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=5, WORKERS=2, WINNERS_HOLD=30, LOGGING_LEVEL="DEBUG")
    clients = [server.agency(agency) for agency in (1, 2, 3)]
    try:
        for client in clients:
            client.send_batches(lottery_bets(client.agency, 5).bets, 5)
            client.finish()
            send_message(client.sock, WinnersQuery(client.agency))
        server.wait_for("estado: retenida", count=3)  # the server holds all three queries
        assert_clean_shutdown(server)  # well before WINNERS_HOLD
        for client in clients:
            assert client.sock.recv(1) == b""  # nothing more was sent
    finally:
        for client in clients:
            client.close()
    assert len(server.events("close_connection", "success")) == 3
    held = server.events("consulta_ganadores")
    assert sorted(held) == [  # parked, then neither answered READY nor NOT_READY: just closed
        f"action: consulta_ganadores | result: in_progress | agencia: {agency} | estado: retenida"
        for agency in (1, 2, 3)
    ]


def test_a_dead_worker_is_replaced(servers: ServerPool) -> None:
    server = servers.start(WORKERS=2)
    pids = [int(line.rsplit("pid: ", 1)[1]) for line in server.events("worker_start", "success")]
    os.kill(pids[0], signal.SIGKILL)
    server.wait_for("action: worker_restart | result: success", timeout=5)
    assert server.events("worker_exit", "fail")
    for agency in range(1, 6):  # whichever worker accepts, it works
        with server.agency(agency) as client:
            assert client.request(Ping(agency)) == Pong(agency)
    assert_clean_shutdown(server)


def run_with_config(tmp_path: Path, config_text: str | None, **env: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.ini"
    if config_text is not None:
        config.write_text(config_text)
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("SERVER_", "AGENCIES"))}
    environ.update(SERVER_CONFIG=str(config), STORAGE_PATH=str(tmp_path / "bets.csv"), **env)
    return subprocess.run(
        [sys.executable, "-m", "server"], cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=10
    )


@pytest.mark.parametrize(
    ("config_text", "env"),
    [
        (None, {}),
        ("not an ini file\n", {}),
        ("[DEFAULT]\nSERVER_IP = 127.0.0.1\n", {}),
        ((REPO_ROOT / "server" / "config.ini").read_text(), {"SERVER_PORT": "eighty"}),
        ((REPO_ROOT / "server" / "config.ini").read_text(), {"AGENCIES": "-1"}),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, config_text: str | None, env: dict[str, str]) -> None:
    result = run_with_config(tmp_path, config_text, **env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "config" in result.stderr
    assert "Traceback" not in result.stderr


def test_recv_helper_sees_the_close_after_shutdown(servers: ServerPool) -> None:
    server = servers.start()
    with server.agency(1) as client:
        assert client.request(Ping(1, b"a")) == Pong(1, b"a")
        server.terminate()
        with pytest.raises(Exception):  # noqa: B017 - PeerClosed or a reset, depending on timing
            recv_message(client.sock)
