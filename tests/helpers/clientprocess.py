"""The client as a real subprocess (``python -m client``) with only the given settings, its
output read as it comes, and waits on its lines and log events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.localserver import REPO_ROOT
from helpers.local import WAIT
from logline import parse_line

BET_ENV_VARS = ("NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO")
FAST_SETTINGS = {
    "CLI_BACKOFF_INITIAL": "0.02",
    "CLI_BACKOFF_MAX": "0.1",
    "CLI_CONNECT_DEADLINE": "5",
    "CLI_READ_TIMEOUT": "3",
    "CLI_LOG_LEVEL": "DEBUG",
}


class ClientProcess:
    """``python -m client`` from the repository root, with only the given CLI_* / bet variables set."""

    def __init__(self, env: dict[str, str]) -> None:
        clean_env = {
            key: value for key, value in os.environ.items() if not key.startswith("CLI_") and key not in BET_ENV_VARS
        }
        clean_env["PYTHONUNBUFFERED"] = "1"
        clean_env.update(env)
        self.lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._changed = threading.Condition()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "client"],
            cwd=REPO_ROOT,
            env=clean_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stderr, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> ClientProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def _read(self, pipe, into: list[str]) -> None:
        for line in pipe:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float = WAIT) -> str:
        """The first stderr line containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._readers_alive()):
                    raise AssertionError(f"no line with {text!r} within {timeout} s; got:\n" + self.output())
                self._changed.wait(min(remaining, 0.05))

    def wait_for_events(
        self, action: str, result: str | None = None, count: int = 1, timeout: float = WAIT
    ) -> list[dict[str, str]]:
        """The ``action`` (``result``) events, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(action, result)
            if len(found) >= count:
                return found
            with self._changed:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._readers_alive()):
                    raise AssertionError(
                        f"no {count} `{action} | {result}` events within {timeout} s; got:\n" + "\n".join(self.lines)
                    )
                self._changed.wait(min(remaining, 0.05))

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def wait(self, timeout: float = WAIT) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the client did not exit within {timeout} s; output:\n{self.output()}") from None
        for reader in self._readers:
            reader.join(WAIT)
        return code

    def signal(self, signum: signal.Signals) -> float:
        """Send ``signum``; the moment it was sent."""
        self.process.send_signal(signum)
        return time.monotonic()

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def events(self, action: str, result: str | None = None) -> list[dict[str, str]]:
        """The ``action: X | result: Y | k: v`` lines of ``action`` as field dicts (without the prefix)."""
        found = []
        with self._changed:
            lines = list(self.lines)
        for line in lines:
            parsed = parse_line(line)  # a line that breaks the log contract raises: the test fails
            if parsed is None or parsed.event.action != action or result not in (None, parsed.event.result):
                continue
            found.append({"action": parsed.event.action, "result": parsed.event.result, **parsed.event.fields})
        return found


def client_env(agency: int, server_address: str, data_path: Path | str, **extra: str) -> dict[str, str]:
    return {
        **FAST_SETTINGS,
        "CLI_ID": str(agency),
        "CLI_SERVER_ADDRESS": server_address,
        "CLI_DATA_PATH": str(data_path),
        **extra,
    }
