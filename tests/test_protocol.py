"""Unit tests of the wire protocol: round trips, encoder refusals, every decoder rejection,
the incremental ``FrameDecoder``, blocking socket I/O and ``BatchBuilder``.

Property-based tests (fuzzing, random round trips) live in tests/test_protocol_fuzz.py.
Over 400 lines: one test per rejection the decoders make, sharing the raw-frame builders above
them; each theme is a section (``# --``).
"""

from __future__ import annotations

import itertools
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime

import pytest

import protocol
from protocol import (
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    Ack,
    AckStatus,
    Batch,
    BatchBuilder,
    BetData,
    Error,
    ErrorCode,
    Finished,
    FrameDecoder,
    Header,
    Message,
    MessageType,
    PeerClosed,
    Ping,
    Pong,
    ProtocolError,
    SingleBet,
    TruncatedFrame,
    Winners,
    WinnersQuery,
    WinnersStatus,
    build_frame,
    decode,
    decode_frame,
    encode,
    encode_bet,
    parse_header,
    recv_exactly,
    recv_message,
    send_frame,
    send_message,
    split_winners,
)
from protocol.batching import MAX_BATCH_BYTES

MAX_U32 = 2**32 - 1

# -- helpers ----------------------------------------------------------------------------


def raw_frame(type_code: int, payload: bytes, agency: int = 7, *, magic: bytes = b"LT", version: int = 1) -> bytes:
    """A frame built by hand (no validation), to feed the decoder anything."""
    return struct.pack("!2sBBIH", magic, version, type_code, agency, len(payload)) + payload


def s(value: bytes | str) -> bytes:
    """A wire string: u16 length + bytes."""
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def raw_bet(
    first: bytes | str = "Ana",
    last: bytes | str = "Pérez",
    document: bytes | str = "30904465",
    birthdate: bytes | str = "1999-03-17",
    number: bytes | str = "7574",
) -> bytes:
    return s(first) + s(last) + s(document) + s(birthdate) + s(number)


def raw_batch(seq: int, bets: list[bytes], count: int | None = None) -> bytes:
    return struct.pack("!IH", seq, len(bets) if count is None else count) + b"".join(bets)


