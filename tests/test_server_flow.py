"""Whole conversations against a real ``python -m server``: draw, winners, restarts."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import ServerPool, ServerProcess, lottery_bets, stored_rows

from harness.store import as_rows
from protocol import (
    Ack,
    AckStatus,
    Batch,
    Error,
    ErrorCode,
    Finished,
    Ping,
    Pong,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    recv_message,
    send_message,
)


def run_agencies(
    server: ServerProcess, agencies: list[int], bets_per_agency: int, batch_size: int
) -> dict[int, list[str]]:
    """Every agency's whole conversation in its own thread; returns the winners each received."""
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def one(agency: int) -> None:
        try:
            with server.agency(agency) as client:
                results[agency] = client.run(lottery_bets(agency, bets_per_agency).bets, batch_size)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(agency,)) for agency in agencies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "an agency never finished"
    assert not errors, errors[:3]
    return results


@pytest.mark.parametrize("agencies", [3, 5])
def test_full_conversation_gives_each_agency_exactly_its_winners(servers: ServerPool, agencies: int) -> None:
    server = servers.start(AGENCIES=agencies, WORKERS=2)
    ids = list(range(1, agencies + 1))
    winners = run_agencies(server, ids, bets_per_agency=120, batch_size=17)

    for agency in ids:
        assert winners[agency] == lottery_bets(agency, 120).winners
        assert winners[agency], "the generated data should give every agency some winners"
    expected_rows = sorted(row for agency in ids for row in as_rows(agency, lottery_bets(agency, 120).bets))
    assert sorted(stored_rows(server.storage_path)) == expected_rows  # each exactly once
    total_winners = sum(len(documents) for documents in winners.values())
    (sorteo,) = server.events("sorteo", "success")
    assert sorteo.endswith(f"ganadores: {total_winners}")
    assert len(server.events("agencia_finalizada", "success")) == agencies
    assert len(server.events("apuesta_recibida", "success")) == agencies * 8  # ceil(120 / 17)
    code, _ = server.terminate()
    assert code == 0


def test_winners_query_before_the_draw_is_held_then_not_ready(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=2, WINNERS_HOLD=0.4, LOGGING_LEVEL="DEBUG")
    with server.agency(1) as first:
        first.send_batches(lottery_bets(1, 20).bets, 10)
        assert first.finish() == Ack(1, AckStatus.OK, 20)
        started = time.monotonic()
        answer = first.query_winners()
        assert answer == Winners(1, WinnersStatus.NOT_READY)
        assert time.monotonic() - started >= 0.4 - 0.05  # held for WINNERS_HOLD, not answered at once
        assert len(server.events("consulta_ganadores", "in_progress")) == 2  # held, then NOT_READY
        assert first.request(Ping(1, b"still alive")) == Pong(1, b"still alive")


def test_a_held_query_is_answered_by_the_draw(servers: ServerPool) -> None:
    """The query is parked (the server says so) and the last agency's FINISHED wakes it with
    READY: with a 60 s hold and a 10 s socket timeout, only the draw can have answered it."""
    server = servers.start(AGENCIES=2, WINNERS_HOLD=60, LOGGING_LEVEL="DEBUG")
    with server.agency(1) as first, server.agency(2) as second:
        first.send_batches(lottery_bets(1, 20).bets, 10)
        first.finish()
        second.send_batches(lottery_bets(2, 5).bets, 5)
        send_message(first.sock, WinnersQuery(1))
        server.wait_for("action: consulta_ganadores | result: in_progress | agencia: 1 | estado: retenida")
        second.finish()
        ready = recv_message(first.sock)
        assert isinstance(ready, Winners) and ready.status is WinnersStatus.READY
        assert list(ready.documents) == lottery_bets(1, 20).winners
    (held,) = server.events("consulta_ganadores", "in_progress")  # held once, never answered NOT_READY
    assert "estado: retenida" in held


