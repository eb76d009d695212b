"""Helpers of the fast tests, imported as ``helpers``: bets (``bets``), the server as a local
process and a minimal agency (``servers``), a scripted fake server (``fakeserver``) and the client
as a real subprocess (``clientprocess``); ``local`` says where and how long they talk.

Everything binds 127.0.0.1 only; every wait has a timeout; every helper that starts something
is a context manager (or closed by a fixture of ``conftest.py``) that stops its threads, sockets
and processes even when a test fails. The server and the client tests share them: each side's
helpers are the other side's peer.
"""

from harness.localserver import REPO_ROOT, wait_until
from helpers.bets import (
    TRICKY_NAMES,
    WINNING_NUMBER,
    GeneratedBets,
    agency_file_bets,
    lottery_bets,
    stored_rows,
    tricky_bets,
    write_agency_file,
)
from helpers.clientprocess import BET_ENV_VARS, FAST_SETTINGS, ClientProcess, client_env
from helpers.fakeserver import CLOSE, Close, FakeServer, Hold, LotteryBehaviour, Received, Reply, winners_frames
from helpers.local import HOST, WAIT, free_port
from helpers.servers import SERVER_TEST_SETTINGS, AgencyClient, ServerPool, ServerProcess

__all__ = [
    "BET_ENV_VARS",
    "CLOSE",
    "FAST_SETTINGS",
    "HOST",
    "REPO_ROOT",
    "SERVER_TEST_SETTINGS",
    "TRICKY_NAMES",
    "WAIT",
    "WINNING_NUMBER",
    "AgencyClient",
    "ClientProcess",
    "Close",
    "FakeServer",
    "GeneratedBets",
    "Hold",
    "LotteryBehaviour",
    "Received",
    "Reply",
    "ServerPool",
    "ServerProcess",
    "agency_file_bets",
    "client_env",
    "free_port",
    "lottery_bets",
    "stored_rows",
    "tricky_bets",
    "wait_until",
    "winners_frames",
    "write_agency_file",
]