def reason_of(data: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        decode_frame(data)
    return info.value.reason


BET = BetData("Ana", "Pérez", "30904465", date(1999, 3, 17), 7574)

WEIRD_NAMES = [
    "a|b",
    "a | b",
    "Pérez, Juan",
    'O"Brien',
    "O'Brien",
    "line\nbreak\r\n",
    "tab\there",
    "😀🎲 lotería",
    "\x00nul",
    "日本語の名前",
    "x" * 300,
]


# -- round trips ------------------------------------------------------------------------


def all_messages() -> list[Message]:
    return [
        SingleBet(1, BET),
        SingleBet(MAX_U32, BetData("Ñandú", "Über", "0", date(1, 1, 1), 0)),
        SingleBet(0, BetData("Z", "Z", "99999999999999999999", date(9999, 12, 31), MAX_U32)),
        Batch(3, 1, (BET,)),
        Batch(3, MAX_U32, tuple(BET._replace(number=i, first_name=f"n{i}") for i in range(50))),
        Ack(3, AckStatus.OK, 0),
        Ack(3, AckStatus.OK, MAX_U32),
        Ack(3, AckStatus.DUPLICATE, 50),
        Finished(3),
        WinnersQuery(3),
        Winners(3, WinnersStatus.NOT_READY),
        Winners(3, WinnersStatus.READY),
        Winners(3, WinnersStatus.READY, ("30904465", "1", "0012")),
        Winners(3, WinnersStatus.READY_MORE, ("30904465",)),
        *[Error(3, code, f'reason for {code.name} | with, odd "chars"\n😀') for code in ErrorCode],
        Error(0, ErrorCode.MALFORMED, ""),
        Ping(0),
        Ping(5, b"\x00\xff" * 10),
        Pong(0),
        Pong(5, b"anything at all"),
    ]


@pytest.mark.parametrize("message", all_messages(), ids=lambda m: type(m).__name__)
def test_round_trip_every_message(message: Message) -> None:
    frame = encode(message)
    assert len(frame) <= MAX_FRAME_SIZE
    header = parse_header(frame)
    assert header == Header(message.TYPE, message.agency, len(frame) - HEADER_SIZE)
    assert decode_frame(frame) == message
    assert decode(header, frame[HEADER_SIZE:]) == message
    assert type(decode_frame(frame)) is type(message)


@pytest.mark.parametrize("name", WEIRD_NAMES)
def test_round_trip_names_with_any_character(name: str) -> None:
    bet = BetData(name, name[::-1], "123", date(2000, 2, 29), 42)
    assert decode_frame(encode(SingleBet(9, bet))) == SingleBet(9, bet)
    assert decode_frame(encode(Batch(9, 1, (bet, bet)))).bets == (bet, bet)


def test_decoded_values_have_the_declared_types() -> None:
    (bet,) = decode_frame(encode(Batch(1, 1, (BET,)))).bets
    assert type(bet) is BetData
    assert type(bet.first_name) is str and type(bet.document) is str
    assert type(bet.birthdate) is date and type(bet.number) is int
    assert type(decode_frame(encode(Ack(1, AckStatus.DUPLICATE, 1))).status) is AckStatus


def test_bet_wire_layout() -> None:
    assert encode_bet(BET) == s("Ana") + s("Pérez") + s("30904465") + s("1999-03-17") + s("7574")
    assert encode_bet(BET._replace(birthdate=date(5, 6, 7))).endswith(s("0005-06-07") + s("7574"))
    frame = encode(SingleBet(258, BET, key=0x0102030405060708))
    assert frame[:HEADER_SIZE] == b"LT\x01\x01\x00\x00\x01\x02" + struct.pack("!H", 8 + len(encode_bet(BET)))
    assert frame[HEADER_SIZE:] == encode_bet(BET) + bytes(range(1, 9))
    assert decode_frame(frame) == SingleBet(258, BET, key=0x0102030405060708)


def test_fixed_layouts() -> None:
    assert encode(Ack(1, AckStatus.DUPLICATE, 5)) == b"LT\x01\x03\x00\x00\x00\x01\x00\x05\x01\x00\x00\x00\x05"
    assert encode(Finished(2)) == b"LT\x01\x04\x00\x00\x00\x02\x00\x00"
    assert encode(WinnersQuery(2)) == b"LT\x01\x05\x00\x00\x00\x02\x00\x00"
    assert encode(Winners(2, WinnersStatus.READY, ("12",))) == (
        b"LT\x01\x06\x00\x00\x00\x02\x00\x07" + b"\x00\x00\x01" + b"\x00\x0212"
    )
    assert encode(Error(2, ErrorCode.TIMEOUT, "é")) == (
        b"LT\x01\x07\x00\x00\x00\x02\x00\x06" + b"\x00\x05" + b"\x00\x02\xc3\xa9"
    )
    assert encode(Ping(0, b"hi")) == b"LT\x01\x08\x00\x00\x00\x00\x00\x02hi"
    assert encode(Pong(0, b"hi")) == b"LT\x01\x09\x00\x00\x00\x00\x00\x02hi"
    assert encode(Batch(1, 258, (BET,)))[HEADER_SIZE:] == b"\x00\x00\x01\x02\x00\x01" + encode_bet(BET)


def bet_of_size(size: int, filler: str = "x") -> BetData:
    """A bet whose encoding is exactly ``size`` bytes (first_name padded with ``filler``)."""
    base = BetData("", "L", "1", date(2000, 1, 1), 1)
    room = size - len(encode_bet(base._replace(first_name="a")))
    width = len(filler.encode())
    name = filler * (room // width) + "a" * (1 + room % width)
    bet = base._replace(first_name=name)
    assert len(encode_bet(bet)) == size
    return bet


@pytest.mark.parametrize("filler", ["x", "ñ", "€", "😀"])
def test_batch_at_exactly_the_frame_limit(filler: str) -> None:
    # 10-byte header + 6-byte seq/count + bets = 8192
    bets = (bet_of_size(4000, filler), bet_of_size(MAX_PAYLOAD_SIZE - 6 - 4000, filler))
    frame = encode(Batch(1, 1, bets))
    assert len(frame) == MAX_FRAME_SIZE
    assert decode_frame(frame).bets == bets
    decoder = FrameDecoder()
    [(header, payload)] = decoder.feed(frame)
    assert header.length == MAX_PAYLOAD_SIZE and decode(header, payload).bets == bets
    too_big = (bets[0], bet_of_size(MAX_PAYLOAD_SIZE - 6 - 4000 + 1, filler))
    with pytest.raises(ProtocolError, match=r"^frame of 8193 bytes exceeds the limit of 8192 bytes$"):
        encode(Batch(1, 1, too_big))


def test_single_bet_at_exactly_the_frame_limit() -> None:
    bet = bet_of_size(MAX_PAYLOAD_SIZE - 8, "é")  # 8: the BET's key
    assert len(encode(SingleBet(1, bet))) == MAX_FRAME_SIZE
    assert decode_frame(encode(SingleBet(1, bet))).bet == bet
    with pytest.raises(ProtocolError, match="frame of 8193 bytes exceeds the limit of 8192 bytes"):
        encode(SingleBet(1, bet_of_size(MAX_PAYLOAD_SIZE - 8 + 1)))


def test_winners_with_many_documents() -> None:
    # 3-byte prefix + 817 * (2 + 8) = 8173 bytes: the most 8-digit documents one frame holds
    documents = tuple(f"{30000000 + i}" for i in range(817))
    frame = encode(Winners(4, WinnersStatus.READY, documents))
    assert len(frame) == HEADER_SIZE + 3 + 817 * 10
    assert decode_frame(frame).documents == documents
    with pytest.raises(ProtocolError, match="exceeds the limit of 8192 bytes"):
        encode(Winners(4, WinnersStatus.READY, (*documents, "30000817")))
    # a document list that fills the frame to the last byte
    exact = ("1" * 8,) * 817 + ("1" * 7,)
    assert len(encode(Winners(4, WinnersStatus.READY, exact))) == MAX_FRAME_SIZE


@pytest.mark.parametrize("total", [0, 1, 817, 818, 5000])
def test_split_winners(total: int) -> None:
    documents = [f"{30000000 + i}" for i in range(total)]
    answers = split_winners(4, documents)
    assert [a.status for a in answers] == [WinnersStatus.READY_MORE] * (len(answers) - 1) + [WinnersStatus.READY]
    assert [d for a in answers for d in a.documents] == documents
    for answer in answers:
        frame = encode(answer)
        assert len(frame) <= MAX_FRAME_SIZE
        assert decode_frame(frame) == answer
    assert len(answers) == max(1, -(-total // 817))


def test_split_winners_refuses_bad_documents() -> None:
    with pytest.raises(ProtocolError, match=r"^document must be ASCII digits, got '12a'$"):
        split_winners(1, ["1", "12a"])
    with pytest.raises(ProtocolError, match="cannot fit in any frame"):
        split_winners(1, ["1" * (MAX_PAYLOAD_SIZE - 4)])
    assert split_winners(1, ["1" * (MAX_PAYLOAD_SIZE - 5)])[0].documents == ("1" * (MAX_PAYLOAD_SIZE - 5),)


def test_error_reason_is_truncated_to_fit_a_frame() -> None:
    message = Error(1, ErrorCode.INTERNAL, "😀" * 5000)
    frame = encode(message)
    assert len(frame) <= MAX_FRAME_SIZE
    decoded = decode_frame(frame)
    assert decoded.reason == "😀" * ((MAX_PAYLOAD_SIZE - 4) // 4)
    # a lone surrogate in a reason is replaced, not an exception
    assert decode_frame(encode(Error(1, ErrorCode.INTERNAL, "bad \ud800"))).reason == "bad ?"


# -- encoder refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bet", "reason"),
    [
        (BET._replace(first_name=""), "first_name and last_name must not be empty"),
        (BET._replace(last_name=""), "first_name and last_name must not be empty"),
        (BET._replace(document=""), "document must be ASCII digits, got ''"),
        (BET._replace(document="12a"), "document must be ASCII digits, got '12a'"),
        (BET._replace(document=" 12"), "document must be ASCII digits, got ' 12'"),
        (BET._replace(document="-1"), "document must be ASCII digits, got '-1'"),
        (BET._replace(document="\uff11\uff12"), "document must be ASCII digits, got '\uff11\uff12'"),
        (BET._replace(document="²"), "document must be ASCII digits, got '²'"),
        (BET._replace(document=12), "document must be ASCII digits, got 12"),  # type: ignore[arg-type]  # deliberately the wrong type
        (BET._replace(number="12"), "number must be an integer in 0..4294967295, got '12'"),  # type: ignore[arg-type]  # deliberately the wrong type
        (BET._replace(number=1.0), "number must be an integer in 0..4294967295, got 1.0"),  # type: ignore[arg-type]  # deliberately the wrong type
        (BET._replace(number=True), "number must be an integer in 0..4294967295, got True"),
        (BET._replace(number=None), "number must be an integer in 0..4294967295, got None"),  # type: ignore[arg-type]  # deliberately the wrong type
        (BET._replace(number=-1), "number must be an integer in 0..4294967295, got -1"),
        (BET._replace(number=2**32), "number must be an integer in 0..4294967295, got 4294967296"),
        (BET._replace(birthdate="1999-03-17"), "birthdate must be a date, got '1999-03-17'"),  # type: ignore[arg-type]  # deliberately the wrong type
        (
            BET._replace(birthdate=datetime(1999, 3, 17)),
            "birthdate must be a date, got datetime.datetime(1999, 3, 17, 0, 0)",
        ),
        (BET._replace(first_name="\ud800"), "first_name is not encodable as UTF-8 (surrogates not allowed)"),
        (BET._replace(last_name="a\udfff"), "last_name is not encodable as UTF-8 (surrogates not allowed)"),
        (BET._replace(first_name=b"Ana"), "first_name must be a str, got b'Ana'"),  # type: ignore[arg-type]  # deliberately the wrong type
        (BET._replace(first_name="x" * 8183), "first_name of 8183 bytes cannot fit in a frame"),
        (BET._replace(document="1" * 8183), "document of 8183 bytes cannot fit in a frame"),
    ],
)
def test_encoder_refuses_bad_bets(bet: BetData, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        encode_bet(bet)
    assert info.value.reason == reason
    with pytest.raises(ProtocolError):
        encode(SingleBet(1, bet))
    with pytest.raises(ProtocolError):
        encode(Batch(1, 1, (BET, bet)))
    with pytest.raises(ProtocolError):
        BatchBuilder(1, 10).add(bet)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            SingleBet(1, BET._replace(first_name="x" * 5000, last_name="y" * 5000)),
            "frame of 10050 bytes exceeds the limit of 8192 bytes",
        ),
        (Ping(1, b"x" * 8183), "frame of 8193 bytes exceeds the limit of 8192 bytes"),
        (Pong(1, b"x" * 9000), "frame of 9010 bytes exceeds the limit of 8192 bytes"),
        (Ack(-1, AckStatus.OK, 1), "agency -1 out of range 0..4294967295"),
        (Finished(2**32), "agency 4294967296 out of range 0..4294967295"),
        (Batch(1, 1, ()), "a batch needs at least one bet"),
        (Batch(1, -1, (BET,)), "seq must be an integer in 0..4294967295, got -1"),
        (Batch(1, 2**32, (BET,)), "seq must be an integer in 0..4294967295, got 4294967296"),
        (Batch(1, 0, (BET,)), "a batch's seq starts at 1"),
        (Ack(1, 2, 1), "ACK: unknown AckStatus 2"),  # type: ignore[arg-type]  # deliberately the wrong type
        (Ack(1, AckStatus.OK, -1), "count must be an integer in 0..4294967295, got -1"),
        (Ack(1, AckStatus.OK, 2**32), "count must be an integer in 0..4294967295, got 4294967296"),
        (Winners(1, 3), "WINNERS: unknown WinnersStatus 3"),  # type: ignore[arg-type]  # deliberately the wrong type
        (Winners(1, WinnersStatus.NOT_READY, ("1",)), "WINNERS: a not-ready answer carries no documents"),
        (Winners(1, WinnersStatus.READY, ("1a",)), "document must be ASCII digits, got '1a'"),
        (Winners(1, WinnersStatus.READY, ("",)), "document must be ASCII digits, got ''"),
        (Error(1, 99, "x"), "ERROR: unknown ErrorCode 99"),  # type: ignore[arg-type]  # deliberately the wrong type
    ],
)
def test_encoder_refuses_bad_messages(message: Message, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        encode(message)
    assert info.value.reason == reason


def test_build_frame_limit() -> None:
    assert len(build_frame(MessageType.PING, 0, b"x" * MAX_PAYLOAD_SIZE)) == MAX_FRAME_SIZE
    with pytest.raises(ProtocolError, match=r"^frame of 8193 bytes exceeds the limit of 8192 bytes$"):
        build_frame(MessageType.PING, 0, b"x" * (MAX_PAYLOAD_SIZE + 1))


# -- decoder rejections -----------------------------------------------------------------

GOOD_BET = raw_bet()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "header needs 10 bytes, got 0"),
        (b"LT\x01\x03\x00\x00\x00", "header needs 10 bytes, got 7"),
        (raw_frame(3, b"", magic=b"TL"), "bad magic b'TL', expected b'LT'"),
        (raw_frame(3, b"", magic=b"\x00\x00"), "bad magic b'\\x00\\x00', expected b'LT'"),
        (raw_frame(3, b"", version=0), "unsupported protocol version 0, expected 1"),
        (raw_frame(3, b"", version=2), "unsupported protocol version 2, expected 1"),
        (raw_frame(0, b""), "unknown message type 0"),
        (raw_frame(10, b""), "unknown message type 10"),
        (raw_frame(255, b""), "unknown message type 255"),
        (
            raw_frame(8, b"")[:8] + b"\x1f\xf7",
            "declared payload length 8183 exceeds the limit of 8182 bytes",
        ),
        (
            raw_frame(8, b"")[:8] + b"\xff\xff",
            "declared payload length 65535 exceeds the limit of 8182 bytes",
        ),
    ],
)
def test_header_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_header(data)
    assert info.value.reason == reason
    assert reason_of(data) == reason
    if len(data) >= HEADER_SIZE:
        # FrameDecoder rejects from the 10 header bytes alone, before any payload
        with pytest.raises(ProtocolError) as info:
            FrameDecoder().feed(data[:HEADER_SIZE])
        assert info.value.reason == reason


