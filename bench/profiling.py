"""Part 5, where the server's time goes: py-spy on every server process during an ingest run.

``py-spy record --subprocesses --nonblocking --format raw`` samples the supervisor and its
workers while the ingest senders play their frames; the collapsed stacks are folded into
the functions with the most samples, by self time (the leaf) and in total (anywhere on the
stack); idle waits are left out (py-spy's default). Without py-spy, the
same frames go through ``Conversation.handle`` under cProfile, in this process (no sockets).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import REPO_ROOT, BenchError, PartResult, Report
from bench.ingest import local_server
from bench.senders import START_TIMEOUT, agency_frames, drive

TOP = 15
COLUMNS = ["kind", "function", "samples_pct"]


def _py_spy() -> str | None:
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def _frame_name(frame: str) -> str:
    # py-spy's raw frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, _line = where.rpartition(":")
    short = "/".join(Path(file).parts[-2:]) if file else ""
    return f"{name} ({short})" if short else name


def fold(collapsed: str) -> tuple[Counter[str], Counter[str], int]:
    """(self samples, total samples, all samples) per function of py-spy's raw output."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")[1:]]  # the first is the process
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return own, total, samples


def _rows(own: Counter[str], total: Counter[str], samples: int) -> list[dict[str, object]]:
    """The top functions by self samples, then the project's functions by total samples (without
    the process's main loop and its callers, which are on every stack)."""
    rows: list[dict[str, object]] = []
    for name, count in own.most_common(TOP):
        rows.append({"kind": "self", "function": name, "samples_pct": round(100 * count / samples, 1)})
    inner = Counter(
        {
            name: count
            for name, count in total.items()
            if count < 0.9 * samples and any(f"({package}/" in name for package in ("server", "protocol"))
        }
    )
    for name, count in inner.most_common(TOP):
        rows.append({"kind": "total", "function": name, "samples_pct": round(100 * count / samples, 1)})
    return rows


def profile_server(agencies: int, bets_each: int, workers: int, report: Report, root: Path = REPO_ROOT) -> PartResult:
    part = PartResult("profile", "Where the server's time goes (ingest run under py-spy)", COLUMNS)
    frames = {agency: agency_frames(agency, bets_each) for agency in range(1, agencies + 1)}
    py_spy = _py_spy()
    if py_spy is None:
        part.notes.append("py-spy not found: cProfile of Conversation.handle in-process instead")
        return _cprofile(part, frames, report)
    try:
        return _py_spy_server(part, py_spy, frames, bets_each, workers, report, root)
    except BenchError as exc:  # e.g. ptrace not permitted here
        part.notes.append(f"py-spy failed ({exc}): cProfile of Conversation.handle in-process instead")
        return _cprofile(part, frames, report)


def _py_spy_server(
    part: PartResult,
    py_spy: str,
    frames: dict[int, list[tuple[bytes, bytes]]],
    bets_each: int,
    workers: int,
    report: Report,
    root: Path,
) -> PartResult:
    agencies = len(frames)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        server = local_server(Path(tmp), agencies=agencies, workers=workers, root=root)
        spy: subprocess.Popen[bytes] | None = None
        try:
            server.wait_ready(START_TIMEOUT)
            output = Path(tmp) / "stacks.txt"
            command = [py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--nonblocking"]
            command += ["--rate", "250", "--format", "raw", "--output", str(output), "--duration", "120"]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)  # py-spy attaches
            measured = drive(server.port, frames, senders=1)
            spy.send_signal(signal.SIGINT)
            _, stderr = spy.communicate(timeout=30)
            if not output.exists():
                raise BenchError(f"py-spy wrote nothing: {stderr.decode(errors='replace')[-500:]}")
            own, total, samples = fold(output.read_text(encoding="utf-8", errors="replace"))
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait(5)
            server.close()
    if not samples:
        raise BenchError("py-spy recorded no samples")
    rate = agencies * bets_each / measured.seconds
    part.notes.append(
        f"{agencies} agencies x {bets_each} bets, {workers} workers: {rate:,.0f} bets/s under py-spy "
        f"(250 Hz, --nonblocking), {samples} samples of the supervisor and workers while on CPU or runnable "
        "(py-spy leaves idle waits out)"
    )
    part.rows = _rows(own, total, samples)
    report(f"profile: {samples} samples; top self: " + ", ".join(f"{n} {c}" for n, c in own.most_common(3)))
    return part


def _cprofile(part: PartResult, frames: dict[int, list[tuple[bytes, bytes]]], report: Report) -> PartResult:
    from protocol import HEADER_SIZE, parse_header
    from server.conversation import Conversation
    from server.logs import setup_logging
    from server.state import Lottery, SharedState

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        saved = os.dup(1)
        log = os.open(os.path.join(tmp, "server.log"), os.O_WRONLY | os.O_CREAT)
        os.dup2(log, 1)  # the server's log lines go to a file, as in the real server
        try:
            setup_logging("INFO")
            lottery = Lottery(Path(tmp) / "bets.csv", len(frames), SharedState())
            lottery.open()
            lottery.recover()
            parsed = [[(parse_header(f), f[HEADER_SIZE:]) for f, _ in fs] for fs in frames.values()]
            profiler = cProfile.Profile()
            profiler.enable()
            for agency_frames_ in parsed:
                conversation = Conversation(lottery)
                for header, payload in agency_frames_:
                    conversation.handle(header, payload)
            profiler.disable()
            lottery.close()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(log)
            with contextlib.suppress(Exception):
                import logging

                logging.getLogger().handlers.clear()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    entries = stats.stats  # type: ignore[attr-defined]
    all_time = sum(value[2] for value in entries.values()) or 1.0
    own = Counter({f"{name} ({Path(file).name})": value[2] for (file, _, name), value in entries.items()})
    total = Counter({f"{name} ({Path(file).name})": value[3] for (file, _, name), value in entries.items()})
    part.rows = [
        {"kind": kind, "function": name, "samples_pct": round(100 * seconds / all_time, 1)}
        for kind, counter in (("self", own), ("total", total))
        for name, seconds in counter.most_common(TOP)
    ]
    report("profile: cProfile of Conversation.handle done")
    return part


def run(
    report: Report, agencies: int = 5, bets_each: int = 40_000, workers: int | None = None, root: Path = REPO_ROOT
) -> PartResult:
    return profile_server(agencies, bets_each, workers or os.cpu_count() or 1, report, root)
