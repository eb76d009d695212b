"""Open a report in headless Chromium (Debian's ``chromium`` package), as a person would: the DOM
after its scripts ran, what the console said, a screenshot. Used by the report's tests and its
benchmark; nothing here installs a browser (``scripts/provision-chromium.sh`` does).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_ENV = "CHROMIUM"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Quiet, offline, no profile of the user's: nothing reaches the network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
)
# With --enable-logging=stderr, every console message is a line like
# [1:2:1201/224504.487912:INFO:CONSOLE:12] "Uncaught TypeError: ...", source: file:///... (12)
# (older releases write CONSOLE(12)).
_CONSOLE = re.compile(r":[A-Z0-9]+:CONSOLE(?::\d+|\(\d+\))\] \"(?P<message>.*)\", source: (?P<source>.*)$")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """The Chromium binary: ``$CHROMIUM``, else Debian's; None when there is none."""
    for candidate in (os.environ.get(CHROMIUM_ENV, ""), *CANDIDATES, shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class PageVisit:
    dom: str  # the document after its scripts ran (``--dump-dom``)
    console: list[str]  # every console message (errors, warnings, logs)
    seconds: float  # the whole browser run: start, load, scripts, dump, exit


def _run(arguments: list[str], timeout: float) -> tuple[str, str, float]:
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no Chromium: install Debian's `chromium` (scripts/provision-chromium.sh)")
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *arguments]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"Chromium did not finish within {timeout}s: {' '.join(arguments)}") from None
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BrowserError(f"Chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout, done.stderr, elapsed


def console_messages(stderr: str) -> list[str]:
    found = []
    for line in stderr.splitlines():
        match = _CONSOLE.search(line)
        if match:
            found.append(f"{match.group('message')} ({match.group('source')})")
    return found


def _url(page: Path, fragment: str) -> str:
    return Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")


def visit(page: Path, timeout: float = 60, window: tuple[int, int] = (1400, 1000), fragment: str = "") -> PageVisit:
    """Load ``page`` from disk (``#fragment`` if given), run its scripts, return the resulting DOM
    and the console's messages."""
    url = _url(page, fragment)
    stdout, stderr, seconds = _run(
        [f"--window-size={window[0]},{window[1]}", "--virtual-time-budget=5000", "--dump-dom", url], timeout
    )
    return PageVisit(stdout, console_messages(stderr), seconds)


def screenshot(
    page: Path, target: Path, window: tuple[int, int] = (1400, 1000), timeout: float = 60, fragment: str = ""
) -> Path:
    """A PNG of ``page`` as a window of ``window`` pixels shows it (at ``#fragment`` if given)."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    _run([f"--window-size={window[0]},{window[1]}", f"--screenshot={target}", _url(page, fragment)], timeout)
    if not target.exists():
        raise BrowserError(f"Chromium wrote no screenshot at {target}")
    return target
