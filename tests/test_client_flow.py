"""``python -m client`` against a scripted fake server: batching, single bet, winners, resilience, failures."""

from __future__ import annotations

import itertools
import time
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
from helpers import (
    CLOSE,
    ClientProcess,
    FakeServer,
    Hold,
    LotteryBehaviour,
    Reply,
    agency_file_bets,
    client_env,
    free_port,
    write_agency_file,
)
from timing import scaled

from protocol import (
    MAX_FRAME_SIZE,
    Batch,
    BetData,
    Error,
    ErrorCode,
    Finished,
    Message,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    encode_bet,
)

AGENCY = 3


def assert_clean_success(client: ClientProcess, total: int) -> None:
    """Exit 0, the shutdown line last, ``total`` bets acknowledged, no traceback."""
    assert client.wait() == 0, client.output()
    assert "Traceback" not in client.output()
    assert client.lines[-1].endswith("action: shutdown | result: success | reason: done"), client.output()
    confirmed = client.events("lote_confirmado", "success")
    if confirmed:
        assert int(confirmed[-1]["total"]) == total
    assert client.events("finalizado", "success")[0]["total"] == str(total)


def received_bets(server: FakeServer) -> list[BetData]:
    """Every bet of every BATCH frame, in arrival order, each seq counted once."""
    seen: set[int] = set()
    bets: list[BetData] = []
    for message in server.messages(Batch):
        assert isinstance(message, Batch)
        if message.seq not in seen:
            seen.add(message.seq)
            bets.extend(message.bets)
    return bets


def test_batches_respect_max_amount_and_the_frame_limit(tmp_path: Path, stack: ExitStack) -> None:
    bets = agency_file_bets(400, long_every=37, long_name_chars=1300)  # some bets take ~4 kB
    data = write_agency_file(tmp_path / "agency.csv", bets)
    server = stack.enter_context(FakeServer(LotteryBehaviour(winners=("20000005", "20000017"))))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data, CLI_BATCH_MAXAMOUNT="60")))

    assert_clean_success(client, len(bets))
    frames = [r for r in server.received if isinstance(r.message, Batch)]
    batches = [r.message for r in frames if isinstance(r.message, Batch)]
    assert [b.seq for b in batches] == list(range(1, len(batches) + 1)), "each batch once, seqs 1, 2, 3..."
    assert all(len(r.frame) <= MAX_FRAME_SIZE for r in frames)
    assert all(1 <= len(b.bets) <= 60 for b in batches)
    assert all(b.agency == AGENCY for b in batches)
    assert [bet for b in batches for bet in b.bets] == bets, "every bet, in file order, none lost"
    # greedy packing: a batch ends only when the next bet would break a limit
    for record, following in itertools.pairwise(frames):
        next_bet = following.message.bets[0]
        assert len(record.message.bets) == 60 or len(record.frame) + len(encode_bet(next_bet)) > MAX_FRAME_SIZE
    assert any(len(b.bets) < 60 for b in batches[:-1]), "the 8 kB limit must have cut some batches"
    kinds = [type(r.message).__name__ for r in server.received]
    assert kinds == ["Batch"] * len(batches) + ["Finished", "WinnersQuery"]
    totals = [int(e["total"]) for e in client.events("lote_confirmado", "success")]
    assert totals == [sum(len(b.bets) for b in batches[: i + 1]) for i in range(len(batches))]
    winners = client.events("consulta_ganadores", "success")
    assert winners == [
        {"action": "consulta_ganadores", "result": "success", "cant_ganadores": "2", "dnis": "20000005,20000017"}
    ]
    config = client.events("config", "success")[0]
    assert (config["client_id"], config["server_address"], config["batch_max_amount"]) == (
        str(AGENCY),
        server.address,
        "60",
    )


def test_single_bet_mode(tmp_path: Path, stack: ExitStack) -> None:
    server = stack.enter_context(FakeServer(LotteryBehaviour(winners=())))
    env = client_env(AGENCY, server.address, tmp_path / "missing-{id}.csv")
    env.update(NOMBRE="Ñusta María", APELLIDO="Quispe Núñez", DOCUMENTO="30904465", NACIMIENTO="1999-03-17")
    env["NUMERO"] = "7574"
    client = stack.enter_context(ClientProcess(env))

    assert_clean_success(client, 1)
    singles = server.messages(SingleBet)
    assert len(singles) == 1
    assert singles[0].bet == BetData("Ñusta María", "Quispe Núñez", "30904465", date(1999, 3, 17), 7574)
    assert client.events("apuesta_enviada", "success") == [
        {"action": "apuesta_enviada", "result": "success", "dni": "30904465", "numero": "7574"}
    ]
    assert client.events("consulta_ganadores", "success")[0]["cant_ganadores"] == "0"
    assert client.events("consulta_ganadores", "success")[0]["dnis"] == ""


