"""Bad input against a live server on loopback: thousands of malformed streams, floods, slowloris.

Every malformed stream must get a clear ERROR (the code ``harness.badinput.ServerModel``
predicts) and a close, a ``result: fail`` line naming the same reason, and no stored row
but those of the batches it acknowledged; meanwhile another agency's conversation goes on
undisturbed, and the server is alive and clean afterwards. tests/test_server_robustness.py
holds the hand-written single cases; this file is the generated stream of many.
"""

from __future__ import annotations

import os
import random
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ServerPool, ServerProcess, lottery_bets, stored_rows, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timing import scaled

from harness.badinput import (
    CATEGORIES,
    LiveChecker,
    LogFollower,
    Outcome,
    RandomDraw,
    ServerModel,
    StoreFollower,
    probe,
    random_probes,
)
from harness.store import StoredBet, as_rows
from protocol import (
    HEADER_SIZE,
    Ack,
    AckStatus,
    Batch,
    Error,
    ErrorCode,
    MessageType,
    Ping,
    Pong,
    build_frame,
    encode,
    recv_message,
)

# >= 10,000 malformed streams per run by default; BAD_INPUT_EXAMPLES scales it up or down.
DEFAULT_EXAMPLES = 440
EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", DEFAULT_EXAMPLES))
PROBES_PER_EXAMPLE = (16, 40)  # min, max: a failing example shrinks to 16 probes at most
GOOD_AGENCY = 1
AGENCIES = 4_000_000_000  # far above the probes' agencies: their FINISHEDs never complete a draw


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose draw never comes (AGENCIES far above the agencies used), answering held
    winners queries at once (WINNERS_HOLD=0)."""
    with ServerPool(Path(tmp_path_factory.mktemp("bad-input"))) as pool:
        yield pool.start(AGENCIES=AGENCIES, WORKERS=2, READ_TIMEOUT=30, WINNERS_HOLD=0)


def live_checker(server: ServerProcess) -> LiveChecker:
    log = LogFollower(server.log_path, only=b"result: fail")
    return LiveChecker(
        "127.0.0.1", server.port, log.new_events, StoreFollower(server.storage_path), ServerModel(AGENCIES)
    )


def assert_server_healthy(server: ServerProcess) -> None:
    assert server.process.poll() is None, "the server died"
    with server.agency(0) as probe_client:
        assert probe_client.request(Ping(0, b"alive?")) == Pong(0, b"alive?")
    assert server.events("worker_exit") == [], server.events("worker_exit")
    assert "Traceback" not in server.output()


def test_a_stream_of_malformed_input(server: ServerProcess, harness_figures) -> None:
    checker = live_checker(server)
    good = server.agency(GOOD_AGENCY)
    good_bets = lottery_bets(GOOD_AGENCY, 2 * EXAMPLES + 50, seed=3).bets
    good_seq = iter(range(1, 10**9))
    started = time.monotonic()

    def good_agency_batch() -> None:
        seq = next(good_seq)
        bets = good_bets[(seq - 1) * 2 % len(good_bets) :][:2]
        assert good.request(Batch(GOOD_AGENCY, seq, tuple(bets))) == Ack(GOOD_AGENCY, AckStatus.OK, len(bets))
        checker.model.commit(Outcome(stored=[(GOOD_AGENCY, seq, tuple(bets))]))
        checker.expected_rows.extend(as_rows(GOOD_AGENCY, bets))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # the model follows the live server: replaying old examples out of order would not fit
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.lists(
            st.tuples(st.sampled_from(CATEGORIES), st.integers(0, 2**32 - 1)),
            min_size=PROBES_PER_EXAMPLE[0],
            max_size=PROBES_PER_EXAMPLE[1],
        )
    )
    def streams(recipes: list[tuple[str, int]]) -> None:
        # a failure shrinks to the fewest, simplest (category, seed) pairs
        checker.send_many([probe(RandomDraw(random.Random(seed)), checker.agency(), c) for c, seed in recipes])
        good_agency_batch()  # the other agency is served between (and unaffected by) the bad ones
        checker.check_log_and_store()

    try:
        streams()
    finally:
        good.close()
    elapsed = time.monotonic() - started
    assert_server_healthy(server)
    print(checker.probes, elapsed)
    assert set(checker.by_category) == set(CATEGORIES), set(CATEGORIES) - set(checker.by_category)
    assert {"MALFORMED", "AGENCY_MISMATCH", "UNEXPECTED_MESSAGE"} <= set(checker.by_code), checker.by_code
    harness_figures.add("malformed inputs tried (fast tests)", checker.malformed)
    print(
        f"\n{checker.malformed} malformed streams of {checker.probes} in {elapsed:.1f}s; "
        f"codes {dict(checker.by_code)}; categories {dict(checker.by_category)}"
    )
    if EXAMPLES >= DEFAULT_EXAMPLES:
        assert checker.malformed >= 10_000, f"only {checker.malformed} malformed inputs were tried"


def test_seeded_probes_have_the_same_oracle(server: ServerProcess, harness_figures) -> None:
    """The seeded generator the container scenario uses, against the same model (and a fixed seed)."""
    checker = live_checker(server)
    checker.new_events()  # what the previous test logged is not ours
    checker.store.new_rows()
    checker.send_many(random_probes(seed=20_26, count=400, first_agency=3_000_000_000))
    checker.check_log_and_store()
    harness_figures.add("malformed inputs tried (fast tests)", checker.malformed)
    assert checker.malformed > 300
    assert_server_healthy(server)


# -- many connections, and connections that never finish a frame ----------------------------------


def test_two_hundred_connections_from_one_client(servers: ServerPool) -> None:
    """200 simultaneous connections of one agency all sending the same batch: every one is
    answered, it is stored exactly once, and another agency is served throughout."""
    server = servers.start(AGENCIES=3, WORKERS=2, READ_TIMEOUT=1.5)
    bets = tuple(lottery_bets(3, 3, seed=1).bets)
    flood = [server.connect() for _ in range(200)]
    try:
        with server.agency(2) as other:
            frame = encode(Batch(3, 1, bets))
            for sock in flood:
                sock.sendall(frame)
            assert other.request(Ping(2, b"during")) == Pong(2, b"during")
            acks = [recv_message(sock) for sock in flood]
            assert other.send_batches(lottery_bets(2, 4).bets, 2) == [Ack(2, AckStatus.OK, 2)] * 2
        statuses = sorted(ack.status for ack in acks if isinstance(ack, Ack))
        assert len(statuses) == 200, [a for a in acks if not isinstance(a, Ack)][:3]
        assert statuses.count(AckStatus.OK) == 1 and statuses.count(AckStatus.DUPLICATE) == 199
        # idle past READ_TIMEOUT: each is dropped with an ERROR TIMEOUT and a fail line naming it
        for sock in flood:
            error = recv_message(sock)
            assert isinstance(error, Error) and error.code is ErrorCode.TIMEOUT, error
            assert sock.recv(1) == b""
    finally:
        for sock in flood:
            sock.close()
    server.wait_for("action: close_connection", count=201)
    idle = [line for line in server.events("connection", "fail") if "error: idle for" in line]
    assert len(idle) == 200
    rows = [row for row in _rows(server) if row[0] == 3]
    assert rows == as_rows(3, bets)
    assert_server_healthy(server)


def test_slowloris_headers_that_stall(servers: ServerPool) -> None:
    """30 connections send a header (or part of one) and stall: each gets ERROR TIMEOUT within
    READ_TIMEOUT (plus a tick), while another agency's batches keep being acknowledged."""
    timeout = 1.0
    server = servers.start(AGENCIES=3, WORKERS=2, READ_TIMEOUT=timeout)
    frame = build_frame(MessageType.BATCH, 9, b"\x00\x00\x00\x01\x00\x01" + b"x" * 40)
    stalled = [server.connect() for _ in range(30)]
    try:
        started = time.monotonic()
        for index, sock in enumerate(stalled):
            sock.sendall(frame[: 1 + index % (HEADER_SIZE + 5)])  # 1..15 bytes: mid-header or mid-payload
        with server.agency(2) as other:
            bets = lottery_bets(2, 20).bets
            for seq in range(1, 11):  # the good agency keeps going while they stall
                assert other.request(Batch(2, seq, tuple(bets[2 * seq - 2 : 2 * seq]))) == Ack(2, AckStatus.OK, 2)
            for sock in stalled:
                error = recv_message(sock)
                assert isinstance(error, Error) and error.code is ErrorCode.TIMEOUT, error
                assert "stalled mid-frame" in error.reason
            elapsed = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()
    assert timeout <= elapsed < timeout + scaled(1.0), elapsed
    server.wait_for("stalled mid-frame", count=30)
    assert not [row for row in _rows(server) if row[0] == 9]
    assert_server_healthy(server)


