"""The server's fast paths (docs/benchmarks.md) give exactly what the plain code gave."""

from __future__ import annotations

import csv
import io
import socket
import threading
from datetime import date
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import Ack, AckStatus, Batch, BetData, Message, encode
from server.connection import Connection
from server.model import Bet, agency_bets_to_csv, bets_to_csv, has_won, load_bets, load_winning_bets


def reference_csv(bets: list[Bet]) -> bytes:
    """The store's format as written before the fast path: csv.writer row by row."""
    buffer = io.StringIO(newline="")
    plain = csv.writer(buffer, lineterminator="\n")
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for bet in bets:
        row = [bet.agency, bet.first_name, bet.last_name, bet.document, bet.birthdate.isoformat(), bet.number]
        (quoted if "\r" in bet.first_name or "\r" in bet.last_name else plain).writerow(row)
    return buffer.getvalue().encode("utf-8")


names = st.text(alphabet=st.sampled_from(list("ab ,\"\r\n\x00\té日|;'")), min_size=1, max_size=12)
documents = st.one_of(st.from_regex(r"\A[0-9]{1,9}\Z"), names)
bet_fields = st.tuples(names, names, documents, st.dates(date(1900, 1, 1), date(2030, 1, 1)), st.integers(0, 9999))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 2**32 - 1), st.lists(bet_fields, min_size=1, max_size=20))
def test_csv_rows_are_the_same_bytes_as_csv_writer(agency: int, fields: list[tuple]) -> None:
    bets = [Bet(agency, *bet) for bet in fields]
    expected = reference_csv(bets)
    assert bets_to_csv(bets) == expected
    assert agency_bets_to_csv(agency, [BetData(*bet) for bet in fields]) == expected


def test_loose_course_arguments_still_go_through_csv() -> None:
    bet = Bet("3", "A", "B", 123, "1999-03-17", "7574")  # type: ignore[arg-type]
    assert bets_to_csv([bet]) == b"3,A,B,123,1999-03-17,7574\n"


def test_load_winning_bets_is_load_bets_filtered_by_has_won(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    bets = [
        Bet(1 + i % 3, f'N,"{i}"\r\n', "O'x", str(1000 + i), date(1990, 1, 1 + i % 28), 7574 if i % 7 == 0 else i)
        for i in range(200)
    ]
    path.write_bytes(bets_to_csv(bets))
    expected = [bet for bet in load_bets(path) if has_won(bet)]
    assert expected and list(load_winning_bets(path)) == expected


def frame_and_connection() -> tuple[bytes, socket.socket, Connection]:
    frame = encode(Batch(4, 1, (BetData("Ana", "Paz", "123", date(2000, 1, 2), 7574),) * 20))
    ours, theirs = socket.socketpair()
    return frame, theirs, Connection(ours, "local", conversation=None)  # type: ignore[arg-type]


def test_a_frame_already_here_is_read_in_one_call() -> None:
    frame, peer, connection = frame_and_connection()
    with peer, connection.sock:
        peer.sendall(frame)
        header, payload = connection.receive()  # type: ignore[misc]
        assert header.agency == 4 and len(payload) == header.length == len(frame) - 10
        assert connection.receive() is None and not connection.mid_frame


def test_a_frame_arriving_in_pieces_is_still_one_frame() -> None:
    frame, peer, connection = frame_and_connection()
    with peer, connection.sock:
        peer.sendall(frame[:4])
        assert connection.receive() is None and connection.mid_frame
        peer.sendall(frame[4:60])
        assert connection.receive() is None and connection.mid_frame
        peer.sendall(frame[60:])
        _, payload = connection.receive()  # type: ignore[misc]
        assert payload == frame[10:]


def test_send_delivers_small_and_large_replies() -> None:
    _, peer, connection = frame_and_connection()
    with peer, connection.sock:
        connection.send([Ack(4, AckStatus.OK, 20)])
        assert peer.recv(100) == encode(Ack(4, AckStatus.OK, 20))
        big: list[Message] = [Ack(4, AckStatus.OK, i) for i in range(200_000)]  # 3 MB: more than the socket buffer
        received = bytearray()
        expected = b"".join(encode(ack) for ack in big)

        def read() -> None:
            while len(received) < len(expected):
                received.extend(peer.recv(1 << 16))

        reader = threading.Thread(target=read)
        reader.start()
        connection.send(big)
        reader.join(10)
        assert bytes(received) == expected