def test_header_checks_come_in_order() -> None:
    # magic before version before type before length
    assert reason_of(b"XX\x09\xff\x00\x00\x00\x01\xff\xff") == "bad magic b'XX', expected b'LT'"
    assert reason_of(b"LT\x09\xff\x00\x00\x00\x01\xff\xff") == "unsupported protocol version 9, expected 1"
    assert reason_of(b"LT\x01\xff\x00\x00\x00\x01\xff\xff") == "unknown message type 255"


def test_oversized_length_rejected_by_feed_before_payload() -> None:
    decoder = FrameDecoder()
    header = raw_frame(2, b"")[:8] + struct.pack("!H", MAX_PAYLOAD_SIZE + 1)
    assert decoder.feed(header[:9]) == []  # not enough to judge yet
    with pytest.raises(ProtocolError, match=r"^declared payload length 8183 exceeds the limit of 8182 bytes$"):
        decoder.feed(header[9:])
    # the largest allowed length is accepted and waits for its payload
    decoder = FrameDecoder()
    assert decoder.feed(raw_frame(8, b"")[:8] + struct.pack("!H", MAX_PAYLOAD_SIZE)) == []
    assert decoder.pending == HEADER_SIZE


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        # declared length vs actual payload
        (raw_frame(3, b"\x00\x00\x00\x00\x01")[:-1], "header declares 5 payload bytes, got 4"),
        (raw_frame(3, b"\x00\x00\x00\x00\x01") + b"\x00", "header declares 5 payload bytes, got 6"),
        (raw_frame(4, b"")[:8] + b"\x00\x03", "header declares 3 payload bytes, got 0"),
        # trailing bytes inside the declared payload
        (raw_frame(3, b"\x00\x00\x00\x00\x01\xff"), "ACK: 1 trailing bytes"),
        (raw_frame(4, b"abc"), "FINISHED: 3 trailing bytes"),
        (raw_frame(5, b"\x00"), "WINNERS_QUERY: 1 trailing bytes"),
        (raw_frame(1, GOOD_BET + b"\x00"), "BET: key needs 8 bytes at offset 41, payload has 1 left"),
        (raw_frame(1, GOOD_BET + bytes(9)), "BET: 1 trailing bytes"),
        (raw_frame(2, raw_batch(1, [GOOD_BET, GOOD_BET]) + b"xy"), "BATCH: 2 trailing bytes"),
        (raw_frame(2, raw_batch(1, [GOOD_BET, GOOD_BET], count=1)), f"BATCH: {len(GOOD_BET)} trailing bytes"),
        (raw_frame(6, b"\x00\x00\x01" + s("12") + b"\x00"), "WINNERS: 1 trailing bytes"),
        (raw_frame(7, b"\x00\x01" + s("r") + b"!"), "ERROR: 1 trailing bytes"),
        # short fixed fields
        (raw_frame(3, b"\x00\x00\x00\x00"), "ACK: status and count needs 5 bytes at offset 0, payload has 4 left"),
        (raw_frame(3, b""), "ACK: status and count needs 5 bytes at offset 0, payload has 0 left"),
        (raw_frame(2, b"\x00\x00\x00"), "BATCH: seq and count needs 6 bytes at offset 0, payload has 3 left"),
        (raw_frame(2, raw_batch(0, [encode_bet(BET)])), "BATCH: seq 0 (an agency's batches are numbered from 1)"),
        (raw_frame(6, b"\x00"), "WINNERS: status and count needs 3 bytes at offset 0, payload has 1 left"),
        (raw_frame(7, b"\x00"), "ERROR: code needs 2 bytes at offset 0, payload has 1 left"),
        # truncated strings
        (raw_frame(1, b""), "BET: first_name length needs 2 bytes at offset 0, payload has 0 left"),
        (raw_frame(1, b"\x00"), "BET: first_name length needs 2 bytes at offset 0, payload has 1 left"),
        (raw_frame(1, b"\x00\x05Ana"), "BET: first_name needs 5 bytes at offset 2, payload has 3 left"),
        (raw_frame(1, GOOD_BET[:-1]), "BET: number needs 4 bytes at offset 37, payload has 3 left"),
        (raw_frame(1, GOOD_BET[:-5]), "BET: number length needs 2 bytes at offset 35, payload has 1 left"),
        (raw_frame(1, GOOD_BET[:24]), "BET: birthdate length needs 2 bytes at offset 23, payload has 1 left"),
        (raw_frame(1, GOOD_BET[:27]), "BET: birthdate needs 10 bytes at offset 25, payload has 2 left"),
        (
            raw_frame(2, raw_batch(1, [GOOD_BET, GOOD_BET[:-2]])),
            "BATCH bet 2/2: number needs 4 bytes at offset 84, payload has 2 left",
        ),
        (
            raw_frame(2, raw_batch(1, [GOOD_BET], count=3)),
            "BATCH bet 2/3: first_name length needs 2 bytes at offset 47, payload has 0 left",
        ),
        (
            raw_frame(6, b"\x00\x00\x02" + s("12")),
            "WINNERS: document length needs 2 bytes at offset 7, payload has 0 left",
        ),
        (
            raw_frame(6, b"\x00\x00\x01\x00\x09" + b"12"),
            "WINNERS: document needs 9 bytes at offset 5, payload has 2 left",
        ),
        (raw_frame(7, b"\x00\x01\x00\x09abc"), "ERROR: reason needs 9 bytes at offset 4, payload has 3 left"),
        # invalid UTF-8
        (raw_frame(1, raw_bet(first=b"\xff")), "BET: first_name is not valid UTF-8 (invalid start byte)"),
        (raw_frame(1, raw_bet(last=b"P\xc3")), "BET: last_name is not valid UTF-8 (unexpected end of data)"),
        (
            raw_frame(1, raw_bet(first=b"\xed\xa0\x80")),
            "BET: first_name is not valid UTF-8 (invalid continuation byte)",
        ),
        (raw_frame(1, raw_bet(document=b"\xc3\x28")), "BET: document is not valid UTF-8 (invalid continuation byte)"),
        (raw_frame(1, raw_bet(birthdate=b"\xff" * 10)), "BET: birthdate is not valid UTF-8 (invalid start byte)"),
        (raw_frame(1, raw_bet(number=b"\x80")), "BET: number is not valid UTF-8 (invalid start byte)"),
        (
            raw_frame(2, raw_batch(1, [GOOD_BET, raw_bet(first=b"\xc0\xaf")])),
            "BATCH bet 2/2: first_name is not valid UTF-8 (invalid start byte)",
        ),
        (raw_frame(6, b"\x00\x00\x01" + s(b"\xff")), "WINNERS: document is not valid UTF-8 (invalid start byte)"),
        (raw_frame(7, b"\x00\x01" + s(b"\xff")), "ERROR: reason is not valid UTF-8 (invalid start byte)"),
        # empty names
        (raw_frame(1, raw_bet(first="")), "BET: first_name and last_name must not be empty"),
        (raw_frame(1, raw_bet(last="")), "BET: first_name and last_name must not be empty"),
        (
            raw_frame(2, raw_batch(9, [GOOD_BET, GOOD_BET, raw_bet(first="", last="")])),
            "BATCH bet 3/3: first_name and last_name must not be empty",
        ),
        # bad dates
        (raw_frame(1, raw_bet(birthdate="2023-02-30")), "BET: birthdate '2023-02-30' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023-13-01")), "BET: birthdate '2023-13-01' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="0000-01-01")), "BET: birthdate '0000-01-01' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="20230101")), "BET: birthdate '20230101' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023-1-01")), "BET: birthdate '2023-1-01' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023-01-1")), "BET: birthdate '2023-01-1' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023-W01-1")), "BET: birthdate '2023-W01-1' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023/01/01")), "BET: birthdate '2023/01/01' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate=" 2023-01-01")), "BET: birthdate ' 2023-01-01' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="2023-01-01 ")), "BET: birthdate '2023-01-01 ' is not a YYYY-MM-DD date"),
        (raw_frame(1, raw_bet(birthdate="+023-01-01")), "BET: birthdate '+023-01-01' is not a YYYY-MM-DD date"),
        (
            raw_frame(1, raw_bet(birthdate="\uff12\uff10\uff12\uff13-01-01")),
            "BET: birthdate '\uff12\uff10\uff12\uff13-01-01' is not a YYYY-MM-DD date",
        ),
        (raw_frame(1, raw_bet(birthdate="")), "BET: birthdate '' is not a YYYY-MM-DD date"),
        (
            raw_frame(2, raw_batch(1, [raw_bet(birthdate="1999-02-29")])),
            "BATCH bet 1/1: birthdate '1999-02-29' is not a YYYY-MM-DD date",
        ),
        # documents and numbers
        (raw_frame(1, raw_bet(document="")), "BET: document must be ASCII digits, got ''"),
        (raw_frame(1, raw_bet(document="3090446a")), "BET: document must be ASCII digits, got '3090446a'"),
        (raw_frame(1, raw_bet(document="\uff11\uff12")), "BET: document must be ASCII digits, got '\uff11\uff12'"),
        (raw_frame(1, raw_bet(document="²")), "BET: document must be ASCII digits, got '²'"),
        (raw_frame(1, raw_bet(document="-12")), "BET: document must be ASCII digits, got '-12'"),
        (raw_frame(1, raw_bet(document=" 12")), "BET: document must be ASCII digits, got ' 12'"),
        (raw_frame(1, raw_bet(number="")), "BET: number must be ASCII digits, got ''"),
        (raw_frame(1, raw_bet(number="12a")), "BET: number must be ASCII digits, got '12a'"),
        (raw_frame(1, raw_bet(number="\uff11\uff12")), "BET: number must be ASCII digits, got '\uff11\uff12'"),
        (raw_frame(1, raw_bet(number="²")), "BET: number must be ASCII digits, got '²'"),
        (raw_frame(1, raw_bet(number="+1")), "BET: number must be ASCII digits, got '+1'"),
        (raw_frame(1, raw_bet(number="1_000")), "BET: number must be ASCII digits, got '1_000'"),
        (raw_frame(1, raw_bet(number=" 1")), "BET: number must be ASCII digits, got ' 1'"),
        (raw_frame(1, raw_bet(number="1.5")), "BET: number must be ASCII digits, got '1.5'"),
        (raw_frame(1, raw_bet(number="4294967296")), "BET: number 4294967296 out of range 0..4294967295"),
        (raw_frame(1, raw_bet(number="99999999999")), "BET: number 99999999999 out of range 0..4294967295"),
        (raw_frame(1, raw_bet(number="0099999999999")), "BET: number 99999999999 out of range 0..4294967295"),
        (
            raw_frame(1, raw_bet(number="9" * 5000)),
            f"BET: number {'9' * 48}... (5000 digits) out of range 0..4294967295",
        ),
        (
            raw_frame(2, raw_batch(1, [GOOD_BET, raw_bet(document="1", number="x")])),
            "BATCH bet 2/2: number must be ASCII digits, got 'x'",
        ),
        (
            raw_frame(1, raw_bet(document="1" * 60 + "x")),
            f"BET: document must be ASCII digits, got {'1' * 48!r}... (61 chars)",
        ),
        # counts and enums
        (raw_frame(2, raw_batch(1, [])), "BATCH: empty batch (count 0)"),
        (raw_frame(2, raw_batch(1, [GOOD_BET], count=0)), "BATCH: empty batch (count 0)"),
        (raw_frame(3, b"\x02\x00\x00\x00\x01"), "ACK: unknown status 2"),
        (raw_frame(3, b"\xff\x00\x00\x00\x01"), "ACK: unknown status 255"),
        (raw_frame(6, b"\x03\x00\x00"), "WINNERS: unknown status 3"),
        (raw_frame(6, b"\x01\x00\x01" + s("12")), "WINNERS: a not-ready answer carries no documents"),
        (raw_frame(6, b"\x00\x00\x01" + s("1a")), "WINNERS: document must be ASCII digits, got '1a'"),
        (raw_frame(6, b"\x00\x00\x01" + s("")), "WINNERS: document must be ASCII digits, got ''"),
        (raw_frame(6, b"\x02\x00\x01" + s("\uff11")), "WINNERS: document must be ASCII digits, got '\uff11'"),
        (raw_frame(7, b"\x00\x00" + s("r")), "ERROR: unknown error code 0"),
        (raw_frame(7, b"\x00\x0a" + s("r")), "ERROR: unknown error code 10"),
        (raw_frame(7, b"\x01\x00" + s("r")), "ERROR: unknown error code 256"),
    ],
)
def test_decoder_rejections(frame: bytes, reason: str) -> None:
    assert reason_of(frame) == reason
    # the same reason through FrameDecoder + decode (when the frame splits cleanly)
    if len(frame) - HEADER_SIZE == parse_header(frame).length:
        [(header, payload)] = FrameDecoder().feed(frame)
        with pytest.raises(ProtocolError) as info:
            decode(header, payload)
        assert info.value.reason == reason


