"""In-process tests of the client's parts: settings, back-off, CSV reading, log lines, reply readers."""

from __future__ import annotations

import io
import itertools
import logging
import random
from datetime import date
from pathlib import Path

import pytest

from client.backoff import Backoff, BackoffSettings, GrowingInterval
from client.bets import MalformedRow, bet_from_env, read_bets
from client.config import ConfigError, ServerAddress, load_config, parse_address, parse_seconds
from client.link import LinkFailure
from client.session import Session, read_ack, read_winners
from logline import IN_PROGRESS, parse_message
from protocol import Ack, AckStatus, BetData, Error, ErrorCode, Winners, WinnersStatus, decode_frame

# -- settings -----------------------------------------------------------------------------


def write_yaml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return {"CLI_CONFIG": str(path)}


COURSE_YAML = """
server:
  address: "server:12345"
loop:
  amount: 5
  period: "5s"
log:
  level: "INFO"
batch:
  maxAmount: 100
"""


def test_course_shaped_yaml_with_id_from_env(tmp_path: Path) -> None:
    config = load_config({**write_yaml(tmp_path, COURSE_YAML), "CLI_ID": "4"})
    assert config.agency == 4
    assert config.server == ServerAddress("server", 12345)
    assert config.batch_max_amount == 100
    assert config.log_level == "INFO"
    assert config.data_path == Path("/data/agency-4.csv")
    assert (config.backoff.initial, config.backoff.maximum, config.backoff.multiplier) == (0.05, 2.0, 2.0)
    assert (config.connect_deadline, config.read_timeout, config.batch_pause) == (30.0, 10.0, 0.0)


def test_env_overrides_yaml(tmp_path: Path) -> None:
    env = {
        **write_yaml(tmp_path, COURSE_YAML + "id: 9\n"),
        "CLI_ID": "2",
        "CLI_SERVER_ADDRESS": "127.0.0.1:5000",
        "CLI_BATCH_MAXAMOUNT": "7",
        "CLI_LOG_LEVEL": "debug",
        "CLI_DATA_PATH": "/tmp/bets-{id}.csv",
        "CLI_BACKOFF_INITIAL": "10ms",
        "CLI_BACKOFF_MAX": "1s",
        "CLI_BACKOFF_MULTIPLIER": "3",
        "CLI_CONNECT_DEADLINE": "4.5",
        "CLI_READ_TIMEOUT": "2",
        "CLI_BATCH_PAUSE": "250ms",
    }
    config = load_config(env)
    assert config.agency == 2
    assert config.server == ServerAddress("127.0.0.1", 5000)
    assert config.batch_max_amount == 7
    assert config.log_level == "DEBUG"
    assert config.data_path == Path("/tmp/bets-2.csv")
    assert (config.backoff.initial, config.backoff.maximum, config.backoff.multiplier) == (0.01, 1.0, 3.0)
    assert (config.connect_deadline, config.read_timeout, config.batch_pause) == (4.5, 2.0, 0.25)


