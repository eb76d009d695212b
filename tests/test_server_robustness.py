"""Bad input never crashes the server nor disturbs the other connections."""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import AgencyClient, ServerPool, ServerProcess, lottery_bets, stored_rows
from timing import scaled

from harness.store import as_rows
from protocol import (
    HEADER_SIZE,
    Ack,
    AckStatus,
    Error,
    ErrorCode,
    MessageType,
    Ping,
    Pong,
    build_frame,
    recv_message,
)

HEADER = struct.Struct("!2sBBIH")


def header(type_code: int, agency: int, length: int, magic: bytes = b"LT", version: int = 1) -> bytes:
    return HEADER.pack(magic, version, type_code, agency, length)


def string(raw: bytes) -> bytes:
    return struct.pack("!H", len(raw)) + raw


def raw_bet(
    first: bytes = b"Ana",
    last: bytes = b"Lopez",
    document: bytes = b"123",
    birthdate: bytes = b"2000-01-31",
    number: bytes = b"7574",
) -> bytes:
    return b"".join(string(value) for value in (first, last, document, birthdate, number))


def batch_payload(*bets: bytes, seq: int = 1, count: int | None = None) -> bytes:
    return struct.pack("!IH", seq, len(bets) if count is None else count) + b"".join(bets)


BAD_FRAMES = {
    "bad magic": (header(1, 9, 0, magic=b"XX"), ErrorCode.MALFORMED, None),
    "bad version": (header(1, 9, 0, version=7), ErrorCode.MALFORMED, None),
    "unknown type": (header(99, 9, 0), ErrorCode.MALFORMED, None),
    "oversized length": (header(MessageType.BATCH, 9, 60000), ErrorCode.MALFORMED, 0),
    "oversized bet": (header(MessageType.BET, 9, 8183), ErrorCode.MALFORMED, 1),
    "bad utf-8": (build_frame(MessageType.BET, 9, raw_bet(first=b"\xff\xfe")), ErrorCode.MALFORMED, 1),
    "bad date": (
        build_frame(MessageType.BATCH, 9, batch_payload(raw_bet(), raw_bet(birthdate=b"2000-02-31"))),
        ErrorCode.MALFORMED,
        2,
    ),
    "non-numeric number": (
        build_frame(MessageType.BATCH, 9, batch_payload(raw_bet(number=b"12a"))),
        ErrorCode.MALFORMED,
        1,
    ),
    "non-numeric document": (build_frame(MessageType.BET, 9, raw_bet(document=b"x1")), ErrorCode.MALFORMED, 1),
    "trailing bytes": (build_frame(MessageType.BET, 9, raw_bet() + b"!"), ErrorCode.MALFORMED, 1),
    "empty batch": (build_frame(MessageType.BATCH, 9, batch_payload(count=0)), ErrorCode.MALFORMED, 0),
    "count larger than the bets": (
        build_frame(MessageType.BATCH, 9, batch_payload(raw_bet(), count=3)),
        ErrorCode.MALFORMED,
        3,
    ),
    "ack from a client": (build_frame(MessageType.ACK, 9, b"\x00\x00\x00\x00\x01"), ErrorCode.UNEXPECTED_MESSAGE, None),
    "winners query before finishing": (
        build_frame(MessageType.WINNERS_QUERY, 9, b""),
        ErrorCode.UNEXPECTED_MESSAGE,
        None,
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerPool(Path(tmp_path_factory.mktemp("robustness"))) as pool:
        yield pool.start(AGENCIES=1, WORKERS=2, READ_TIMEOUT=0.6)


@pytest.fixture
def good_agency(server: ServerProcess) -> Iterator[AgencyClient]:
    """An agency mid-conversation before and after each bad connection."""
    client = server.agency(1)
    # each test uses its own seq range so the stored rows are easy to check
    yield client
    client.close()


def read_all(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def expect_error_then_close(sock: socket.socket, code: ErrorCode) -> Error:
    error = recv_message(sock)
    assert isinstance(error, Error), error
    assert error.code is code, error
    assert read_all(sock) == b"", "the server must close the connection after an ERROR"
    return error


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_frame_gets_an_error_and_only_that_connection_closes(
    server: ServerProcess, good_agency: AgencyClient, name: str
) -> None:
    frame, code, rejected_bets = BAD_FRAMES[name]
    seq = 1 + 2 * list(BAD_FRAMES).index(name)
    bets = lottery_bets(1, 4, seed=seq).bets
    assert good_agency.send_batches(bets[:2], 2, first_seq=seq) == [Ack(1, AckStatus.OK, 2)]
    fails_before = len(server.events("apuesta_recibida", "fail"))

    with server.connect() as bad:
        bad.sendall(frame)  # for "oversized length": only the header, the ERROR comes at once
        error = expect_error_then_close(bad, code)
    assert error.reason

    assert good_agency.send_batches(bets[2:], 2, first_seq=seq + 1) == [Ack(1, AckStatus.OK, 2)]
    server.wait_for(f"error: {error.reason}"[:60])
    fails = server.events("apuesta_recibida", "fail")
    if rejected_bets is None:
        assert len(fails) == fails_before
    else:
        assert len(fails) == fails_before + 1
        assert f"cantidad: {rejected_bets} | agencia: 9" in fails[-1]
    rows = [row for row in stored_rows(server.storage_path) if row[0] == 1]
    assert as_rows(1, bets) == rows[-4:]


def test_stall_mid_frame_times_out(server: ServerProcess, good_agency: AgencyClient) -> None:
    with server.connect() as stalled:
        stalled.sendall(build_frame(MessageType.PING, 9, b"abcdef")[: HEADER_SIZE + 2])
        started = time.monotonic()
        for _ in range(5):  # the other agency keeps working meanwhile
            assert good_agency.request(Ping(1, b"x")) == Pong(1, b"x")
        error = expect_error_then_close(stalled, ErrorCode.TIMEOUT)
        assert 0.5 <= time.monotonic() - started < 0.5 + scaled(2.5)
    assert "mid-frame" in error.reason


def test_idle_connection_is_dropped(server: ServerProcess) -> None:
    with server.connect() as idle:
        assert "idle" in expect_error_then_close(idle, ErrorCode.TIMEOUT).reason


def test_eof_mid_frame_and_reset_are_logged(server: ServerProcess, good_agency: AgencyClient) -> None:
    with server.connect() as half:
        half.sendall(build_frame(MessageType.BATCH, 9, batch_payload(raw_bet()))[:20])
        half.shutdown(socket.SHUT_WR)
        expect_error_then_close(half, ErrorCode.MALFORMED)
    server.wait_for("closed mid-frame after 20 bytes")

    reset = server.connect()
    reset.sendall(build_frame(MessageType.BATCH, 9, batch_payload(raw_bet()))[:15])
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()  # RST
    server.wait_for("ConnectionResetError")
    assert good_agency.request(Ping(1)) == Pong(1)


def test_a_reset_between_frames_is_a_peer_that_left(server: ServerProcess, good_agency: AgencyClient) -> None:
    """A client stopped mid-run leaves our last reply unread: its reset is a close, not a failure."""
    failures_before = len(server.events("connection", "fail"))
    closes_before = len(server.events("close_connection", "success"))
    leaving = server.connect()
    leaving.sendall(build_frame(MessageType.PING, 4, b"last"))
    leaving.recv(1, socket.MSG_PEEK)  # the PONG has arrived; it stays unread
    leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    leaving.close()  # RST
    server.wait_for("action: close_connection | result: success", count=closes_before + 1)
    assert good_agency.request(Ping(1)) == Pong(1)
    assert len(server.events("connection", "fail")) == failures_before


def test_random_garbage_and_many_bad_clients_leave_the_workers_alive(
    server: ServerProcess, good_agency: AgencyClient
) -> None:
    rng = random.Random(7)
    for attempt in range(40):
        with server.connect() as bad:
            try:
                bad.sendall(b"LT\x01" + rng.randbytes(rng.randrange(1, 300)))
                bad.shutdown(socket.SHUT_WR)
                read_all(bad)
            except OSError:
                pass  # the server may have reset it already: it closes without reading the rest
        if attempt % 10 == 0:  # stay well within READ_TIMEOUT
            assert good_agency.request(Ping(1)) == Pong(1)
    assert good_agency.request(Ping(1, b"ok")) == Pong(1, b"ok")
    assert server.events("worker_exit") == []
    assert "Traceback" not in server.output()
    assert server.process.poll() is None
