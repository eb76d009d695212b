"""``host_lock`` excludes other processes, names what it waited for, and dies with its holder."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from harness import hostlock
from harness.hostlock import HostLockTimeout, host_lock


def hold(directory: str, ready: Connection, release: Connection) -> None:
    hostlock.LOCK_DIRECTORY = Path(directory)
    with host_lock("shared", timeout=5, purpose="the test's resource"):
        ready.send("held")
        release.recv()


@pytest.fixture
def lock_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(hostlock, "LOCK_DIRECTORY", tmp_path)
    return tmp_path


@pytest.fixture
def holder(lock_directory):
    """Another process holding the lock ``shared`` until ``release`` is sent."""
    context = multiprocessing.get_context("spawn")
    ready_receiver, ready_sender = context.Pipe(duplex=False)
    release_receiver, release_sender = context.Pipe(duplex=False)
    process = context.Process(target=hold, args=(str(lock_directory), ready_sender, release_receiver))
    process.start()
    try:
        assert ready_receiver.poll(30), "the holder process never took the lock"
        assert ready_receiver.recv() == "held"
        yield process, release_sender
    finally:
        process.kill()
        process.join(10)


def test_a_lock_held_by_another_process_times_out_naming_its_purpose(holder):
    with (
        pytest.raises(HostLockTimeout, match="the test's resource"),
        host_lock("shared", timeout=0.5, purpose="the test's resource"),
    ):
        pass


def test_another_lock_name_is_free(holder):
    with host_lock("other", timeout=0.5, purpose="another resource"):
        pass


def test_the_lock_is_taken_once_the_holder_releases_it(holder):
    process, release = holder
    release.send("done")
    with host_lock("shared", timeout=30, purpose="the test's resource"):
        pass
    process.join(10)
    assert process.exitcode == 0


def test_a_killed_holder_leaves_no_lock_behind(holder):
    process, _ = holder
    process.kill()
    process.join(10)
    with host_lock("shared", timeout=30, purpose="the test's resource"):
        pass