def test_single_bets_ping_and_conversation_rules(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=2)
    bet = lottery_bets(1, 1).bets[0]
    with server.agency(1) as client:
        assert client.request(Ping(0, b"")) == Pong(0, b"")
        assert client.request(SingleBet(1, bet)) == Ack(1, AckStatus.OK, 1)
        assert client.request(SingleBet(1, bet)) == Ack(1, AckStatus.OK, 1)  # no key: no dedup
        answer = client.request(WinnersQuery(1))
        assert isinstance(answer, Error) and answer.code is ErrorCode.UNEXPECTED_MESSAGE
    with server.agency(2) as client:
        assert client.request(Ping(6)) == Pong(6)  # a PING does not fix the connection's agency
        assert client.request(SingleBet(2, bet)) == Ack(2, AckStatus.OK, 1)
        answer = client.request(Batch(6, 1, (bet,)))
        assert isinstance(answer, Error) and answer.code is ErrorCode.AGENCY_MISMATCH
    with server.agency(1) as client:
        assert client.finish() == Ack(1, AckStatus.OK, 2)
        answer = client.request(Batch(1, 1, (bet,)))
        assert isinstance(answer, Error) and answer.code is ErrorCode.UNEXPECTED_MESSAGE
    with server.agency(1) as client:
        assert client.finish() == Ack(1, AckStatus.DUPLICATE, 2)  # finished on an earlier connection
        answer = client.request(Finished(1))
        assert isinstance(answer, Error) and "twice" in answer.reason
    with server.agency(4) as client:  # only agencies 1..AGENCIES take part: a 4th cannot finish nor bet
        answer = client.request(Finished(4))
        assert isinstance(answer, Error) and "not one of the 2 agencies" in answer.reason
    with server.agency(4) as client:
        answer = client.request(Batch(4, 1, (bet,)))
        assert isinstance(answer, Error) and "not one of the 2 agencies" in answer.reason
    with server.agency(0) as client:
        answer = client.request(SingleBet(0, bet))
        assert isinstance(answer, Error) and answer.code is ErrorCode.UNEXPECTED_MESSAGE
    assert server.events("sorteo") == []  # agency 4's FINISHED did not count
    assert len(server.events("apuesta_almacenada", "success")) == 3
    assert len(server.events("apuesta_recibida", "fail")) == 4
    assert len(stored_rows(server.storage_path)) == 3


def test_hundred_agencies_on_two_workers(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=100, WORKERS=2, WINNERS_HOLD=1.0)
    ids = list(range(1, 101))
    winners = run_agencies(server, ids, bets_per_agency=30, batch_size=8)
    for agency in ids:
        assert winners[agency] == lottery_bets(agency, 30).winners
    assert len(stored_rows(server.storage_path)) == 100 * 30
    assert len(server.events("sorteo", "success")) == 1
    assert len(server.events("consulta_ganadores", "success")) == 100
    lines = server.lines()  # one stdout for every worker: the order they wrote in
    draw_at = next(i for i, line in enumerate(lines) if "action: sorteo | result: success" in line)
    answered_at = [i for i, line in enumerate(lines) if "action: consulta_ganadores | result: success" in line]
    assert min(answered_at) > draw_at, "a worker answered winners before the draw was logged"


def test_restart_keeps_batches_finished_agencies_and_the_draw(servers: ServerPool) -> None:
    bets = {agency: lottery_bets(agency, 40).bets for agency in (1, 2)}
    first = servers.start(AGENCIES=2)
    with first.agency(1) as client:
        client.send_batches(bets[1][:20], 10)
        assert client.finish().status is AckStatus.OK
    with first.agency(2) as client:
        client.send_batches(bets[2][:20], 10)  # batches 1 and 2 of 4
    assert first.terminate()[0] == 0

    second = servers.start(AGENCIES=2)
    assert "apuestas: 40 | lotes: 4 | agencias_finalizadas: 1" in second.events("recuperacion", "success")[0]
    with second.agency(2) as client:
        acks = client.send_batches(bets[2], 10)  # a client that restarted resends everything
        assert [ack.status for ack in acks] == [AckStatus.DUPLICATE] * 2 + [AckStatus.OK] * 2
        assert client.finish() == Ack(2, AckStatus.OK, 40)
        assert client.winners() == lottery_bets(2, 40).winners
    with second.agency(1) as client:
        assert client.finish() == Ack(1, AckStatus.DUPLICATE, 20)  # survived the restart
        assert client.winners() == [bet.document for bet in bets[1][:20] if bet.number == 7574]
    assert len(second.events("lote_duplicado", "success")) == 2
    assert len(second.events("sorteo", "success")) == 1
    assert second.terminate()[0] == 0

    third = servers.start(AGENCIES=2)
    assert "agencias_finalizadas: 2" in third.events("recuperacion", "success")[0]
    assert any("WARNING" in line and "holds a completed draw" in line for line in third.lines())
    assert not any("holds a completed draw" in line for line in second.lines())  # no draw yet then
    with third.agency(2) as client:
        assert client.finish().status is AckStatus.DUPLICATE
        assert client.query_winners() == lottery_bets(2, 40).winners  # READY at once: the draw was done
    assert third.events("sorteo") == []  # not drawn (nor logged) again
    assert sorted(stored_rows(third.storage_path)) == sorted(as_rows(1, bets[1][:20]) + as_rows(2, bets[2]))


