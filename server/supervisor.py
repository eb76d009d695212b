"""The parent process: config, recovery, the listening socket, the worker pool, shutdown."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from logline import FAIL, SUCCESS
from logline.actions import (
    CONFIG,
    DESCARTE_NO_CONFIRMADO,
    LISTEN,
    LOCK_LIBERADO,
    RECUPERACION,
    SHUTDOWN,
    STARTUP,
    WORKER_EXIT,
    WORKER_RESTART,
    WORKER_STOP,
)
from server import shutdown
from server.config import ConfigError, ServerConfig, load_config
from server.logs import log_event, setup_logging
from server.state import Lottery, SharedState
from server.worker import run_worker

SUPERVISE_TICK = 0.2
SHUTDOWN_GRACE = 4.0  # > a worker's longest step (a send blocked up to SEND_TIMEOUT)
RESTART_BACKOFF = 1.0  # a worker dying this soon after its start is restarted this much later


def main() -> int:
    shutdown.install_handlers()  # first: a SIGTERM during startup still ends in a clean shutdown
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"server: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.logging_level)
    log_event(
        CONFIG,
        SUCCESS,
        port=config.port,
        listen_backlog=config.listen_backlog,
        logging_level=config.logging_level,
        agencies=config.agencies,
        workers=config.workers,
        ip=config.ip,
        storage_path=config.storage_path,
        read_timeout=config.read_timeout,
        winners_hold=config.winners_hold,
        storage_fsync=config.storage_fsync,
    )
    try:
        return Supervisor(config).run()
    except Exception as exc:
        log_event(STARTUP, FAIL, logging.ERROR, error=f"{type(exc).__name__}: {exc}")
        return 1


def open_listener(config: ServerConfig) -> socket.socket:
    """Created before forking: every worker accepts from it (non-blocking, so losers move on)."""
    family = socket.AF_INET6 if ":" in config.ip else socket.AF_INET
    listener = socket.create_server((config.ip, config.port), family=family, backlog=config.listen_backlog)
    listener.setblocking(False)
    return listener


class Supervisor:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.context = multiprocessing.get_context("fork")  # workers inherit the listener and the lock
        self.shared = SharedState(self.context)
        self.workers: dict[int, BaseProcess] = {}
        self.started_at: dict[int, float] = {}
        self.restart_at: dict[int, float] = {}
        self.listener: socket.socket | None = None

    def run(self) -> int:
        self._recover()
        self.listener = open_listener(self.config)
        ip, port = self.listener.getsockname()[:2]
        log_event(LISTEN, SUCCESS, ip=ip, port=port)
        for slot in range(self.config.workers):
            self._start_worker(slot)
        while not shutdown.requested():
            self._supervise()
        self._shutdown()
        return 0

    def _recover(self) -> None:
        lottery = Lottery(self.config.storage_path, self.config.agencies, self.shared, self.config.storage_fsync)
        lottery.open()
        try:
            report = lottery.recover()
        finally:
            lottery.close()
        if report.discarded:
            log_event(
                DESCARTE_NO_CONFIRMADO,
                SUCCESS,
                logging.WARNING,
                bytes_apuestas=report.discarded.bets_bytes,
                bytes_lotes=report.discarded.ledger_bytes,
                bytes_finalizadas=report.discarded.finished_bytes,
            )
        log_event(
            RECUPERACION,
            SUCCESS,
            apuestas=report.bets,
            lotes=report.batches,
            agencias_finalizadas=report.finished_agencies,
            sorteo_realizado=report.draw_done,
        )
        if report.draw_done:
            log_event(
                RECUPERACION,
                SUCCESS,
                logging.WARNING,
                aviso=(
                    f"the store at {self.config.storage_path} holds a completed draw: every agency gets those "
                    "winners and no new bets are taken; to start a new lottery, start with an empty STORAGE_PATH "
                    "(delete the file and its .batches, .finished and .winners companions)"
                ),
            )

    def _start_worker(self, slot: int) -> None:
        assert self.listener is not None
        process = self.context.Process(
            target=run_worker,
            args=(slot, self.listener, self.config, self.shared, os.getpid()),
            name=f"server-worker-{slot}",
            daemon=True,
        )
        process.start()
        self.workers[slot] = process
        self.started_at[slot] = time.monotonic()

    def _supervise(self) -> None:
        """Wait a tick for a worker to die; log it and start a replacement."""
        wait([process.sentinel for process in self.workers.values()], timeout=SUPERVISE_TICK)
        now = time.monotonic()
        for slot, process in list(self.workers.items()):
            if process.is_alive() or shutdown.requested():
                continue
            process.join()
            del self.workers[slot]
            log_event(WORKER_EXIT, FAIL, logging.ERROR, worker=slot, pid=process.pid, exitcode=process.exitcode)
            if process.pid is not None and self.shared.release_if_held_by(process.pid):
                log_event(LOCK_LIBERADO, SUCCESS, logging.WARNING, worker=slot, pid=process.pid)
            self.restart_at[slot] = max(now, self.started_at[slot] + RESTART_BACKOFF)
        for slot, when in list(self.restart_at.items()):
            if now >= when and not shutdown.requested():
                del self.restart_at[slot]
                self._start_worker(slot)
                log_event(WORKER_RESTART, SUCCESS, worker=slot, pid=self.workers[slot].pid)

    def _shutdown(self) -> None:
        if self.listener is not None:
            self.listener.close()  # stop accepting (the workers close their copies too)
        for process in self.workers.values():
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE
        for slot, process in self.workers.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log_event(WORKER_STOP, FAIL, logging.WARNING, worker=slot, error="did not stop in time: killed")
                process.kill()
                process.join(1.0)
        log_event(SHUTDOWN, SUCCESS)
