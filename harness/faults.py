"""Faults as first-class objects with an undo (toxiproxy / Jepsen style), on the cluster's timeline.

A ``Fault`` names a service and knows how to inject itself and how to heal::

    with cluster.inject(Pause("server"), after=where("lote_confirmado", service="client2", lote=3)):
        ...                      # the server is frozen here
    # unpaused here, also when the block raised

    kill = cluster.inject(Kill("server"), after=...)   # or keep the object and heal it later
    kill.undo()                                         # starts the server again

Every inject and undo is written to the cluster's ``LogHub`` as a line of the ``harness``
pseudo-service, ``action: fault | result: success | kind: pause | service: server | phase: inject``,
so an assertion's evidence shows the faults in order with the services' own events.
Faults still active when the cluster goes down are healed first (``Faults.teardown``): a paused
container is unpaused, a cut-off one reconnected; a killed one is left stopped.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Protocol, Self

from harness.logs import Event, where
from harness.logstream import EventPredicate
from logline import FAIL, SUCCESS, format_event, format_line
from logline.actions import FAULT

if TYPE_CHECKING:
    from types import TracebackType

HARNESS_SERVICE = "harness"
FAULT_ACTION = FAULT

__all__ = [
    "FAULT_ACTION",
    "HARNESS_SERVICE",
    "Disconnect",
    "Fault",
    "FaultError",
    "FaultTarget",
    "Faults",
    "Kill",
    "Pause",
    "Restart",
    "Terminate",
    "harness_line",
    "where",
]


class FaultError(RuntimeError):
    """A fault could not be injected or healed (the engine refused)."""


class FaultTarget(Protocol):
    """What a fault needs of a cluster: the actions faults take, the timeline and the fault list.
    ``harness.cluster.Cluster`` is one (so are the tests' fakes)."""

    faults: Faults

    def note(self, action: str, result: str, *, at: datetime | None = None, **fields: object) -> None: ...
    def signal(self, service: str, signal: str) -> None: ...
    def kill(self, service: str) -> None: ...
    def wait_exit(self, service: str, timeout: float) -> int: ...
    def start(self, *services: str) -> None: ...
    def restart(self, service: str, grace: float) -> None: ...
    def pause(self, service: str) -> None: ...
    def unpause(self, service: str) -> None: ...
    def disconnect(self, service: str) -> None: ...
    def reconnect(self, service: str) -> None: ...


class TriggerTarget(FaultTarget, Protocol):
    """A ``FaultTarget`` whose events a fault can wait for (``inject_after``)."""

    def wait_for(self, predicate: EventPredicate, timeout: float, description: str = "", since: int = 0) -> Event: ...


def harness_line(action: str, result: str, *, at: datetime | None = None, **fields: object) -> str:
    """A log line of the ``harness`` pseudo-service, shaped like the containers' (UTC, as theirs),
    stamped now or ``at`` (when what it says began)."""
    now = (at or datetime.now(UTC)).astimezone(UTC)
    docker_timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{docker_timestamp} {format_line(format_event(action, result, **fields), 'INFO', now)}"


class Fault:
    """One fault on one service. ``inject`` once; ``undo`` heals it (again: no-op)."""

    kind: ClassVar[str] = "fault"
    heal_on_teardown: ClassVar[bool] = True  # False: teardown leaves it as it is (a killed service stays down)

    def __init__(self, service: str) -> None:
        self.service = service
        self.cluster: FaultTarget | None = None
        self.active = False
        self.injected_at: float | None = None  # time.monotonic() of inject
        self.trigger: Event | None = None  # the event it was injected after, if any

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"{type(self).__name__}({self.service!r}, {state})"

    # -- what each kind does --

    def _inject(self, cluster: FaultTarget) -> None:
        raise NotImplementedError

    def _undo(self, cluster: FaultTarget) -> None:
        raise NotImplementedError

    # -- the protocol --

    def inject(self, cluster: FaultTarget, **details: object) -> Self:
        if self.cluster is not None:
            raise FaultError(f"{self!r} was injected already: make a new one")
        self.cluster = cluster
        self.injected_at = time.monotonic()
        self._run("inject", self._inject, **details)
        self.active = self._lasts()
        cluster.faults.track(self)
        return self

    def undo(self) -> None:
        """Heal the fault (restart, unpause, reconnect); nothing if it is not active."""
        if not self.active or self.cluster is None:
            return
        self.active = False
        self._run("undo", self._undo)

    def teardown(self) -> None:
        """Called when the cluster goes down with the fault still active."""
        if not self.active or self.cluster is None:
            return
        if self.heal_on_teardown:
            self.undo()
        else:
            self.active = False
            self.cluster.note(FAULT_ACTION, SUCCESS, kind=self.kind, service=self.service, phase="teardown")

    def _lasts(self) -> bool:
        return True

    def _run(self, phase: str, action: object, **details: object) -> None:
        assert self.cluster is not None
        began = datetime.now(UTC)  # the line says when the fault began, not when the engine was done
        try:
            action(self.cluster)  # type: ignore[operator]
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.cluster.note(FAULT_ACTION, FAIL, kind=self.kind, service=self.service, phase=phase, error=error)
            raise FaultError(f"{phase} of {self.kind} on {self.service} failed: {error}") from exc
        self.cluster.note(FAULT_ACTION, SUCCESS, at=began, kind=self.kind, service=self.service, phase=phase, **details)

    def __enter__(self) -> Self:
        if self.cluster is None:
            raise FaultError(f"{self!r}: inject it first (cluster.inject(fault))")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.undo()


class Kill(Fault):
    """SIGKILL the service (no shutdown of its own); undo starts it again. Teardown leaves it down."""

    kind = "kill"
    heal_on_teardown = False

    def _inject(self, cluster: FaultTarget) -> None:
        cluster.kill(self.service)
        cluster.wait_exit(self.service, timeout=30)

    def _undo(self, cluster: FaultTarget) -> None:
        cluster.start(self.service)


class Terminate(Kill):
    """SIGTERM the service (a graceful stop is expected); undo starts it again."""

    kind = "sigterm"

    def _inject(self, cluster: FaultTarget) -> None:
        cluster.signal(self.service, "SIGTERM")


class Pause(Fault):
    """Freeze every process of the service (cgroup freezer); undo thaws it."""

    kind = "pause"

    def _inject(self, cluster: FaultTarget) -> None:
        cluster.pause(self.service)

    def _undo(self, cluster: FaultTarget) -> None:
        cluster.unpause(self.service)


class Disconnect(Fault):
    """Cut the service off the cluster's network (its packets go nowhere); undo reconnects it."""

    kind = "disconnect"

    def _inject(self, cluster: FaultTarget) -> None:
        cluster.disconnect(self.service)

    def _undo(self, cluster: FaultTarget) -> None:
        cluster.reconnect(self.service)


class Restart(Fault):
    """Stop the service gracefully (SIGTERM, ``grace`` seconds) and start it again, in one step."""

    kind = "restart"

    def __init__(self, service: str, grace: float = 10) -> None:
        super().__init__(service)
        self.grace = grace

    def _inject(self, cluster: FaultTarget) -> None:
        cluster.restart(self.service, grace=self.grace)

    def _undo(self, cluster: FaultTarget) -> None:
        pass

    def _lasts(self) -> bool:
        return False


class Faults:
    """The faults of one cluster: every one injected, healed at teardown if still active."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.injected: list[Fault] = []

    def track(self, fault: Fault) -> None:
        with self._lock:
            self.injected.append(fault)

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self.injected if fault.active]

    def teardown(self) -> list[str]:
        """Heal (or release) every active fault, newest first; returns the errors, if any."""
        errors = []
        for fault in reversed(self.active):
            try:
                fault.teardown()
            except Exception as exc:  # the cluster is going down anyway: report, do not stop
                errors.append(f"{fault!r}: {exc}")
        return errors


def inject_after(
    cluster: TriggerTarget, fault: Fault, after: EventPredicate | None, timeout: float, since: int = 0
) -> Fault:
    """Wait (at most ``timeout``) for the first event matching ``after`` from hub index ``since``,
    then inject ``fault``; the triggering event is recorded on the fault and in the harness line."""
    details: dict[str, object] = {}
    if after is not None:
        event = cluster.wait_for(after, timeout, description=f"to trigger {fault.kind} of {fault.service}", since=since)
        fault.trigger = event
        details["after"] = f"{event.service}: {event.action} {event.result}"
    return fault.inject(cluster, **details)
