"""In-process tests of the server's domain, storage, ledger recovery, config and reply splitting."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from helpers import tricky_bets

from protocol import MAX_FRAME_SIZE, WinnersStatus, encode
from protocol import split_winners as winners_frames
from server.config import ConfigError, load_config
from server.draw import compute_winners
from server.model import Bet, bets_to_csv, has_won, load_bets, store_bets
from server.state import Lottery, SharedState, StoreStatus
from server.storage import BetStore

# -- model ----------------------------------------------------------------------------------


def test_store_and_load_round_trip_keeps_every_character(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    first, second = tricky_bets(1), tricky_bets(2)
    store_bets(first, path)
    store_bets(second, path)
    assert list(load_bets(path)) == first + second


def test_rows_look_like_the_courses_csv() -> None:
    bet = Bet(1, "Santiago Lionel", "Lorca", "30904465", date(1999, 3, 17), 7574)
    assert bets_to_csv([bet]) == b"1,Santiago Lionel,Lorca,30904465,1999-03-17,7574\n"


def test_bet_accepts_the_courses_string_arguments() -> None:
    bet = Bet("3", "A", "B", "123", "1999-03-17", "7574")  # type: ignore[arg-type]
    assert (bet.agency, bet.birthdate, bet.number) == (3, date(1999, 3, 17), 7574)


def test_has_won_only_for_7574() -> None:
    assert has_won(Bet(1, "A", "B", "1", date(2000, 1, 1), 7574))
    assert not has_won(Bet(1, "A", "B", "1", date(2000, 1, 1), 7575))


def test_compute_winners_groups_documents_by_agency_in_order() -> None:
    bets = tricky_bets(1) + tricky_bets(2)
    winners = compute_winners(bets)
    assert winners == {
        1: [bet.document for bet in bets[:5] if bet.number == 7574],
        2: [bet.document for bet in bets[5:] if bet.number == 7574],
    }


# -- ledger and recovery --------------------------------------------------------------------


def open_store(path: Path) -> BetStore:
    store = BetStore(path)
    store.open()
    store.sync()
    return store


def test_a_second_process_view_catches_up_on_sync(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    writer, reader = open_store(path), open_store(path)
    writer.append_batch(4, 1, 5, bets_to_csv(tricky_bets(4)))
    writer.append_batch(4, 0, 1, bets_to_csv(tricky_bets(4)[:1]))
    writer.append_finished(4)
    reader.sync()
    assert reader.index.stored_digest(4, 1) is not None and reader.index.stored_digest(4, 2) is None
    assert reader.index.stored_digest(4, 0) is None  # single bets go by their key, not by seq 0
    assert (reader.index.bets, reader.index.batches, reader.index.bets_by_agency) == (6, 2, {4: 6})
    assert reader.index.finished == {4}
    # the reader can append right after what it learned
    reader.append_batch(5, 1, 5, bets_to_csv(tricky_bets(5)))
    assert len(list(load_bets(path))) == 11
    writer.close()
    reader.close()


def test_recovery_cuts_an_unacknowledged_tail_and_a_torn_ledger_line(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    store = open_store(path)
    store.append_batch(1, 1, 5, bets_to_csv(tricky_bets(1)))
    store.close()
    good_size = path.stat().st_size
    with open(path, "ab") as file:  # a crash after writing bets, before their ledger line
        file.write(bets_to_csv(tricky_bets(2)))
    with open(f"{path}.batches", "ab") as file:  # ... or in the middle of the ledger line
        file.write(b"2,1,5,99")
    with open(f"{path}.finished", "ab") as file:
        file.write(b"1\n2")

    store = BetStore(path)
    store.open()
    discarded = store.sync()
    assert discarded.bets_bytes > 0 and discarded.ledger_bytes == len(b"2,1,5,99")
    assert discarded.finished_bytes == 1
    assert path.stat().st_size == good_size
    assert list(load_bets(path)) == tricky_bets(1)
    assert store.index.finished == {1}
    assert store.index.stored_digest(2, 1) is None
    # appending after recovery continues cleanly
    store.append_batch(2, 1, 5, bets_to_csv(tricky_bets(2)))
    store.close()
    assert list(load_bets(path)) == tricky_bets(1) + tricky_bets(2)
    assert Path(f"{path}.batches").read_text().splitlines()[-1] == f"2,1,5,{path.stat().st_size},"


def test_ledger_entries_beyond_the_bets_file_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    store = open_store(path)
    store.append_batch(1, 1, 5, bets_to_csv(tricky_bets(1)))
    size_one = path.stat().st_size
    store.append_batch(1, 2, 5, bets_to_csv(tricky_bets(1)))
    store.close()
    os.truncate(path, size_one + 3)  # the second batch's data is lost
    store = open_store(path)
    assert store.index.batches == 1
    assert store.index.stored_digest(1, 1) is not None and store.index.stored_digest(1, 2) is None
    assert path.stat().st_size == size_one
    store.close()


def test_a_bets_file_without_ledger_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "bets.csv"
    store_bets(tricky_bets(1), path)  # written by the course's server: no ledger
    store = open_store(path)
    assert store.index.bets == 5
    store.append_batch(2, 1, 5, bets_to_csv(tricky_bets(2)))
    store.close()
    assert list(load_bets(path)) == tricky_bets(1) + tricky_bets(2)


def test_lottery_dedups_rejects_late_bets_and_draws_once(tmp_path: Path) -> None:
    shared = SharedState()
    lottery = Lottery(tmp_path / "bets.csv", agencies=2, shared=shared)
    lottery.open()
    assert lottery.store_bets(1, 1, tricky_bets(1)) is StoreStatus.STORED
    assert lottery.store_bets(1, 1, tricky_bets(1)) is StoreStatus.DUPLICATE
    first = lottery.finish(1)
    assert (first.first_time, first.bets_stored, first.draw_winners) == (True, 5, None)
    assert lottery.store_bets(1, 2, tricky_bets(1)) is StoreStatus.AGENCY_FINISHED
    assert lottery.store_bets(1, 1, tricky_bets(1)) is StoreStatus.DUPLICATE
    assert lottery.store_bets(2, 1, tricky_bets(2)) is StoreStatus.STORED
    second = lottery.finish(2)
    assert second.draw_winners == 4 and lottery.draw_done()
    assert lottery.finish(2).draw_winners is None
    assert lottery.store_bets(3, 1, tricky_bets(3)) is StoreStatus.DRAW_DONE
    assert lottery.winners_of(2) == [bet.document for bet in tricky_bets(2) if bet.number == 7574]
    assert lottery.winners_of(3) == []
    lottery.close()


# -- winners frames -------------------------------------------------------------------------


def test_winners_split_into_frames_under_the_limit() -> None:
    documents = [str(10**11 + index) for index in range(2000)]
    frames = winners_frames(7, documents)
    assert len(frames) > 1
    assert [frame.status for frame in frames] == [WinnersStatus.READY_MORE] * (len(frames) - 1) + [WinnersStatus.READY]
    assert all(len(encode(frame)) <= MAX_FRAME_SIZE for frame in frames)
    assert [document for frame in frames for document in frame.documents] == documents
    assert winners_frames(7, []) == [winners_frames(7, [])[0]] and winners_frames(7, [])[0].documents == ()


# -- config ---------------------------------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.ini"
    path.write_text(text)
    return {"SERVER_CONFIG": str(path)}


COURSE_CONFIG = "[DEFAULT]\nSERVER_PORT = 12345\nSERVER_IP = 0.0.0.0\nSERVER_LISTEN_BACKLOG = 5\nLOGGING_LEVEL = INFO\n"


def test_config_defaults_and_env_overrides(tmp_path: Path) -> None:
    env = write_config(tmp_path, COURSE_CONFIG)
    config = load_config(env)
    assert (config.port, config.ip, config.listen_backlog, config.logging_level) == (12345, "0.0.0.0", 5, "INFO")
    assert (config.agencies, config.read_timeout, config.winners_hold, config.storage_fsync) == (5, 10, 1.0, False)
    assert str(config.storage_path) == "bets.csv" and config.workers >= 1
    config = load_config({**env, "SERVER_PORT": "999", "WORKERS": "3", "STORAGE_FSYNC": "yes", "AGENCIES": "2"})
    assert (config.port, config.workers, config.storage_fsync, config.agencies) == (999, 3, True, 2)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (None, {}, "cannot read config file"),
        ("SERVER_PORT = 1\n", {}, "cannot parse config file"),
        ("[DEFAULT]\nSERVER_IP = x\n", {}, "missing config key SERVER_PORT"),
        (COURSE_CONFIG, {"SERVER_PORT": "http"}, "invalid value 'http' for SERVER_PORT"),
        (COURSE_CONFIG, {"WORKERS": "0"}, "WORKERS"),
        (COURSE_CONFIG, {"LOGGING_LEVEL": "LOUD"}, "LOGGING_LEVEL"),
        (COURSE_CONFIG, {"READ_TIMEOUT": "nan"}, "READ_TIMEOUT"),
        (COURSE_CONFIG, {"STORAGE_FSYNC": "maybe"}, "STORAGE_FSYNC"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str | None, env: dict[str, str], message: str) -> None:
    environ = write_config(tmp_path, text) if text is not None else {"SERVER_CONFIG": str(tmp_path / "none.ini")}
    with pytest.raises(ConfigError, match=message) as error:
        load_config({**environ, **env})
    assert "\n" not in str(error.value)


def test_the_lock_of_a_process_that_died_holding_it_is_released() -> None:
    import multiprocessing

    shared = SharedState()

    def die_holding_the_lock() -> None:
        shared.lock.acquire()
        shared.lock_holder.value = os.getpid()
        os._exit(1)

    process = multiprocessing.get_context("fork").Process(target=die_holding_the_lock)
    process.start()
    process.join(5)
    assert process.pid is not None
    assert not shared.lock.acquire(timeout=0.05)
    assert shared.release_if_held_by(process.pid)
    with shared.locked():
        assert shared.lock_holder.value == os.getpid()
    assert not shared.release_if_held_by(process.pid)
