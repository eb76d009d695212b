"""``Cluster`` on Docker Swarm: the same methods, backed by a stack, its services and tasks.

``Cluster(..., backend="swarm")`` returns a ``SwarmCluster``. The stack file comes from
harness.swarm.stack; ``docker stack deploy`` (the CLI, an argument list) deploys it on the
manager. Exit codes come from task states (``complete``, ``failed`` + the container's exit
code); the events from the manager's service-log API (so tasks on any node are read), parsed by
the same parser into the same LogHub. Signals, ``docker stop``, pauses go to a task's container
through its node's engine: Swarm has no API for them.

What Swarm cannot do raises ``NotSupportedOnSwarm`` ("not supported on swarm: ..."), e.g. cutting
one task off its overlay network, or reaching a task's address from the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from harness.backends import SWARM, NotSupportedOnBackend
from harness.cluster import (
    API_THREADS,
    Cluster,
    ClusterError,
    WaitTimeout,
    _stop_quietly,
    describe_client_exit,
    sweep,
)
from harness.faults import FAULT_ACTION
from harness.labels import RUN_LABEL, SWARM_STACK_LABEL
from harness.logs import where
from harness.swarm import stack
from harness.swarm.engines import SwarmEngine, local_swarm
from logline import SUCCESS
from logline.actions import PLACEMENT

STACK_LABEL = SWARM_STACK_LABEL
DEPLOY_TIMEOUT = 180  # seconds for `docker stack deploy` and for the first tasks to start
START_PER_TASK = 1.0  # more seconds per task started at once (one node starts 500 in ~4-8 min here)
TASK_POLL = 0.2  # seconds between task listings: the manager API has no task-state event stream
REMOVE_TIMEOUT = 60  # seconds for a removed stack's tasks, networks and configs to go
TERMINAL_STATES = {"complete", "failed", "shutdown", "rejected", "orphaned", "remove"}
STARTED_STATES = {"running"} | TERMINAL_STATES
NEVER_RAN_STATES = {"rejected", "orphaned"}


class NotSupportedOnSwarm(ClusterError, NotSupportedOnBackend):
    def __init__(self, what: str) -> None:
        NotSupportedOnBackend.__init__(self, SWARM, what)


def _parse_details(text: str) -> dict[str, str]:
    details = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        details[key] = value
    return details


class ServiceLogReader(threading.Thread):
    """Follows one service's log (all its tasks, on any node) through the manager's API."""

    def __init__(self, cluster: SwarmCluster, service: str) -> None:
        super().__init__(name=f"swarm-logs-{service}", daemon=True)
        self._cluster = cluster
        self._service = service

    def run(self) -> None:
        try:
            for raw in self._cluster._service_log(self._service, follow=True):
                self._cluster._deliver(self._service, raw)
        except Exception as exc:  # the service was removed or the manager went away
            if self._cluster._following:
                self._cluster.hub.add_line(self._service, f"- harness: service log stream ended: {exc}")


class SwarmCluster(Cluster):
    """A ``Cluster`` deployed as a Swarm stack. ``shape``: ``per-agency`` (one service per
    agency, the default) or ``replicated`` (one ``client`` service with N replicas; its events
    are still named ``client1``..``clientN``, by task slot)."""

    backend = SWARM

    def __init__(
        self,
        *,
        shape: str = stack.PER_AGENCY,
        swarm: SwarmEngine | None = None,
        server_constraints: Iterable[str] = (stack.SERVER_CONSTRAINT,),
        client_constraints: Iterable[str] = (),
        deferred: Iterable[str] = (),
        owns_swarm: bool = False,
        **options: Any,
    ) -> None:
        options.pop("backend", None)
        super().__init__(**options)
        self.compose_file = self.workdir / "stack.yaml"
        self.stack_spec = stack.StackSpec(
            compose=self.spec,
            shape=shape,
            deferred=tuple(deferred),
            server_constraints=tuple(server_constraints),
            client_constraints=tuple(client_constraints),
        )
        unknown = sorted(set(self.stack_spec.deferred) - set(stack.services(self.stack_spec)))
        if unknown:
            raise ValueError(f"deferred names services {unknown} that the cluster does not have")
        self.deferred = self.stack_spec.deferred
        self.shape = shape
        self._swarm = swarm
        # released by down(): the one-node swarm up() acquires, or a given one with owns_swarm
        self._own_swarm: SwarmEngine | None = swarm if owns_swarm else None
        self._service_ids: dict[str, str] = {}
        self._slots: dict[str, int] = {}  # task id -> slot (replicated clients)
        self._delivered: set[tuple[str, str, str]] = set()
        self._deliver_lock = threading.Lock()
        self._log_readers: dict[str, ServiceLogReader] = {}
        self._following = False

    # -- names -------------------------------------------------------------------------

    @property
    def swarm(self) -> SwarmEngine:
        if self._swarm is None:
            raise ClusterError(f"{self.project} is not deployed")
        return self._swarm

    def _full_name(self, service: str) -> str:
        return f"{self.project}_{service}"

    def _stack_service_of(self, service: str) -> tuple[str, int | None]:
        """(stack service, task slot or None) for a service name as scenarios use it."""
        if self.shape == stack.REPLICATED and service in self.client_services:
            return stack.REPLICATED_CLIENT, int(service.removeprefix("client"))
        if service not in stack.services(self.stack_spec):
            raise ClusterError(f"no service {service!r} in cluster {self.project}")
        return service, None

    # -- lifecycle ---------------------------------------------------------------------

    def _held(self) -> list[str]:
        """Clients deployed with 0 replicas and started once the server listens: Swarm has no
        ``depends_on``, and an agency started with the server would find nothing listening."""
        if "server" in self.deferred:
            return []
        return [s for s in stack.services(self.stack_spec) if s != "server" and s not in self.deferred]

    def render(self) -> Any:
        """The stack file as deployed: deferred and held services at 0 replicas."""
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.spec.data_dir.mkdir(parents=True, exist_ok=True)
        deployed = dataclasses.replace(self.stack_spec, deferred=(*self.deferred, *self._held()))
        return stack.write(deployed, self.compose_file)

    def up(self) -> SwarmCluster:
        self.render()
        if self._swarm is None:
            self._own_swarm = self._swarm = local_swarm(f"cluster-{self.run_id}-{os.getpid()}", os.getpid())
        self._started = True
        command = ["docker", "stack", "deploy", "--resolve-image", "never", "--compose-file", "stack.yaml"]
        self._docker_cli([*command, self.project])
        for service in stack.services(self.stack_spec):
            self._service_ids[service] = self.swarm.manager.services.get(self._full_name(service)).id
        self._following = True
        for service in self._service_ids:
            reader = ServiceLogReader(self, service)
            self._log_readers[service] = reader
            reader.start()
        held = self._held()
        self._wait_started([s for s in self._service_ids if s not in self.deferred and s not in held], DEPLOY_TIMEOUT)
        if held:
            self._wait_listening(DEPLOY_TIMEOUT)
            self.start(*held)
        self._note_placement()
        return self

    def _note_placement(self) -> None:
        """Where the tasks run, on the cluster's timeline: ``placement | success | server: node1 | ...``
        (for the replicated shape, the number of agencies per node)."""
        placement = self.placement()
        fields: dict[str, Any] = dict(placement)  # Any: a field named like note()'s `at` cannot occur
        if self.shape == stack.REPLICATED:
            counts: dict[str, int] = {}
            for service, node in placement.items():
                if service != "server":
                    counts[node] = counts.get(node, 0) + 1
            fields = {"server": placement.get("server", "-")} | {f"agencies_{n}": c for n, c in sorted(counts.items())}
        self.note(PLACEMENT, SUCCESS, **fields)

    def _wait_listening(self, timeout: float) -> None:
        """Until the server logs ``listen | success``, or its task ends (the agencies then meet
        what they would meet on compose)."""
        deadline = time.monotonic() + timeout
        while self.events().first("listen", "success", service="server") is None:
            task = self._task("server")
            if task is not None and task["Status"]["State"] in TERMINAL_STATES:
                return
            if time.monotonic() > deadline:
                raise WaitTimeout(self._explain(f"the server did not log `listen | success` within {timeout}s"))
            self.hub.wait_for(where("listen", "success", service="server"), min(1.0, timeout))

    def _docker_cli(self, command: list[str]) -> str:
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=True,
                cwd=self.workdir,
                env=self.swarm.cli_environment(),
                timeout=DEPLOY_TIMEOUT,
            )
        except subprocess.CalledProcessError as exc:
            raise ClusterError(f"`{' '.join(command)}` failed (exit {exc.returncode}): {exc.stderr.strip()}") from None
        except subprocess.TimeoutExpired:
            raise ClusterError(f"`{' '.join(command)}` did not finish within {DEPLOY_TIMEOUT}s") from None
        return completed.stdout

    def down(self, grace: float = 10) -> None:
        """Stop every task's container within ``grace`` s (SIGTERM, then SIGKILL), read the logs to
        their end, then remove the stack: services, networks, configs; the swarm is left as found."""
        if not self._started:
            return
        self._started = False
        try:
            for error in self.faults.teardown():
                self.note(FAULT_ACTION, "fail", phase="teardown", error=error)
            containers = list(self._all_containers())
            with ThreadPoolExecutor(max_workers=min(16, len(containers) or 1)) as pool:
                list(pool.map(lambda container: _stop_quietly(container, grace), containers))
            with contextlib.suppress(APIError, NotFound, ClusterError):
                self._catch_up(self._current_tasks(self._service_ids))
            self._following = False
            remove_stack(self.swarm, self.project)
            for client in {id(c): c for c in [self.swarm.manager, *self.swarm.node_clients.values()]}.values():
                _sweep_on(client, {RUN_LABEL: self.run_id})
        finally:
            if self._own_swarm is not None:
                self._own_swarm.release()
                self._own_swarm = None
                self._swarm = None

    # -- tasks -------------------------------------------------------------------------

    def _tasks(self, services: Iterable[str]) -> list[dict[str, Any]]:
        ids = [self._service_ids[s] for s in services if s in self._service_ids]
        if not ids:
            return []
        return list(self.swarm.manager.api.tasks(filters={"service": ids}))

    def _name_of_task(self, task: dict[str, Any], service: str) -> str:
        if service == stack.REPLICATED_CLIENT and self.shape == stack.REPLICATED:
            return f"client{task.get('Slot', 0)}"
        return service

    def _current_tasks(self, services: Iterable[str]) -> dict[str, dict[str, Any]]:
        """name (``server``, ``client3``...) -> its newest task."""
        by_id = {service_id: service for service, service_id in self._service_ids.items()}
        current: dict[str, dict[str, Any]] = {}
        for task in self._tasks(services):
            name = self._name_of_task(task, by_id[task["ServiceID"]])
            self._slots[task["ID"]] = int(task.get("Slot", 0))
            if name not in current or task["CreatedAt"] > current[name]["CreatedAt"]:
                current[name] = task
        return current

    def _task(self, service: str) -> dict[str, Any] | None:
        stack_service, _ = self._stack_service_of(service)
        return self._current_tasks([stack_service]).get(service)

    def _wait_started(self, services: list[str], timeout: float, not_ids: set[str] | None = None) -> None:
        """Until each of ``services`` has a task (not among ``not_ids``) that runs or ran."""
        deadline = time.monotonic() + timeout
        expected = set(services)
        if self.shape == stack.REPLICATED and stack.REPLICATED_CLIENT in expected:
            expected = (expected - {stack.REPLICATED_CLIENT}) | set(self.client_services)
        while True:
            current = self._current_tasks(self._stack_names(expected))
            pending = []
            for name in sorted(expected):
                task = current.get(name)
                if task is None or (not_ids and task["ID"] in not_ids):
                    pending.append(name)
                    continue
                state = task["Status"]["State"]
                if state in NEVER_RAN_STATES:
                    raise ClusterError(f"{name}'s task was {state}: {task['Status'].get('Err', '')}")
                if state not in STARTED_STATES:
                    pending.append(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise WaitTimeout(self._explain(f"{', '.join(pending)} did not start within {timeout}s"))
            time.sleep(TASK_POLL)

    def _stack_names(self, names: Iterable[str]) -> set[str]:
        return {self._stack_service_of(name)[0] for name in names}

    def _task_container(self, task: dict[str, Any] | None, service: str) -> Container:
        container_id = ((task or {}).get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
        if not task or not container_id:
            raise ClusterError(f"{service} has no container (not started, or deferred)")
        try:
            return self.swarm.node_client(task.get("NodeID", "")).containers.get(container_id)
        except NotFound:
            raise ClusterError(f"{service}'s container {container_id[:12]} is gone") from None

    def _all_containers(self) -> Iterable[Container]:
        for service, task in self._current_tasks(self._service_ids).items():
            with contextlib.suppress(ClusterError):
                yield self._task_container(task, service)

    # -- containers --------------------------------------------------------------------

    def containers(self) -> dict[str, Container]:
        found = {}
        for service, task in self._current_tasks(self._service_ids).items():
            with contextlib.suppress(ClusterError):
                found[service] = self._task_container(task, service)
        return found

    def container(self, service: str) -> Container:
        return self._task_container(self._task(service), service)

    def status(self, service: str) -> str:
        task = self._task(service)
        if task is None:
            return "created"
        state = task["Status"]["State"]
        if state == "running":
            with contextlib.suppress(ClusterError):
                return str(self._task_container(task, service).status)
            return "running"
        return "exited" if state in TERMINAL_STATES else "created"

    def placement(self) -> dict[str, str]:
        """service -> the node its current task runs on (the ``lottery-harness.node`` label or host name)."""
        names = self.swarm.node_names()
        return {
            service: names.get(task.get("NodeID", ""), task.get("NodeID", "?"))
            for service, task in sorted(self._current_tasks(self._service_ids).items())
        }

    # -- logs --------------------------------------------------------------------------

    def _service_log(self, service: str, follow: bool) -> Iterable[bytes]:
        stream = self.swarm.manager.api.service_logs(
            self._service_ids[service], details=True, follow=follow, stdout=True, stderr=True, timestamps=True
        )
        pending = b""
        for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    def _deliver(self, service: str, raw: bytes) -> None:
        """One ``TIMESTAMP DETAILS MESSAGE`` line of the service log into the hub."""
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        timestamp, _, rest = line.partition(" ")
        details_text, _, message = rest.partition(" ")
        task_id = _parse_details(details_text).get("com.docker.swarm.task.id", "")
        name = service
        if service == stack.REPLICATED_CLIENT and self.shape == stack.REPLICATED:
            if task_id not in self._slots:
                self._current_tasks([service])
            name = f"client{self._slots.get(task_id, 0)}"
        self._add_line(name, task_id, timestamp, message)

    def _add_line(self, name: str, task_id: str, timestamp: str, message: str) -> None:
        """A task's line into the hub, once: the follower and a catch-up read may both bring it."""
        key = (task_id, timestamp, message)
        with self._deliver_lock:
            if key in self._delivered:
                return
            self._delivered.add(key)
            self.hub.add_line(name, f"{timestamp} {message}")

    def _catch_up(self, tasks: Mapping[str, dict[str, Any]]) -> None:
        """Each task's log read to its end from its container, through its node's engine: once a
        task ended, every line of it is in the hub. (A non-follow read of the service log would do
        it through the manager, but it hangs here once a service has ~100 ended tasks.)"""

        def read(item: tuple[str, dict[str, Any]]) -> None:
            name, task = item
            container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if not container_id:
                return
            client = self.swarm.node_client(task.get("NodeID", ""))
            try:
                data = client.api.logs(container_id, stdout=True, stderr=True, timestamps=True)
            except (NotFound, APIError):
                return
            for raw in data.split(b"\n"):
                if raw:
                    timestamp, _, message = raw.decode("utf-8", errors="replace").rstrip("\r").partition(" ")
                    self._add_line(name, task["ID"], timestamp, message)

        if tasks:
            with ThreadPoolExecutor(max_workers=min(API_THREADS, len(tasks))) as pool:
                list(pool.map(read, tasks.items()))

    # -- exits -------------------------------------------------------------------------

    def wait_exit(self, service: str, timeout: float) -> int:
        return self._wait_exits([service], timeout, expect=None)[service]

    def wait_exit_all_clients(self, timeout: float, expect: int | None = 0) -> dict[str, int]:
        return self._wait_exits(self.client_services, timeout, expect)

    def _wait_exits(self, services: list[str], timeout: float, expect: int | None) -> dict[str, int]:
        """The exit codes of ``services`` from their tasks' states; with ``expect``, another code is
        an error raised as soon as that task ends (see ``Cluster.wait_exit_all_clients``)."""
        deadline = time.monotonic() + timeout
        stack_services = self._stack_names(services)
        codes: dict[str, int] = {}
        while True:
            current = self._current_tasks(stack_services)
            for service in services:
                task = current.get(service)
                if service in codes:
                    continue
                if task is None:
                    raise ClusterError(f"{service} was never started (deferred?): it has no exit code to wait for")
                status = task["Status"]
                if status["State"] in NEVER_RAN_STATES:
                    raise ClusterError(f"{service}'s task was {status['State']}: {status.get('Err', '')}")
                if status["State"] in TERMINAL_STATES:
                    code = int((status.get("ContainerStatus") or {}).get("ExitCode", -1))
                    codes[service] = code
                    if expect is not None and code != expect:
                        self._catch_up({service: task})
                        waiting = [s for s in services if s not in codes]
                        tails = "\n".join(self.hub.tail(8, service))
                        raise ClusterError(
                            f"clients exited with {{{service!r}: {code}}}, expected {expect}: "
                            f"{describe_client_exit(service, code, self.events(), waiting)}\n{tails}"
                        )
            if len(codes) == len(services):
                self._catch_up({service: current[service] for service in services})
                return {service: codes[service] for service in services}
            if time.monotonic() > deadline:
                pending = [s for s in services if s not in codes]
                raise WaitTimeout(self._explain(f"{', '.join(pending)} did not exit within {timeout}s"))
            time.sleep(TASK_POLL)

    def _explain(self, what: str) -> str:
        states = []
        with contextlib.suppress(APIError, ClusterError):
            for service, task in sorted(self._current_tasks(self._service_ids).items()):
                status = task["Status"]
                code = (status.get("ContainerStatus") or {}).get("ExitCode")
                error = f" {status['Err']}" if status.get("Err") else ""
                states.append(f"{service}={status['State']}(exit {code}){error}")
        tail = "\n".join(self.hub.tail(5))
        return f"{what}\ntasks: {', '.join(states)}\nlast log lines:\n{tail}"

    # -- signals and faults ------------------------------------------------------------

    def start(self, *services: str) -> None:
        """Run (again) services that are deferred or ended: a deferred one is scaled to 1, an ended
        one is given a new task (``service update --force``); returns once each runs (or ran)."""
        stack_services: list[str] = []
        for service in services:
            stack_service, slot = self._stack_service_of(service)
            if slot is not None:
                raise NotSupportedOnSwarm(
                    f"starting one agency ({service}) of the replicated `client` service: use shape 'per-agency'"
                )
            stack_services.append(stack_service)
        previous = {task["ID"] for task in self._tasks(stack_services)}
        manager = self.swarm.manager

        def start_one(service: str) -> None:
            swarm_service = manager.services.get(self._service_ids[service])
            replicas = swarm_service.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
            if replicas == 0:
                count = self.clients if service == stack.REPLICATED_CLIENT else 1
                swarm_service.scale(count)
            else:
                swarm_service.force_update()

        with ThreadPoolExecutor(max_workers=min(16, len(stack_services) or 1)) as pool:
            list(pool.map(start_one, stack_services))
        tasks = sum(self.clients if s == stack.REPLICATED_CLIENT else 1 for s in stack_services)
        self._wait_started(list(services), DEPLOY_TIMEOUT + START_PER_TASK * tasks, not_ids=previous)

    def disconnect(self, service: str) -> None:
        raise NotSupportedOnSwarm(f"cutting {service} off the network (a task cannot leave its service's overlay)")

    def reconnect(self, service: str) -> None:
        raise NotSupportedOnSwarm(f"reconnecting {service} (a task cannot leave its service's overlay)")

    def address(self, service: str) -> str:
        raise NotSupportedOnSwarm(f"the address of {service} (the host does not reach an overlay network)")

    def _network(self) -> Any:
        raise NotSupportedOnSwarm("the cluster's network from the host (it is an overlay network)")

    def how_to_reach(self) -> str:
        host = f"DOCKER_HOST={self.swarm.manager_host} " if self._swarm and self.swarm.manager_host else ""
        return (
            f"swarm stack {self.project} left running (stack file {self.compose_file}).\n"
            f"  tasks: {host}docker stack ps {self.project}\n"
            f"  logs:  {host}docker service logs -f {self.project}_server\n"
            f"  down:  {host}docker stack rm {self.project}"
        )