def test_first_error_wins_within_a_bet() -> None:
    # the reference order: first_name, last_name (UTF-8), empty names, document, birthdate, number
    bet = raw_bet(first="", document="x", birthdate="bad", number="y")
    assert reason_of(raw_frame(1, bet)) == "BET: first_name and last_name must not be empty"
    bet = raw_bet(document="x", birthdate="bad", number="y")
    assert reason_of(raw_frame(1, bet)) == "BET: document must be ASCII digits, got 'x'"
    bet = raw_bet(birthdate="bad", number="y")
    assert reason_of(raw_frame(1, bet)) == "BET: birthdate 'bad' is not a YYYY-MM-DD date"
    bet = raw_bet(first="", last=b"\xff")
    assert reason_of(raw_frame(1, bet)) == "BET: last_name is not valid UTF-8 (invalid start byte)"
    # and the first bad bet of a batch
    bets = [GOOD_BET, raw_bet(number="x"), raw_bet(document="y")]
    assert reason_of(raw_frame(2, raw_batch(1, bets))) == "BATCH bet 2/3: number must be ASCII digits, got 'x'"


def test_decoder_accepts_what_the_reference_accepts() -> None:
    # leading zeros are digits: accepted (the value is what counts)
    key = bytes(8)
    bet = decode_frame(raw_frame(1, raw_bet(document="007", number="0004294967295") + key)).bet
    assert bet.document == "007" and bet.number == MAX_U32
    assert decode_frame(raw_frame(1, raw_bet(number="0" * 5000) + key)).bet.number == 0
    assert decode_frame(raw_frame(1, raw_bet(birthdate="2024-02-29") + key)).bet.birthdate == date(2024, 2, 29)
    assert decode_frame(raw_frame(1, raw_bet(birthdate="0001-01-01") + key)).bet.birthdate == date(1, 1, 1)
    # WINNERS READY_MORE may carry any number of documents, also none
    assert decode_frame(raw_frame(6, b"\x02\x00\x00")) == Winners(7, WinnersStatus.READY_MORE, ())