def test_slowloris_that_dribbles_a_frame_byte_by_byte(servers: ServerPool) -> None:
    """A peer that sends one byte of a frame just before each READ_TIMEOUT would hold its
    connection forever: a frame must arrive whole within READ_TIMEOUT of its first byte."""
    timeout = 1.0
    server = servers.start(AGENCIES=3, WORKERS=2, READ_TIMEOUT=timeout)
    frame = build_frame(MessageType.PING, 9, b"y" * 200)
    with server.connect() as sock:
        started = time.monotonic()
        error: object = None
        for byte in frame:
            if time.monotonic() - started > 3 * timeout:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            readable = socket_readable(sock, timeout * 0.6)
            if readable:
                error = recv_message(sock)
                break
        elapsed = time.monotonic() - started
    assert isinstance(error, Error) and error.code is ErrorCode.TIMEOUT, error
    assert elapsed < 2 * timeout + scaled(0.5), f"a dribbling peer held its connection for {elapsed:.1f}s"
    wait_until(lambda: server.events("connection", "fail"), 5, "the fail line")
    assert "frame" in server.events("connection", "fail")[-1]
    assert_server_healthy(server)


def socket_readable(sock: socket.socket, timeout: float) -> bool:
    readable, _, _ = select.select([sock], [], [], timeout)
    return bool(readable)


def _rows(server: ServerProcess) -> list[StoredBet]:
    return stored_rows(server.storage_path)
