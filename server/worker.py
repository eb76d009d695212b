"""One worker process: a ``selectors`` loop over the shared listening socket and many connections.

Each tick (<= ``TICK`` seconds) the loop accepts, reads at most one frame's worth from each
readable connection and answers it, answers held WINNERS_QUERYs (draw done, or held for
WINNERS_HOLD) and drops connections that stalled mid-frame or idled past READ_TIMEOUT.
A connection's failure only ever closes that connection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import time
from collections.abc import Callable

from logline import FAIL, SUCCESS
from logline.actions import (
    ACCEPT_CONNECTIONS,
    APUESTA_RECIBIDA,
    CLOSE_CONNECTION,
    CONNECTION,
    WORKER_START,
    WORKER_STOP,
)
from protocol import Error, ErrorCode, PeerClosed, TruncatedFrame
from server import shutdown
from server.config import ServerConfig
from server.connection import Connection
from server.conversation import Conversation, Rejection
from server.logs import log_event
from server.state import Lottery, SharedState

TICK = 0.05
ACCEPTS_PER_TICK = 32  # then serve the connections already open
ACCEPT_PAUSE = 0.5  # after an accept error such as EMFILE, instead of spinning on it


class Worker:
    def __init__(
        self, index: int, listener: socket.socket, config: ServerConfig, shared: SharedState, parent_pid: int
    ) -> None:
        self.index = index
        self.listener = listener
        self.config = config
        self.parent_pid = parent_pid
        self.lottery = Lottery(config.storage_path, config.agencies, shared, config.storage_fsync)
        self.selector = selectors.DefaultSelector()
        self.connections: dict[int, Connection] = {}
        self.held: set[Connection] = set()
        self._accept_paused_until: float | None = None

    def run(self) -> None:
        self.start()
        try:
            while not shutdown.requested() and os.getppid() == self.parent_pid:
                self.tick()
        finally:
            self.stop()

    def start(self) -> None:
        self.lottery.open()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        log_event(WORKER_START, SUCCESS, worker=self.index, pid=os.getpid())

    def tick(self) -> None:
        """Accept and serve what is ready (waiting up to ``TICK``), then answer held queries and
        drop the connections that went quiet."""
        for key, _ in self.selector.select(TICK):
            if key.data is None:
                self._accept()
            else:
                self._serve(key.data)
        now = time.monotonic()
        self._resume_accepting(now)
        self._answer_held(now)
        self._drop_inactive(now)

    # -- accepting -----------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_TICK):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it
            except OSError as exc:
                log_event(ACCEPT_CONNECTIONS, FAIL, logging.WARNING, error=exc)
                self.selector.unregister(self.listener)
                self._accept_paused_until = time.monotonic() + ACCEPT_PAUSE
                return
            connection = Connection(sock, address[0], Conversation(self.lottery))
            self.connections[connection.fd] = connection
            self.selector.register(connection.sock, selectors.EVENT_READ, connection)
            log_event(ACCEPT_CONNECTIONS, SUCCESS, ip=connection.ip)

    def _resume_accepting(self, now: float) -> None:
        if self._accept_paused_until is not None and now >= self._accept_paused_until:
            self._accept_paused_until = None
            self.selector.register(self.listener, selectors.EVENT_READ, None)

    # -- serving -------------------------------------------------------------------------

    def _serve(self, connection: Connection) -> None:
        def read_and_answer() -> None:
            frame = connection.receive()
            if frame is None:
                return
            reply = connection.conversation.handle(*frame)
            if reply.hold:
                # stop reading until answered: replies must keep the order of the requests
                connection.hold_deadline = time.monotonic() + self.config.winners_hold
                self.selector.unregister(connection.sock)
                self.held.add(connection)
            else:
                connection.send(reply.messages)

        self._guarded(connection, read_and_answer)

    def _answer_held(self, now: float) -> None:
        if not self.held:
            return
        draw_done = self.lottery.draw_done()
        for connection in list(self.held):
            assert connection.hold_deadline is not None
            if not draw_done and now < connection.hold_deadline:
                continue
            self.held.discard(connection)
            connection.hold_deadline = None
            connection.last_activity = now

            def answer(connection: Connection = connection, draw_done: bool = draw_done) -> None:
                conversation = connection.conversation
                connection.send(conversation.winners() if draw_done else conversation.not_ready())
                self.selector.register(connection.sock, selectors.EVENT_READ, connection)

            self._guarded(connection, answer)

    def _drop_inactive(self, now: float) -> None:
        timeout = self.config.read_timeout
        for connection in list(self.connections.values()):
            if connection.held:
                continue
            if connection.mid_frame:
                # a frame must be whole within READ_TIMEOUT of its first byte: a peer that sends a
                # byte now and then (slowloris) cannot hold a connection forever
                frame_age = now - connection.frame_started
                if frame_age <= timeout:
                    continue
                pending = connection.decoder.pending
                reason = f"stalled mid-frame: frame incomplete {frame_age:.1f}s after its first byte ({pending} bytes)"
            else:
                inactive = now - connection.last_activity
                if inactive <= timeout:
                    continue
                reason = f"idle for {inactive:.1f}s"
            if connection.has_pending_input():
                # the peer did send: this worker has not read it yet (a tick that took longer than
                # READ_TIMEOUT, e.g. a starved CPU, or the connection was accepted in this tick);
                # the next tick reads it
                continue
            self._fail(connection, Rejection(ErrorCode.TIMEOUT, reason, connection.agency))

    def _guarded(self, connection: Connection, action: Callable[[], None]) -> None:
        """Run ``action`` for ``connection``; whatever goes wrong closes this connection only."""
        try:
            action()
        except PeerClosed:
            self._close(connection)
        except TruncatedFrame as exc:
            self._fail(connection, Rejection(ErrorCode.MALFORMED, exc.reason, connection.agency))
        except Rejection as rejection:
            self._fail(connection, rejection)
        except TimeoutError:
            self._fail(connection, "send timed out: the peer does not read")
        except OSError as exc:
            self._fail(connection, f"{type(exc).__name__}: {exc.strerror or exc}")
        except Exception as exc:
            reason = f"internal error: {type(exc).__name__}: {exc}"
            self._fail(connection, Rejection(ErrorCode.INTERNAL, reason, connection.agency))

    def _fail(self, connection: Connection, problem: Rejection | str) -> None:
        """Log why, send an ERROR for a ``Rejection`` (the socket still works), close."""
        if self.connections.get(connection.fd) is not connection:
            return  # already closed
        agency = connection.conversation.agency
        if isinstance(problem, Rejection):
            agency = problem.agency if agency is None else agency
            reason = problem.reason
            if problem.rejected_bets is not None:
                log_event(
                    APUESTA_RECIBIDA,
                    FAIL,
                    logging.WARNING,
                    cantidad=problem.rejected_bets,
                    agencia=agency,
                    error=reason,
                )
            connection.try_send([Error(agency or 0, problem.code, reason)])
        else:
            reason = problem
        log_event(CONNECTION, FAIL, logging.WARNING, ip=connection.ip, agencia=agency or 0, error=reason)
        self._close(connection)

    def _close(self, connection: Connection) -> None:
        if self.connections.get(connection.fd) is not connection:
            return
        del self.connections[connection.fd]
        self.held.discard(connection)
        with contextlib.suppress(KeyError, ValueError):  # held connections are not registered
            self.selector.unregister(connection.sock)
        connection.close()
        log_event(CLOSE_CONNECTION, SUCCESS, ip=connection.ip, agencia=connection.agency)

    # -- stopping ------------------------------------------------------------------------

    def stop(self) -> None:
        """Close everything without sending more; a frame being handled has been finished."""
        if self._accept_paused_until is None:
            self.selector.unregister(self.listener)
        self.listener.close()
        for connection in list(self.connections.values()):
            self._close(connection)
        self.selector.close()
        self.lottery.close()
        log_event(WORKER_STOP, SUCCESS, worker=self.index, pid=os.getpid())


def run_worker(index: int, listener: socket.socket, config: ServerConfig, shared: SharedState, parent_pid: int) -> None:
    """Process entry point (forked: the arguments are inherited, not pickled)."""
    Worker(index, listener, config, shared, parent_pid).run()