def test_decode_accepts_bytearray_and_memoryview() -> None:
    frame = encode(Batch(1, 1, (BET, BET)))
    header = parse_header(frame)
    assert decode(header, bytearray(frame[HEADER_SIZE:])).bets == (BET, BET)
    assert decode(header, memoryview(frame)[HEADER_SIZE:]).bets == (BET, BET)
    assert decode_frame(bytearray(frame)).bets == (BET, BET)


def test_decode_length_mismatch_message() -> None:
    header = Header(MessageType.FINISHED, 1, 0)
    with pytest.raises(ProtocolError, match=r"^header declares 0 payload bytes, got 1$"):
        decode(header, b"x")


# -- FrameDecoder -----------------------------------------------------------------------


def sample_stream() -> tuple[bytes, list[Message]]:
    messages = [*all_messages(), Batch(1, 2, (bet_of_size(MAX_PAYLOAD_SIZE - 6),))]
    return b"".join(encode(m) for m in messages), messages


def decode_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[Message]:
    return [decode(header, payload) for chunk in chunks for header, payload in decoder.feed(chunk)]


def test_frame_decoder_whole_stream_at_once() -> None:
    data, messages = sample_stream()
    decoder = FrameDecoder()
    assert decode_all(decoder, [data]) == messages
    assert decoder.pending == 0


