"""SIGTERM / SIGINT at any point: the client closes its socket, logs the shutdown line and exits 0 at once."""

from __future__ import annotations

import signal
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers import (
    ClientProcess,
    FakeServer,
    Hold,
    LotteryBehaviour,
    Reply,
    client_env,
    free_port,
    wait_until,
)
from timing import scaled

from protocol import Batch, Message

AGENCY = 5
PROMPT = scaled(0.5)  # seconds from the signal to the exit, at most


def assert_prompt_clean_stop(client: ClientProcess, sent_at: float, reason: str) -> None:
    code = client.wait()
    elapsed = time.monotonic() - sent_at
    assert code == 0, client.output()
    assert elapsed < PROMPT, f"took {elapsed:.3f} s to stop"
    assert client.lines[-1].endswith(f"action: shutdown | result: success | reason: {reason}"), client.output()
    assert "Traceback" not in client.output()


def test_sigterm_while_connecting(agency_file: Path, stack: ExitStack) -> None:
    env = client_env(AGENCY, f"127.0.0.1:{free_port()}", agency_file, CLI_BACKOFF_INITIAL="0.3", CLI_BACKOFF_MAX="1")
    client = stack.enter_context(ClientProcess(env))
    client.wait_for_line("action: connect | result: in_progress")
    assert_prompt_clean_stop(client, client.signal(signal.SIGTERM), "SIGTERM")


class NeverAcks(LotteryBehaviour):
    def respond(self, connection: int, message: Message) -> list[Reply]:
        if isinstance(message, Batch) and message.seq == 2:
            return [Hold(30)]
        return super().respond(connection, message)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_waiting_for_an_ack(agency_file: Path, stack: ExitStack, signum: signal.Signals) -> None:
    server = stack.enter_context(FakeServer(NeverAcks()))
    env = client_env(AGENCY, server.address, agency_file, CLI_BATCH_MAXAMOUNT="10", CLI_READ_TIMEOUT="20")
    client = stack.enter_context(ClientProcess(env))
    server.wait_for(lambda s: any(isinstance(m, Batch) and m.seq == 2 for m in s.messages()))
    # sent batch 2: the client is blocked on its reply (or about to be; either way the same clean stop)
    assert_prompt_clean_stop(client, client.signal(signum), signum.name)
    server.wait_for(lambda s: s.closed_connections == s.connections, timeout=1)  # the client closed its socket


def test_sigterm_while_backing_off_between_winners_queries(agency_file: Path, stack: ExitStack) -> None:
    server = stack.enter_context(FakeServer(LotteryBehaviour(not_ready=1000)))
    env = client_env(AGENCY, server.address, agency_file, CLI_BACKOFF_INITIAL="5", CLI_BACKOFF_MAX="5")
    client = stack.enter_context(ClientProcess(env))
    client.wait_for_line("action: consulta_ganadores | result: in_progress")
    assert_prompt_clean_stop(client, client.signal(signal.SIGTERM), "SIGTERM")
    server.wait_for(lambda s: s.closed_connections == s.connections, timeout=1)


class NeverAnswers(LotteryBehaviour):
    def respond(self, connection: int, message: Message) -> list[Reply]:
        return [Hold(30)]


def catches(pid: int, signum: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (the kernel's SigCgt mask)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        mask = next(line for line in status if line.startswith("SigCgt:")).split()[1]
    return bool(int(mask, 16) & (1 << (signum - 1)))


def test_sigterm_right_at_start_up(agency_file: Path, stack: ExitStack) -> None:
    """The signal lands the moment the handlers are in, while the client is still importing and
    setting up (the server never answers, so it cannot have finished): a clean stop all the same."""
    server = stack.enter_context(FakeServer(NeverAnswers()))
    client = stack.enter_context(ClientProcess(client_env(AGENCY, server.address, agency_file)))
    wait_until(lambda: catches(client.process.pid, signal.SIGTERM), 10, "the client's SIGTERM handler", interval=0.001)
    assert_prompt_clean_stop(client, client.signal(signal.SIGTERM), "SIGTERM")