def test_restart_cuts_an_unacknowledged_tail(servers: ServerPool) -> None:
    first = servers.start()
    with first.agency(1) as client:
        client.send_batches(lottery_bets(1, 10).bets, 5)
    assert first.terminate()[0] == 0
    size = first.storage_path.stat().st_size
    with open(first.storage_path, "a", encoding="utf-8") as file:
        file.write("1,Half,Written,123,2000-01-01,7574\n1,Torn")  # stored, never acknowledged

    second = servers.start()
    assert second.events("descarte_no_confirmado", "success")
    assert "apuestas: 10 | lotes: 2" in second.events("recuperacion", "success")[0]
    assert second.storage_path.stat().st_size == size
    with second.agency(1) as client:
        acks = client.send_batches(lottery_bets(1, 10).bets, 5)
        assert [ack.status for ack in acks] == [AckStatus.DUPLICATE, AckStatus.DUPLICATE]
    assert stored_rows(second.storage_path) == as_rows(1, lottery_bets(1, 10).bets)


def test_many_winners_come_in_several_frames(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=2)
    lucky = lottery_bets(1, 3000, winner_ratio=1.0)
    with server.agency(2) as other:
        other.send_batches(lottery_bets(2, 10, winner_ratio=0.0).bets, 10)
        other.finish()
    with server.agency(1) as client:
        assert client.run(lucky.bets, batch_size=150) == lucky.winners
        assert client.winners() == lucky.winners  # asking again gives the same answer
    with server.agency(2) as other:
        other.finish()
        assert other.winners() == []
    assert "agencia: 1 | cant_ganadores: 3000" in server.events("consulta_ganadores", "success")[0]


def test_a_keyed_bet_resent_is_stored_once(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=1)
    bet = lottery_bets(1, 1).bets[0]
    with server.agency(1) as client:
        assert client.request(SingleBet(1, bet, key=77)) == Ack(1, AckStatus.OK, 1)
    with server.agency(1) as client:  # the ACK was lost: the same bet, same key, on a new connection
        assert client.request(SingleBet(1, bet, key=77)) == Ack(1, AckStatus.DUPLICATE, 1)
        assert client.request(SingleBet(1, bet, key=78)) == Ack(1, AckStatus.OK, 1)  # another run's bet
    assert stored_rows(server.storage_path) == as_rows(1, [bet, bet])
    assert len(server.events("apuesta_almacenada", "success")) == 2


def test_a_store_of_an_earlier_run_is_refused_not_answered(servers: ServerPool) -> None:
    first_run, second_run = lottery_bets(1, 20, seed=1).bets, lottery_bets(1, 20, seed=2).bets
    first = servers.start(AGENCIES=2)
    with first.agency(1) as client:
        client.send_batches(first_run, 10)
    first.terminate()
    second = servers.start(AGENCIES=2)  # the same STORAGE_PATH, as a second run by hand would have
    with second.agency(1) as client:
        assert client.request(Batch(1, 1, tuple(first_run[:10]))) == Ack(1, AckStatus.DUPLICATE, 10)
        answer = client.request(Batch(1, 2, tuple(second_run[10:])))
    assert isinstance(answer, Error) and answer.code is ErrorCode.CONFLICT
    assert "batch 2 of agency 1 differs from the stored one" in answer.reason
    assert "start with an empty STORAGE_PATH" in answer.reason
    assert len(second.events("verificar_lote", "fail")) == 1
    assert stored_rows(second.storage_path) == as_rows(1, first_run)


def test_a_server_without_agencies_serves_ping_and_never_draws(servers: ServerPool) -> None:
    server = servers.start(AGENCIES=0)
    with server.agency(0) as client:
        assert client.request(Ping(0, b"hi")) == Pong(0, b"hi")
    with server.agency(1) as client:
        answer = client.request(Finished(1))
        assert isinstance(answer, Error) and "not one of the 0 agencies" in answer.reason
    exit_code, _ = server.terminate()
    assert exit_code == 0
    assert server.events("sorteo") == []
