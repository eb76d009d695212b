"""The server as a local process: ``python -m server`` on 127.0.0.1, port 0, in its own directory.

The fast tests (no Docker) and the ingest benchmark run the server this way. The port it got is
read from its ``listen`` line; it counts as ready once every worker logged ``worker_start``. It
runs in a process group of its own, so ``kill()`` / ``close()`` reach its workers too; its
output goes to a file (``log_path``), read with the strict log-contract parser.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

from harness.store import STORE_FILE
from logline import SUCCESS, LogEvent, parse_line
from logline.actions import LISTEN, WORKER_START

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 8.0
# Settings the server reads from its environment: a caller's own environment never leaks into a run.
SERVER_SETTINGS = ("SERVER_", "STORAGE_", "WINNERS_", "LOGGING_LEVEL", "AGENCIES", "WORKERS", "READ_TIMEOUT")


class LocalServerError(RuntimeError):
    """The server exited or did not get ready; the message holds the end of its output."""


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``condition`` until it is true; after ``timeout`` seconds raise naming ``what``.

    For state only a file or another process shows (a log file, a socket's peer): no event to wait on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class LocalServer:
    """One ``python -m server`` process, started at once with ``settings`` (environment variables)
    over these defaults: 127.0.0.1, port 0, the repository's config.ini, the store in ``directory``,
    one worker. ``root``: the tree to run the server of (another checkout for A/B benchmarks)."""

    def __init__(self, directory: Path, settings: Mapping[str, object] | None = None, root: Path = REPO_ROOT) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith(SERVER_SETTINGS)}
        env.update(
            SERVER_CONFIG=str(root / "server" / "config.ini"),
            SERVER_IP="127.0.0.1",
            SERVER_PORT="0",
            SERVER_LISTEN_BACKLOG="128",
            STORAGE_PATH=str(directory / STORE_FILE),
            WORKERS="1",
        )
        env.update({key: str(value) for key, value in (settings or {}).items()})
        self.directory = directory
        self.storage_path = Path(env["STORAGE_PATH"])
        self.workers = int(env["WORKERS"])
        self.log_path = directory / f"server-{time.monotonic_ns()}.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill() / close() / terminate()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server"],
            cwd=root,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() reaches the workers too
        )
        self.port = 0

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Self:
        """Wait for the ``listen`` line and every worker's ``worker_start``; sets ``port``."""

        def listening() -> bool:
            if self.process.poll() is not None:
                raise LocalServerError(f"server exited with {self.process.returncode}:\n{self.output()[-2000:]}")
            return len(self.parsed_events(WORKER_START, SUCCESS)) >= self.workers and bool(
                self.parsed_events(LISTEN, SUCCESS)
            )

        try:
            wait_until(listening, timeout, f"the server to listen with its {self.workers} worker(s) started")
        except AssertionError as exc:
            raise LocalServerError(f"{exc}; its output:\n{self.output()[-2000:]}") from None
        self.port = int(self.parsed_events(LISTEN, SUCCESS)[0].fields["port"])
        return self

    # -- output --------------------------------------------------------------------------

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def lines(self) -> list[str]:
        return self.output().splitlines()

    def parsed_events(self, action: str, result: str | None = None) -> list[LogEvent]:
        """The events of ``action`` (and ``result``) in order; a line that breaks the log contract
        raises ``LogLineError``."""
        found = []
        for line in self.lines():
            parsed = parse_line(line)
            if parsed is not None and parsed.event.action == action and result in (None, parsed.event.result):
                found.append(parsed.event)
        return found

    def events(self, action: str, result: str | None = None) -> list[str]:
        """The messages (``action: ... | ...``) of the events of ``action`` (and ``result``)."""
        return [event.message() for event in self.parsed_events(action, result)]

    def wait_for(self, text: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` lines of the output hold ``text``."""
        wait_until(lambda: sum(text in line for line in self.lines()) >= count, timeout, repr(text))

    # -- ending --------------------------------------------------------------------------

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> tuple[int, float]:
        """Signal the server (not its workers) and wait for it; returns (exit code, seconds it took)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._log_file.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the server and its workers (its process group), whatever state they are in."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self._log_file.close()

    def close(self) -> None:
        """SIGTERM the process group and wait for a clean end; SIGKILL it if that takes too long."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