def test_the_shipped_config_yaml_loads() -> None:
    config = load_config({"CLI_ID": "1"})
    assert config.server == ServerAddress("server", 12345)
    assert config.batch_max_amount == 100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "missing setting 'id'"),
        ({"CLI_ID": "abc"}, "positive integer"),
        ({"CLI_ID": "0"}, "positive integer"),
        ({"CLI_ID": "4294967296"}, "at most"),
        ({"CLI_ID": "1", "CLI_SERVER_ADDRESS": "server"}, "host:port"),
        ({"CLI_ID": "1", "CLI_SERVER_ADDRESS": "server:0"}, "port"),
        ({"CLI_ID": "1", "CLI_BATCH_MAXAMOUNT": "0"}, "positive integer"),
        ({"CLI_ID": "1", "CLI_LOG_LEVEL": "LOUD"}, "one of DEBUG"),
        ({"CLI_ID": "1", "CLI_BACKOFF_INITIAL": "-1"}, "positive number of seconds"),
        ({"CLI_ID": "1", "CLI_BACKOFF_INITIAL": "3", "CLI_BACKOFF_MAX": "1"}, "must not be below"),
        ({"CLI_ID": "1", "CLI_BACKOFF_MULTIPLIER": "0.5"}, ">= 1"),
        ({"CLI_ID": "1", "CLI_READ_TIMEOUT": "soon"}, "seconds"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config({**write_yaml(tmp_path, COURSE_YAML), **env})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server: [unclosed\n  x: : y", "not valid YAML"),
        ("- a list\n- not a mapping\n", "must hold a mapping"),
        ("id: 1\nserver: just-a-string\n", "'server' in the config file must be a mapping"),
        ("id: true\nserver: {address: 'a:1'}\n", "positive integer"),
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write_yaml(tmp_path, text))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({"CLI_CONFIG": str(tmp_path / "nope.yaml"), "CLI_ID": "1"})


def test_address_and_seconds_parsers() -> None:
    assert parse_address("[::1]:80") == ServerAddress("::1", 80)
    assert str(ServerAddress("::1", 80)) == "[::1]:80"
    assert parse_seconds("5s") == 5.0
    assert parse_seconds("50ms") == 0.05
    assert parse_seconds(2) == 2.0
    with pytest.raises(ValueError):
        parse_seconds(True)


@pytest.mark.parametrize("zero", [0, 0.0, "0", "0.00", " 0s ", "0ms"])
def test_zero_seconds_is_a_pause_of_none_but_never_a_timeout(zero: object) -> None:
    assert parse_seconds(zero, allow_zero=True) == 0.0
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        parse_seconds(zero)


@pytest.mark.parametrize("bad", [-1, -0.5, "-1", "1e3", "nan", float("inf"), True, None, "", "5 min"])
def test_seconds_refused_with_or_without_zero(bad: object) -> None:
    with pytest.raises(ValueError, match="must be a non-negative number of seconds"):
        parse_seconds(bad, allow_zero=True)
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        parse_seconds(bad)


def test_batch_pause_may_be_zero_and_nothing_below(tmp_path: Path) -> None:
    env = {**write_yaml(tmp_path, COURSE_YAML), "CLI_ID": "1"}
    assert load_config({**env, "CLI_BATCH_PAUSE": "0"}).batch_pause == 0.0
    with pytest.raises(ConfigError, match=r"bad CLI_BATCH_PAUSE='-0.2': batch.pause must be a non-negative number"):
        load_config({**env, "CLI_BATCH_PAUSE": "-0.2"})
    with pytest.raises(ConfigError, match=r"timeout.read must be a positive number of seconds, got '0'"):
        load_config({**env, "CLI_READ_TIMEOUT": "0"})


# -- back-off -----------------------------------------------------------------------------


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(BackoffSettings(initial=0.1, maximum=1.0, multiplier=2), random.Random(7))
    steps = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    for step in steps:
        delay = backoff.next_delay()
        assert step / 2 <= delay <= step
    backoff.reset()
    assert 0.05 <= backoff.next_delay() <= 0.1


# -- reading bets -------------------------------------------------------------------------


def test_reads_crlf_rows_with_accents_and_quotes() -> None:
    text = 'José María,Pérez,30904465,1999-03-17,7574\r\n"Ñandú, el ""raro""",Núñez,1,2000-02-29,0\r\n\r\n'
    bets = list(read_bets(io.StringIO(text, newline="")))
    assert bets == [
        (1, BetData("José María", "Pérez", "30904465", date(1999, 3, 17), 7574)),
        (2, BetData('Ñandú, el "raro"', "Núñez", "1", date(2000, 2, 29), 0)),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,b,1,2000-01-01", "expected 5 fields"),
        ("a,b,1,2000-01-01,5,6", "expected 5 fields"),
        ("a,b,1,2000-13-01,5", "birthdate"),
        ("a,b,1,01/02/2000,5", "birthdate"),
        ("a,b,1,2020-W01-1,5", "birthdate"),
        ("a,b,12a,2000-01-01,5", "document"),
        ("a,b,1,2000-01-01,cinco", "number"),
        ("a,b,1,2000-01-01,-5", "number"),
        ("a,b,1,2000-01-01,99999999999", "over"),
        (",b,1,2000-01-01,5", "first name"),
    ],
)
def test_malformed_row_names_its_line(row: str, message: str) -> None:
    text = "a,b,1,2000-01-01,5\r\na,b,2,2000-01-01,5\r\n" + row + "\r\na,b,3,2000-01-01,5\r\n"
    bets = read_bets(io.StringIO(text, newline=""))
    assert next(bets).line == 1
    assert next(bets).line == 2
    with pytest.raises(MalformedRow) as error:
        next(bets)
    assert error.value.line == 3
    assert message in error.value.error


def test_bet_from_env() -> None:
    env = {"NOMBRE": "Ana", "APELLIDO": "Ruíz", "DOCUMENTO": "123", "NACIMIENTO": "1990-01-02", "NUMERO": "77"}
    assert bet_from_env(env) == BetData("Ana", "Ruíz", "123", date(1990, 1, 2), 77)
    assert bet_from_env({}) is None
    with pytest.raises(ValueError, match="lacks NUMERO"):
        bet_from_env({k: v for k, v in env.items() if k != "NUMERO"})
    with pytest.raises(ValueError, match="birthdate"):
        bet_from_env({**env, "NACIMIENTO": "ayer"})


# -- progress lines -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_growing_interval_is_due_first_then_after_doubling_gaps() -> None:
    clock = FakeClock()
    interval = GrowingInterval(clock, first=1.0, multiplier=2.0, maximum=4.0)
    due_at = []
    for _ in range(200):
        if interval.due():
            due_at.append(clock.now)
        clock.sleep(0.25)
    assert due_at[:5] == [0.0, 1.0, 3.0, 7.0, 11.0]  # gaps 1, 2, 4, then capped at 4
    assert len(due_at) == 5 + (50 - 11) // 4