def test_not_ready_backs_off_then_multi_frame_winners(tmp_path: Path, stack: ExitStack) -> None:
    documents = [str(30_000_000 + i) for i in range(1500)]
    behaviour = LotteryBehaviour(winners=documents, not_ready=3, winners_per_frame=600)
    server = stack.enter_context(FakeServer(behaviour))
    data = write_agency_file(tmp_path / "agency.csv", agency_file_bets(5))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data)))

    assert_clean_success(client, 5)
    assert len(server.messages(WinnersQuery)) == 4
    waits = client.events("consulta_ganadores", "in_progress")
    assert [w["intento"] for w in waits] == ["1", "2", "3"]
    assert all(0 < float(w["retry_in"]) <= 0.1 for w in waits)
    answer = client.events("consulta_ganadores", "success")[0]
    assert answer["cant_ganadores"] == "1500"
    assert answer["dnis"].split(",") == documents


def test_server_not_up_yet(tmp_path: Path, stack: ExitStack) -> None:
    port = free_port()
    bets = agency_file_bets(10)
    data = write_agency_file(tmp_path / "agency.csv", bets)
    client = stack.enter_context(ClientProcess(client_env(AGENCY, f"127.0.0.1:{port}", data)))
    client.wait_for_events("connect", "in_progress", count=2)  # the server is not up yet: retries
    server = stack.enter_context(FakeServer(LotteryBehaviour(), port=port))

    assert_clean_success(client, len(bets))
    # Retrying while the server starts is the normal start, not a failure: no `result: fail` line.
    assert client.events("connect", "fail") == []
    retries = client.events("connect", "in_progress")
    assert len(retries) >= 2
    assert all(float(r["retry_in"]) <= 0.1 and "refused" in r["error"] for r in retries), retries
    assert client.events("connect", "success") == [
        {"action": "connect", "result": "success", "server_address": server.address}
    ]
    assert received_bets(server) == bets


def test_gives_up_after_the_connect_deadline(tmp_path: Path, stack: ExitStack) -> None:
    data = write_agency_file(tmp_path / "agency.csv", agency_file_bets(3))
    env = client_env(AGENCY, f"127.0.0.1:{free_port()}", data, CLI_CONNECT_DEADLINE="0.4")
    started = time.monotonic()
    client = stack.enter_context(ClientProcess(env))
    assert client.wait() == 1
    assert time.monotonic() - started < scaled(3)
    last = client.lines[-1]
    assert "action: connect | result: fail | error: " in last and "giving up" in last, client.output()
    assert "Traceback" not in client.output()


class DropsConnections(LotteryBehaviour):
    """Conn 1: stores batch 2 and hangs up before its ACK. Conn 2: hangs up on batch 4 before storing it.
    Conn 3: records FINISHED, hangs up before its ACK. Conn 4: hangs up in the middle of the winners."""

    def respond(self, connection: int, message: Message) -> list[Reply]:
        if connection == 1 and isinstance(message, Batch) and message.seq == 2:
            self.store(message)
            return [CLOSE]
        if connection == 2 and isinstance(message, Batch) and message.seq == 4:
            return [CLOSE]
        if connection == 3 and isinstance(message, Finished):
            self.store(message)
            return [CLOSE]
        if connection == 4 and isinstance(message, WinnersQuery):
            self.queries += 1
            return [Winners(message.agency, WinnersStatus.READY_MORE, ("1",)), CLOSE]
        return super().respond(connection, message)


def test_resumes_after_dropped_connections(tmp_path: Path, stack: ExitStack) -> None:
    bets = agency_file_bets(50)
    data = write_agency_file(tmp_path / "agency.csv", bets)
    server = stack.enter_context(FakeServer(DropsConnections(winners=("20000001", "20000002"))))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data, CLI_BATCH_MAXAMOUNT="8")))

    assert_clean_success(client, len(bets))
    assert server.connections == 5
    assert server.behaviour.stored_bets() == bets, "every bet stored exactly once, in order"
    batch_frames = [r for r in server.received if isinstance(r.message, Batch)]
    seq2 = [r for r in batch_frames if r.message.seq == 2]
    assert [r.connection for r in seq2] == [1, 2] and seq2[0].frame == seq2[1].frame, "same batch, same seq"
    assert [r.connection for r in batch_frames if r.message.seq == 4] == [2, 3]
    assert [r.message.seq for r in batch_frames] == [1, 2, 2, 3, 4, 4, 5, 6, 7]
    confirmed = client.events("lote_confirmado", "success")
    assert [e["lote"] for e in confirmed] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [e["ack"] for e in confirmed] == ["OK", "DUPLICATE", "OK", "OK", "OK", "OK", "OK"]
    assert [r.connection for r in server.received if isinstance(r.message, Finished)] == [3, 4]
    assert client.events("consulta_ganadores", "success")[0]["dnis"] == "20000001,20000002"
    assert len(client.events("connect", "success")) == 5
    assert len([e for e in client.events("connect", "fail") if "connection lost" in e["error"]]) == 4