def _sweep_on(client: Any, labels: Mapping[str, str]) -> None:
    """``sweep`` for an engine other than the environment's one (a node of a local swarm)."""
    selector = [f"{key}={value}" for key, value in labels.items()]
    for summary in client.api.containers(all=True, filters={"label": selector}):
        with contextlib.suppress(NotFound, APIError):
            client.api.remove_container(summary["Id"], force=True, v=True)


def remove_stack(swarm: SwarmEngine, project: str, timeout: float = REMOVE_TIMEOUT) -> dict[str, int]:
    """``docker stack rm``, waited for: the services, then (once their tasks are gone) the
    networks and configs of the stack. Counts what went."""
    manager = swarm.manager
    selector = {"label": f"{STACK_LABEL}={project}"}
    removed = {"services": 0, "networks": 0, "configs": 0}
    services = manager.services.list(filters=selector)
    for service in services:
        with contextlib.suppress(NotFound):
            service.remove()
            removed["services"] += 1
    deadline = time.monotonic() + timeout
    service_ids = {service.id for service in services}
    while service_ids & {task["ServiceID"] for task in manager.api.tasks()}:
        if time.monotonic() > deadline:
            raise ClusterError(f"the tasks of stack {project} were still there {timeout}s after its removal")
        time.sleep(TASK_POLL)
    for config in manager.configs.list(filters=selector):
        with contextlib.suppress(NotFound):
            config.remove()
            removed["configs"] += 1
    for network in manager.networks.list(filters=selector):
        while True:
            try:
                network.remove()
                removed["networks"] += 1
                break
            except NotFound:
                break
            except APIError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(f"network {network.name} of stack {project}: {exc}") from None
            time.sleep(TASK_POLL)
    return removed


def remove_run(run_id: str) -> dict[str, int]:
    """Take down the swarm stack of run ``run_id`` on this machine's swarm, if there is one."""
    from harness.engine import docker_client
    from harness.swarm.engines import swarm_state

    client = docker_client()
    if swarm_state(client) != "active":
        return {"services": 0, "networks": 0, "configs": 0}
    removed = remove_stack(SwarmEngine(manager=client), f"lottery-{run_id}")
    sweep({RUN_LABEL: run_id})
    return removed