class NotReadyLink:
    """Answers WINNERS_QUERY with NOT_READY ``not_ready`` times, then READY."""

    def __init__(self, not_ready: int) -> None:
        self.not_ready = not_ready

    def exchange(self, frame: bytes, read_reply):
        self.not_ready -= 1
        answer = Winners(1, WinnersStatus.NOT_READY) if self.not_ready >= 0 else Winners(1, WinnersStatus.READY, ("7",))
        return read_reply(lambda: answer)


def test_waiting_for_the_draw_logs_info_at_growing_intervals(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    session = Session(
        1,
        NotReadyLink(not_ready=40),  # type: ignore[arg-type]
        Backoff(BackoffSettings(0.5, 0.5, 1), random.Random(0)),  # every poll 0.25-0.5 s apart
        sleep=clock.sleep,
        clock=clock,
    )
    with caplog.at_level(logging.DEBUG, logger="client"):
        assert session.await_winners() == ("7",)
    waits = [(r.levelno, parse_message(r.getMessage())) for r in caplog.records]
    waits = [(level, event) for level, event in waits if event.result == IN_PROGRESS]
    assert [event.action for _, event in waits] == ["consulta_ganadores"] * 40
    info_attempts = [int(event.fields["intento"]) for level, event in waits if level == logging.INFO]
    assert info_attempts[0] == 1
    gaps = [b - a for a, b in itertools.pairwise(info_attempts)]
    assert len(info_attempts) >= 3 and gaps == sorted(gaps) and gaps[-1] > gaps[0], info_attempts
    assert len(info_attempts) < 10  # not one per poll


# -- reply readers ------------------------------------------------------------------------


def replies(*messages):
    queue = list(messages)
    return lambda: queue.pop(0)


def test_read_winners_joins_ready_more_frames() -> None:
    answer = read_winners(
        replies(
            Winners(1, WinnersStatus.READY_MORE, ("1", "2")),
            Winners(1, WinnersStatus.READY_MORE, ("3",)),
            Winners(1, WinnersStatus.READY, ("4",)),
        )
    )
    assert answer == Winners(1, WinnersStatus.READY, ("1", "2", "3", "4"))
    assert read_winners(replies(Winners(1, WinnersStatus.NOT_READY))).status is WinnersStatus.NOT_READY
    with pytest.raises(LinkFailure):
        read_winners(replies(Winners(1, WinnersStatus.READY_MORE, ("1",)), Winners(1, WinnersStatus.NOT_READY)))


def test_read_ack_tells_refusals_from_transient_errors() -> None:
    assert read_ack(replies(Ack(1, AckStatus.DUPLICATE, 3))) == Ack(1, AckStatus.DUPLICATE, 3)
    refusal = Error(1, ErrorCode.INVALID_BET, "bad")
    assert read_ack(replies(refusal)) == refusal
    with pytest.raises(LinkFailure, match="SHUTTING_DOWN"):
        read_ack(replies(Error(1, ErrorCode.SHUTTING_DOWN, "bye")))
    with pytest.raises(LinkFailure, match="expected ACK"):
        read_ack(replies(Winners(1, WinnersStatus.NOT_READY)))


# -- the session over a stub link ---------------------------------------------------------


class AckingLink:
    """Stands in for ServerLink: records frames and ACKs every one."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def exchange(self, frame: bytes, read_reply):
        self.frames.append(frame)
        return read_reply(lambda: Ack(1, AckStatus.OK, len(decode_frame(frame).bets)))


def test_a_bet_too_large_for_any_frame_is_a_malformed_row() -> None:
    link = AckingLink()
    session = Session(1, link, Backoff(BackoffSettings(0.01, 0.01, 1)))  # type: ignore[arg-type]
    rows = "a,b,1,2000-01-01,5\r\n" + "Ñ" * 5000 + ",b,2,2000-01-01,5\r\n"
    with pytest.raises(MalformedRow) as error:
        session.send_batches(read_bets(io.StringIO(rows, newline="")), 10)
    assert error.value.line == 2
    assert "cannot fit" in error.value.error
    assert link.frames == []  # the bet before it was still waiting for its batch to fill


def test_a_batch_pause_waits_between_batches_only() -> None:
    link = AckingLink()
    pauses: list[float] = []
    session = Session(1, link, Backoff(BackoffSettings(0.01, 0.01, 1)), sleep=pauses.append)  # type: ignore[arg-type]
    rows = "".join(f"a,b,{i},2000-01-01,5\r\n" for i in range(1, 8))
    session.send_batches(read_bets(io.StringIO(rows, newline="")), 3, pause=0.25)
    assert len(link.frames) == 3 and session.acknowledged == 7
    assert pauses == [0.25, 0.25]  # before batches 2 and 3, none before the first


def test_invalid_utf8_is_a_malformed_row() -> None:
    raw = "José,Pérez,1,2000-01-01,5\r\n".encode() + b"Jos\xe9,P,2,2000-01-01,5\r\n"
    rows = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
    with pytest.raises(MalformedRow, match="not valid UTF-8"):
        list(read_bets(rows))