class StallsThenShutsDown(LotteryBehaviour):
    """Conn 1: stores batch 1 but answers only after the client's read timeout.
    Conn 2: answers batch 2 with ERROR SHUTTING_DOWN (retry, not a refusal)."""

    def respond(self, connection: int, message: Message) -> list[Reply]:
        if connection == 1 and isinstance(message, Batch):
            self.store(message)
            return [Hold(3.0), *super().respond(connection, message)]
        if connection == 2 and isinstance(message, Batch) and message.seq == 2:
            return [Error(message.agency, ErrorCode.SHUTTING_DOWN, "restarting"), CLOSE]
        return super().respond(connection, message)


def test_reply_timeout_and_shutting_down_are_retried(tmp_path: Path, stack: ExitStack) -> None:
    bets = agency_file_bets(6)
    data = write_agency_file(tmp_path / "agency.csv", bets)
    server = stack.enter_context(FakeServer(StallsThenShutsDown()))
    env = client_env(AGENCY, server.address, data, CLI_BATCH_MAXAMOUNT="3", CLI_READ_TIMEOUT="0.3")
    client = stack.enter_context(ClientProcess(env))

    assert_clean_success(client, len(bets))
    assert server.behaviour.stored_bets() == bets
    errors = [e["error"] for e in client.events("connect", "fail")]
    assert any("no reply within 0.3 s" in error for error in errors), errors
    assert any("SHUTTING_DOWN: restarting" in error for error in errors), errors
    assert [e["ack"] for e in client.events("lote_confirmado", "success")] == ["DUPLICATE", "OK"]


class RejectsBatch2(LotteryBehaviour):
    def respond(self, connection: int, message: Message) -> list[Reply]:
        if isinstance(message, Batch) and message.seq == 2:
            return [Error(message.agency, ErrorCode.INVALID_BET, "bet 3: bad | odd\nreason")]
        return super().respond(connection, message)


def test_error_reply_to_a_batch_exits_1(tmp_path: Path, stack: ExitStack) -> None:
    data = write_agency_file(tmp_path / "agency.csv", agency_file_bets(10))
    server = stack.enter_context(FakeServer(RejectsBatch2()))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data, CLI_BATCH_MAXAMOUNT="4")))

    assert client.wait() == 1, client.output()
    assert client.events("lote_confirmado", "fail") == [
        {
            "action": "lote_confirmado",
            "result": "fail",
            "lote": "2",
            "cantidad": "4",
            "error": "INVALID_BET: bet 3: bad / odd reason",
        }
    ]
    assert client.lines[-1] == client.lines[-1].rstrip() and "lote_confirmado | result: fail" in client.lines[-1]
    assert not server.messages(Finished)
    assert len(server.messages(Batch)) == 2
    assert "Traceback" not in client.output()


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("Ana,Ruíz,123,1990-01-02", "expected 5 fields"),
        ("Ana,Ruíz,123,1990-02-30,5", "birthdate '1990-02-30'"),
        ("Ana,Ruíz,123,1990-01-02,cinco", "number 'cinco'"),
        ("Ana,Ruíz,12.3,1990-01-02,5", "document '12.3'"),
    ],
)
def test_malformed_row_exits_1_with_its_line(tmp_path: Path, stack: ExitStack, bad_row: str, message: str) -> None:
    bets = agency_file_bets(5)
    data = write_agency_file(tmp_path / "agency.csv", bets, extra_rows=[bad_row, "Ok,Row,1,2000-01-01,1"])
    server = stack.enter_context(FakeServer(LotteryBehaviour()))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data, CLI_BATCH_MAXAMOUNT="2")))

    assert client.wait() == 1, client.output()
    failures = client.events("leer_apuestas", "fail")
    assert len(failures) == 1 and failures[0]["linea"] == "6", client.output()
    assert message in failures[0]["error"]
    assert received_bets(server) == bets[:4], "the batches before the bad row, never the one holding it"
    assert not server.messages(Finished)
    assert "Traceback" not in client.output()


def test_empty_agency_file_still_finishes(tmp_path: Path, stack: ExitStack) -> None:
    data = tmp_path / "agency.csv"
    data.write_bytes(b"")
    server = stack.enter_context(FakeServer(LotteryBehaviour(winners=("1",))))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, data)))

    assert_clean_success(client, 0)
    assert [type(m).__name__ for m in server.messages()] == ["Finished", "WinnersQuery"]


class HangsUpAtOnce(LotteryBehaviour):
    def respond(self, connection: int, message: Message) -> list[Reply]:
        return [CLOSE]


def test_a_server_that_always_hangs_up_cannot_hold_the_client_forever(tmp_path: Path, stack: ExitStack) -> None:
    data = write_agency_file(tmp_path / "agency.csv", agency_file_bets(3))
    server = stack.enter_context(FakeServer(HangsUpAtOnce()))
    env = client_env(AGENCY, server.address, data, CLI_CONNECT_DEADLINE="0.5")
    client = stack.enter_context(ClientProcess(env))

    assert client.wait() == 1, client.output()
    assert "giving up" in client.lines[-1], client.output()
    assert server.connections >= 3
    assert not client.events("lote_confirmado")