def test_frame_decoder_byte_by_byte() -> None:
    data, messages = sample_stream()
    decoder = FrameDecoder()
    out: list[Message] = []
    for i in range(len(data)):
        out += decode_all(decoder, [data[i : i + 1]])
        assert decoder.pending < MAX_FRAME_SIZE
    assert out == messages
    assert decoder.pending == 0


@pytest.mark.parametrize("seed", range(20))
def test_frame_decoder_random_splits(seed: int) -> None:
    data, messages = sample_stream()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 200)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert decode_all(FrameDecoder(), chunks) == messages


def test_frame_decoder_pending_and_empty_payloads() -> None:
    decoder = FrameDecoder()
    frame = encode(Ack(1, AckStatus.OK, 3))
    assert decoder.feed(b"") == [] and decoder.pending == 0
    assert decoder.feed(frame[:4]) == [] and decoder.pending == 4
    assert decoder.feed(frame[4:12]) == [] and decoder.pending == 12
    # the rest of the ACK and a whole FINISHED: a 0-length frame is out as soon as its header is in
    frames = decoder.feed(frame[12:] + encode(Finished(1)) + encode(Ping(1, b"xyz"))[:11])
    assert frames == [(Header(MessageType.ACK, 1, 5), frame[HEADER_SIZE:]), (Header(MessageType.FINISHED, 1, 0), b"")]
    assert decoder.pending == 11
    assert decoder.feed(b"yz") == [(Header(MessageType.PING, 1, 3), b"xyz")]
    assert decoder.pending == 0


