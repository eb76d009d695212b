"""Property-based tests of the wire protocol (hypothesis).

* Malformed input never crashes the decoder: random bytes, random payloads behind a
  valid header, and mutated valid frames (bit flips, truncations, length-field
  changes, insertions/deletions) only ever raise ``ProtocolError`` or decode.
  Every run tries well over 10,000 malformed inputs: each test asserts its own
  share, and the counts are printed (``pytest -s``) and recorded as junit properties.
* The fast BATCH/BET decoder agrees with the reference field-by-field decoder on
  every mutated frame: same result, or the same rejection reason.
* Encode/decode round trips for arbitrary valid bets (any unicode but surrogates).
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    Ack,
    AckStatus,
    Batch,
    BatchBuilder,
    BetData,
    Error,
    ErrorCode,
    Finished,
    FrameDecoder,
    Message,
    MessageType,
    Ping,
    Pong,
    ProtocolError,
    SingleBet,
    Winners,
    WinnersQuery,
    WinnersStatus,
    decode,
    decode_frame,
    encode,
    parse_header,
    split_winners,
)
from protocol.bets import DATE_CACHE, read_bet
from protocol.messages import BATCH_PREFIX
from protocol.payload import U64, PayloadReader

# Malformed inputs each test must have tried (and seen rejected) per run; the sum is
# what the suite guarantees: >= 10,000.
QUOTAS = {"random_bytes": 6_000, "mutations": 4_500}
assert sum(QUOTAS.values()) >= 10_000

STATS: Counter[str] = Counter()

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def run_counted(name: str, body: Callable[[], None], record_property: Callable[[str, object], None]) -> None:
    """Run a @given ``body`` and check it tried at least its quota of malformed inputs."""
    before_tried, before_rejected = STATS[f"{name} tried"], STATS[f"{name} rejected"]
    body()
    tried = STATS[f"{name} tried"] - before_tried
    rejected = STATS[f"{name} rejected"] - before_rejected
    print(f"\n{name}: {tried} inputs tried, {rejected} rejected with ProtocolError")
    record_property(f"{name}_tried", tried)
    record_property(f"{name}_rejected", rejected)
    assert rejected >= QUOTAS[name], f"{name}: only {rejected} malformed inputs tried"


def attempt(name: str, action: Callable[[], object]) -> object | None:
    """Run ``action``; a ProtocolError is a rejection, any other exception fails the test."""
    STATS[f"{name} tried"] += 1
    try:
        return action()
    except ProtocolError as exc:
        assert exc.reason and isinstance(exc.reason, str)
        STATS[f"{name} rejected"] += 1
        return None


def feed_all(data: bytes, cuts: list[int]) -> list[Message]:
    """Split ``data`` at ``cuts``, feed a FrameDecoder and decode every frame out."""
    decoder = FrameDecoder()
    points = sorted({c % (len(data) + 1) for c in cuts})
    out: list[Message] = []
    for a, b in zip([0, *points], [*points, len(data)], strict=True):
        for header, payload in decoder.feed(data[a:b]):
            assert len(payload) == header.length <= MAX_FRAME_SIZE - HEADER_SIZE
            out.append(decode(header, payload))
    return out


def header_bytes(type_code: int, length: int, agency: int = 1) -> bytes:
    return struct.pack("!2sBBIH", b"LT", 1, type_code, agency, length)


# -- strategies -------------------------------------------------------------------------

names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40)
digits = st.text("0123456789", min_size=1, max_size=20)
bets = st.builds(BetData, names, names, digits, st.dates(), st.integers(0, 2**32 - 1))
agencies = st.integers(0, 2**32 - 1)
u32 = st.integers(0, 2**32 - 1)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    agency = draw(agencies)
    kind = draw(st.sampled_from(MessageType))
    if kind is MessageType.BET:
        return SingleBet(agency, draw(bets))
    if kind is MessageType.BATCH:
        return Batch(agency, draw(st.integers(1, 2**32 - 1)), tuple(draw(st.lists(bets, min_size=1, max_size=6))))
    if kind is MessageType.ACK:
        return Ack(agency, draw(st.sampled_from(AckStatus)), draw(u32))
    if kind is MessageType.FINISHED:
        return Finished(agency)
    if kind is MessageType.WINNERS_QUERY:
        return WinnersQuery(agency)
    if kind is MessageType.WINNERS:
        status = draw(st.sampled_from(WinnersStatus))
        documents = () if status is WinnersStatus.NOT_READY else tuple(draw(st.lists(digits, max_size=20)))
        return Winners(agency, status, documents)
    if kind is MessageType.ERROR:
        return Error(agency, draw(st.sampled_from(ErrorCode)), draw(st.text(max_size=60)))
    cls = Ping if kind is MessageType.PING else Pong
    return cls(agency, draw(st.binary(max_size=40)))


# -- (a) malformed input never crashes ---------------------------------------------------


PARSED_TYPES = [t for t in MessageType if t not in (MessageType.PING, MessageType.PONG)]


@settings(FUZZ, max_examples=1_000)
@given(blob=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8), agency=agencies)
def _fuzz_random_bytes(blob: bytes, cuts: list[int], agency: int) -> None:
    # 1. as a stream, split anywhere; 2. as a frame; 3. behind the right magic and
    # version (random type and length); 4. behind a valid header of each parsed type
    # (PING and PONG take any payload), so that every message parser sees it
    attempt("random_bytes", lambda: feed_all(blob, cuts))
    attempt("random_bytes", lambda: decode_frame(blob))
    attempt("random_bytes", lambda: feed_all(b"LT\x01" + blob, cuts))
    for type_code in PARSED_TYPES:
        frame = header_bytes(type_code, len(blob), agency) + blob
        decoded = attempt("random_bytes", partial(decode_frame, frame))
        if decoded is not None:
            # whatever is accepted encodes to a frame that decodes the same...
            assert decode_frame(encode(decoded)) == decoded  # type: ignore[arg-type]
            if type_code not in (MessageType.BET, MessageType.BATCH):
                # ...and, but for bets (a number may have leading zeros), to the same bytes
                assert encode(decoded) == frame  # type: ignore[arg-type]


def test_random_bytes_never_crash(record_property: Callable[[str, object], None]) -> None:
    run_counted("random_bytes", _fuzz_random_bytes, record_property)


def reference_decode(frame: bytes) -> Message:
    """BET/BATCH decoded with the slow reference decoder only (others: ``decode_frame``)."""
    header = parse_header(frame)
    payload = frame[HEADER_SIZE:]
    if header.type not in (MessageType.BET, MessageType.BATCH) or len(payload) != header.length:
        return decode_frame(frame)
    reader = PayloadReader(payload, header.type.name)
    if header.type is MessageType.BET:
        reader.what = "BET"
        bet = read_bet(reader, "BET")
        (key,) = reader.unpack(U64, "key")
        message: Message = SingleBet(header.agency, bet, key)
    else:
        seq, count = reader.unpack(BATCH_PREFIX, "seq and count")
        if seq == 0:
            raise ProtocolError("BATCH: seq 0 (an agency's batches are numbered from 1)")
        if count == 0:
            raise ProtocolError("BATCH: empty batch (count 0)")
        found = []
        for index in range(count):
            reader.what = f"BATCH bet {index + 1}/{count}"
            found.append(read_bet(reader, reader.what))
        reader.what = "BATCH"
        message = Batch(header.agency, seq, tuple(found))
    reader.end()
    return message


def outcome(function: Callable[[bytes], object], frame: bytes) -> tuple[str, object]:
    try:
        return "ok", function(frame)
    except ProtocolError as exc:
        return "error", exc.reason


def with_length(frame: bytes) -> bytes:
    """``frame`` with its length field set to its actual payload size."""
    return frame[:8] + struct.pack("!H", max(0, len(frame) - HEADER_SIZE)) + frame[HEADER_SIZE:]


def mutants(frame: bytes, rng: random.Random) -> list[bytes]:
    """Thirteen damaged copies of ``frame``."""
    size = len(frame)
    out: list[bytes] = []
    for low in (0, 0, 0, HEADER_SIZE, HEADER_SIZE, HEADER_SIZE):  # bit flips: anywhere, in the payload
        flipped = bytearray(frame)
        flipped[rng.randrange(min(low, size - 1), size)] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    replaced = bytearray(frame)
    replaced[rng.randrange(min(HEADER_SIZE, size - 1), size)] = rng.randrange(256)
    out.append(bytes(replaced))
    out += [frame[: rng.randrange(size)], frame[: rng.randrange(max(0, size - 4), size)]]  # truncations
    for length in (rng.randrange(2**16), rng.randrange(max(0, size - 13), size - 7)):  # length field
        out.append(frame[:8] + struct.pack("!H", length) + frame[HEADER_SIZE:])
    at = rng.randrange(HEADER_SIZE, size + 1)  # an insertion and a deletion, header kept consistent
    out.append(with_length(frame[:at] + rng.randbytes(rng.randrange(1, 4)) + frame[at:]))
    at = rng.randrange(HEADER_SIZE, size) if size > HEADER_SIZE else HEADER_SIZE
    out.append(with_length(frame[:at] + frame[at + 1 :]))
    return out


@settings(FUZZ, max_examples=600)
@given(message=messages(), rng=st.randoms(use_true_random=False))
def _fuzz_mutations(message: Message, rng: random.Random) -> None:
    frame = encode(message)
    assert decode_frame(frame) == message
    for mutant in mutants(frame, rng):
        fast = outcome(decode_frame, mutant)
        STATS["mutations tried"] += 1
        if fast[0] == "error":
            STATS["mutations rejected"] += 1
        # the fast decoder accepts exactly what the reference decoder accepts, and
        # rejects with exactly the same reason
        assert fast == outcome(reference_decode, mutant)
        # FrameDecoder, in 7-byte chunks: the same message, or only ProtocolError
        fed = outcome(feed_in_chunks, mutant)
        if fast[0] == "ok":
            assert fed == ("ok", [fast[1]])


def feed_in_chunks(frame: bytes) -> list[Message]:
    return feed_all(frame, list(range(7, len(frame), 7)))


def test_mutated_frames_never_crash(record_property: Callable[[str, object], None]) -> None:
    run_counted("mutations", _fuzz_mutations, record_property)


@settings(FUZZ, max_examples=150)
@given(frames=st.lists(messages(), min_size=1, max_size=5), cuts=st.lists(st.integers(0, 10_000), max_size=30))
def test_frame_decoder_any_split(frames: list[Message], cuts: list[int]) -> None:
    stream = b"".join(encode(m) for m in frames)
    assert feed_all(stream, cuts) == frames


# -- (b) round trips --------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(bet=bets, agency=agencies)
def test_single_bet_round_trip(bet: BetData, agency: int) -> None:
    assert decode_frame(encode(SingleBet(agency, bet))) == SingleBet(agency, bet)


@settings(max_examples=300, deadline=None)
@given(message=messages())
def test_every_message_round_trip(message: Message) -> None:
    frame = encode(message)
    assert len(frame) <= MAX_FRAME_SIZE
    assert decode_frame(frame) == message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bet_list=st.lists(
        st.builds(
            BetData,
            st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=700),
            names,
            digits,
            st.dates(),
            st.integers(0, 2**32 - 1),
        ),
        max_size=60,
    ),
    max_amount=st.integers(1, 200),
    agency=agencies,
)
def test_batch_builder_round_trip(bet_list: list[BetData], max_amount: int, agency: int) -> None:
    builder = BatchBuilder(agency, max_amount)
    built = [b for bet in bet_list if (b := builder.add(bet)) is not None]
    if (last := builder.flush()) is not None:
        built.append(last)
    assert [b.seq for b in built] == list(range(1, len(built) + 1))
    decoded: list[BetData] = []
    for batch in built:
        assert len(batch.frame) <= MAX_FRAME_SIZE
        message = decode_frame(batch.frame)
        assert isinstance(message, Batch) and message.agency == agency and message.seq == batch.seq
        assert 1 <= len(message.bets) == batch.count <= max_amount
        decoded += message.bets
    assert decoded == bet_list


@settings(max_examples=100, deadline=None)
@given(documents=st.lists(digits, max_size=2_000), agency=agencies)
def test_split_winners_round_trip(documents: list[str], agency: int) -> None:
    answers = split_winners(agency, documents)
    received: list[str] = []
    for index, answer in enumerate(answers):
        frame = encode(answer)
        assert len(frame) <= MAX_FRAME_SIZE
        decoded = decode_frame(frame)
        last = index == len(answers) - 1
        assert decoded.status is (WinnersStatus.READY if last else WinnersStatus.READY_MORE)
        received += decoded.documents
    assert received == documents


def test_decoded_dates_are_cached_only_when_valid() -> None:
    frame = encode(SingleBet(1, BetData("a", "b", "1", date(1917, 10, 25), 3)))
    assert decode_frame(frame).bet.birthdate == date(1917, 10, 25)
    assert DATE_CACHE.entries[b"1917-10-25"] == date(1917, 10, 25)
    with pytest.raises(ProtocolError):
        decode_frame(frame.replace(b"1917-10-25", b"1917-02-30"))
    assert b"1917-02-30" not in DATE_CACHE.entries


@pytest.fixture(scope="module", autouse=True)
def _report_totals() -> object:
    yield
    total = sum(STATS[f"{name} rejected"] for name in QUOTAS)
    print(f"\nprotocol fuzz: {total} malformed inputs rejected this run ({dict(STATS)})")