def test_frame_decoder_returns_bytes_payloads() -> None:
    [(_, payload)] = FrameDecoder().feed(bytearray(encode(Ping(1, b"abc"))))
    assert type(payload) is bytes and payload == b"abc"


def test_frame_decoder_rejects_a_bad_header_after_good_frames() -> None:
    decoder = FrameDecoder()
    good = encode(Ping(0, b"ok"))
    frames = decoder.feed(good)
    assert len(frames) == 1
    with pytest.raises(ProtocolError, match="bad magic"):
        decoder.feed(good + b"XX" + good[2:])


# -- socket I/O -------------------------------------------------------------------------


class CountingSocket:
    """A real socket that counts ``recv`` calls (to prove reads were short)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recv_calls = 0

    def recv(self, size: int) -> bytes:
        self.recv_calls += 1
        return self.sock.recv(size)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    left.settimeout(10)
    right.settimeout(10)
    yield left, right
    left.close()
    right.close()


def send_slowly(sock: socket.socket, data: bytes, then_close: bool = False) -> threading.Thread:
    def run() -> None:
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(0.0005)
        if then_close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_recv_exactly_across_short_reads(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    message = SingleBet(5, BetData("Ñandú 😀", "O'Brien | x", "123", date(2000, 1, 1), 9))
    frame = encode(message)
    thread = send_slowly(left, frame + frame)
    counting = CountingSocket(right)
    assert recv_message(counting) == message  # type: ignore[arg-type]
    assert counting.recv_calls > 2  # many short reads were stitched together
    assert recv_exactly(counting, len(frame)) == frame  # type: ignore[arg-type]
    thread.join()


def test_recv_exactly_zero_bytes_does_not_read(pair: tuple[socket.socket, socket.socket]) -> None:
    counting = CountingSocket(pair[1])
    assert recv_exactly(counting, 0) == b""  # type: ignore[arg-type]
    assert counting.recv_calls == 0


def test_send_and_recv_every_message(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    messages = all_messages()

    def run() -> None:
        for message in messages:
            send_message(left, message)
        send_frame(left, encode(Finished(1)))
        left.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    received = [recv_message(right) for _ in range(len(messages) + 1)]
    assert received == [*messages, Finished(1)]
    with pytest.raises(PeerClosed):
        recv_message(right)
    thread.join()


def test_peer_closed_at_a_clean_boundary(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    send_message(left, Finished(3))
    left.close()
    assert recv_message(right) == Finished(3)
    with pytest.raises(PeerClosed) as info:
        recv_message(right)
    assert not isinstance(info.value, ProtocolError)


@pytest.mark.parametrize("sent", [1, 5, 9])
def test_truncated_mid_header(pair: tuple[socket.socket, socket.socket], sent: int) -> None:
    left, right = pair
    send_frame(left, encode(Ack(1, AckStatus.OK, 1))[:sent])
    left.close()
    with pytest.raises(TruncatedFrame) as info:
        recv_message(right)
    assert info.value.reason == f"connection closed mid-frame after {sent} of 10 bytes"
    assert isinstance(info.value, ProtocolError)


@pytest.mark.parametrize("sent", [0, 1, 20])
def test_truncated_mid_payload(pair: tuple[socket.socket, socket.socket], sent: int) -> None:
    left, right = pair
    frame = encode(SingleBet(1, BET))
    length = len(frame) - HEADER_SIZE
    thread = send_slowly(left, frame[: HEADER_SIZE + sent], then_close=True)
    with pytest.raises(TruncatedFrame) as info:
        recv_message(right)
    assert info.value.reason == f"connection closed mid-frame after {sent} of {length} bytes"
    thread.join()


def test_recv_message_rejects_a_bad_header_without_waiting_for_payload(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    right.settimeout(2)
    left.sendall(raw_frame(2, b"")[:8] + b"\xff\xff")  # declares 65535 bytes, sends none
    with pytest.raises(ProtocolError, match="declared payload length 65535 exceeds the limit"):
        recv_message(right)


def test_recv_message_rejects_a_bad_payload(pair: tuple[socket.socket, socket.socket]) -> None:
    left, right = pair
    left.sendall(raw_frame(3, b"\x07\x00\x00\x00\x00"))
    with pytest.raises(ProtocolError, match=r"^ACK: unknown status 7$"):
        recv_message(right)


# -- BatchBuilder -----------------------------------------------------------------------


def make_bets(count: int, name: str = "Nombre") -> list[BetData]:
    return [
        BetData(f"{name}{i}", f"Apellido {i}", str(10000000 + i), date(1990, 1, 1 + i % 28), i) for i in range(count)
    ]


def build_all(builder: BatchBuilder, bets: list[BetData]) -> list[protocol.BuiltBatch]:
    built = [batch for bet in bets if (batch := builder.add(bet)) is not None]
    last = builder.flush()
    if last is not None:
        built.append(last)
    return built


def check_batches(built: list[protocol.BuiltBatch], bets: list[BetData], agency: int, max_amount: int) -> None:
    assert [b.seq for b in built] == list(range(1, len(built) + 1))
    decoded: list[BetData] = []
    for batch in built:
        assert len(batch.frame) <= MAX_FRAME_SIZE
        message = decode_frame(batch.frame)
        assert isinstance(message, Batch)
        assert message.agency == agency and message.seq == batch.seq
        assert len(message.bets) == batch.count <= max_amount
        decoded += message.bets
    assert decoded == bets  # same bets, same order


@pytest.mark.parametrize(
    ("total", "max_amount", "counts"), [(250, 100, [100, 100, 50]), (3, 1, [1, 1, 1]), (7, 7, [7])]
)
def test_batch_builder_respects_max_amount(total: int, max_amount: int, counts: list[int]) -> None:
    bets = make_bets(total)
    built = build_all(BatchBuilder(12, max_amount), bets)
    assert [b.count for b in built] == counts
    check_batches(built, bets, 12, max_amount)


def test_batch_builder_add_returns_the_previous_batch() -> None:
    builder = BatchBuilder(1, 2)
    bets = make_bets(3)
    assert builder.add(bets[0]) is None
    assert builder.add(bets[1]) is None
    done = builder.add(bets[2])
    assert done is not None and done.seq == 1 and done.count == 2
    last = builder.flush()
    assert last is not None and last.seq == 2 and last.count == 1
    assert builder.flush() is None


@pytest.mark.parametrize("filler", ["a", "ñ", "語", "😀"])
def test_batch_builder_never_exceeds_the_frame_limit(filler: str) -> None:
    rng = random.Random(filler)
    bets = [
        BetData(filler * rng.randint(1, 900), filler * rng.randint(1, 300), str(i), date(1980, 5, 5), i)
        for i in range(200)
    ]
    built = build_all(BatchBuilder(3, 10_000), bets)
    check_batches(built, bets, 3, 10_000)
    # batches are filled: each one would have overflowed with the next bet
    for batch, following in itertools.pairwise(built):
        first_of_next = decode_frame(following.frame).bets[0]
        assert len(batch.frame) + len(encode_bet(first_of_next)) > MAX_FRAME_SIZE


def test_batch_builder_fills_a_frame_exactly() -> None:
    bets = [bet_of_size(MAX_BATCH_BYTES // 2), bet_of_size(MAX_BATCH_BYTES - MAX_BATCH_BYTES // 2), bet_of_size(50)]
    built = build_all(BatchBuilder(1, 100), bets)
    assert [len(b.frame) for b in built] == [MAX_FRAME_SIZE, HEADER_SIZE + 6 + 50]
    check_batches(built, bets, 1, 100)


def test_batch_builder_single_bet_limits() -> None:
    builder = BatchBuilder(1, 10)
    assert builder.add(bet_of_size(MAX_BATCH_BYTES)) is None
    done = builder.add(BET)
    assert done is not None and len(done.frame) == MAX_FRAME_SIZE
    with pytest.raises(ProtocolError, match=r"^a bet of 8177 bytes cannot fit in any frame$"):
        builder.add(bet_of_size(MAX_BATCH_BYTES + 1))
    # the refused bet did not disturb the pending batch
    last = builder.flush()
    assert last is not None and last.seq == 2 and decode_frame(last.frame).bets == (BET,)


def test_batch_builder_validates() -> None:
    with pytest.raises(ValueError, match="max_amount must be at least 1"):
        BatchBuilder(1, 0)
    builder = BatchBuilder(-1, 5)
    builder.add(BET)
    with pytest.raises(ProtocolError, match=r"^agency -1 out of range 0..4294967295$"):
        builder.flush()


def test_public_api_is_complete() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert HEADER_SIZE == 10 and MAX_FRAME_SIZE == 8192 and MAX_PAYLOAD_SIZE == 8182
    assert [t.value for t in MessageType] == list(range(1, 10))


# -- the fast decoding path -------------------------------------------------------------


def test_valid_batches_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from protocol import bets as module

    calls: list[str] = []
    reference = module.read_bet

    def spy(reader: object, what: str) -> BetData:
        calls.append(what)
        return reference(reader, what)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "read_bet", spy)
    bets = (*make_bets(100), BetData("Ñandú 😀", 'a|b, "c"\n', "0", date(1, 1, 1), MAX_U32))
    assert decode_frame(encode(Batch(1, 1, bets))).bets == bets
    assert decode_frame(encode(SingleBet(1, bets[-1]))).bet == bets[-1]
    assert calls == []
    # unusual but valid bets go through the reference decoder, and are accepted
    frame = raw_frame(2, raw_batch(1, [GOOD_BET, raw_bet(number="00000000007"), GOOD_BET]))
    assert [b.number for b in decode_frame(frame).bets] == [7574, 7, 7574]
    assert calls == ["BATCH bet 2/3"]


def test_date_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from protocol.bets import DATE_CACHE

    monkeypatch.setattr(DATE_CACHE, "max_size", 3)
    DATE_CACHE.entries.clear()
    for day in range(1, 11):
        bet = BET._replace(birthdate=date(2001, 1, day))
        assert decode_frame(encode(SingleBet(1, bet))).bet == bet
        assert len(DATE_CACHE.entries) <= 3
    DATE_CACHE.entries.clear()
