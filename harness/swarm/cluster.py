"""``Cluster`` on Docker Swarm: the same methods, backed by a stack, its services and tasks.

``Cluster(..., backend="swarm")`` returns a ``SwarmCluster``. The stack file comes from
harness.swarm.stack; ``docker stack deploy`` (the CLI, an argument list) deploys it on the
manager. Exit codes come from task states (``complete``, ``failed`` + the container's exit
code); the events from the manager's service-log API (so tasks on any node are read), parsed by
the same parser into the same LogHub. Signals, ``docker stop``, pauses go to a task's container
through its node's engine: Swarm has no API for them.

What Swarm cannot do raises ``NotSupportedOnSwarm`` ("not supported on swarm: ..."), e.g. cutting
one task off its overlay network, or reaching a task's address from the host.

The tasks (harness.swarm.tasks), the log following (harness.swarm.servicelogs) and the removal of a
stack (harness.swarm.removal) are modules of their own; this one is the ``Cluster`` API over them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from docker.errors import APIError, ImageNotFound, NotFound
from docker.models.containers import Container

from harness import compose, engine
from harness.backends import SWARM, NotSupportedOnBackend
from harness.cluster import Cluster
from harness.cluster_errors import ClusterError, WaitTimeout
from harness.exits import unexpected_exit
from harness.faults import FAULT_ACTION
from harness.labels import RUN_LABEL
from harness.logs import where
from harness.swarm import stack
from harness.swarm.engines import SwarmEngine, local_swarm
from harness.swarm.removal import remove_stack
from harness.swarm.servicelogs import ServiceLogs
from harness.swarm.tasks import NEVER_RAN_STATES, STARTED_STATES, TASK_POLL, TERMINAL_STATES, StackTasks, Task
from logline import SUCCESS
from logline.actions import PLACEMENT

DEPLOY_TIMEOUT = 180  # seconds for `docker stack deploy` and for the first tasks to start
START_PER_TASK = 1.0  # more seconds per task started at once (one node starts 500 in ~4-8 min here)


class NotSupportedOnSwarm(ClusterError, NotSupportedOnBackend):
    def __init__(self, what: str) -> None:
        NotSupportedOnBackend.__init__(self, SWARM, what)


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
        self._tasks = StackTasks(self.stack_spec, lambda: self.swarm)
        self._logs = ServiceLogs(self.hub, self._tasks, lambda: self.swarm)

    # -- names -------------------------------------------------------------------------

    @property
    def swarm(self) -> SwarmEngine:
        if self._swarm is None:
            raise ClusterError(f"{self.project} is not deployed")
        return self._swarm

    # -- lifecycle ---------------------------------------------------------------------

    def _held(self) -> list[str]:
        """Clients deployed with 0 replicas and started once the server listens: Swarm has no
        ``depends_on``, and an agency started with the server would find nothing listening."""
        if "server" in self.deferred:
            return []
        return [s for s in stack.services(self.stack_spec) if s != "server" and s not in self.deferred]

    def render(self) -> Any:
        """The stack file as deployed: deferred and held services at 0 replicas; once the swarm
        is known, the images by ID (``_pinned``)."""
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.spec.data_dir.mkdir(parents=True, exist_ok=True)
        deployed = dataclasses.replace(self.stack_spec, deferred=(*self.deferred, *self._held()))
        if self._swarm is not None:
            deployed = dataclasses.replace(deployed, compose=self._pinned(deployed.compose))
        return stack.write(deployed, self.compose_file)

    def _pinned(self, spec: compose.ComposeSpec) -> compose.ComposeSpec:
        """``spec`` with its images named by their IDs on the manager. A task whose image is a tag
        first asks the tag's registry for a newer one (the engine logs "pulling image failed" when
        there is none to reach, and runs the local copy); an image ID is never pulled. Every node
        has the same IDs: ``docker save`` / ``docker load`` keep them."""
        ids = {}
        for image in (spec.server_image, spec.client_image):
            try:
                ids[image] = self.swarm.manager.images.get(image).id
            except ImageNotFound:
                raise ClusterError(f"image {image} is not on the swarm's manager: build it there first") from None
        return dataclasses.replace(spec, server_image=ids[spec.server_image], client_image=ids[spec.client_image])

    def up(self) -> SwarmCluster:
        if self._swarm is None:
            self._own_swarm = self._swarm = local_swarm(f"cluster-{self.run_id}-{os.getpid()}", os.getpid())
        self._started = True  # from here down() releases the swarm, whatever fails next
        self.render()
        command = ["docker", "stack", "deploy", "--resolve-image", "never", "--compose-file", "stack.yaml"]
        self._docker_cli([*command, self.project])
        service_ids = self._tasks.service_ids
        for service in stack.services(self.stack_spec):
            service_ids[service] = self.swarm.manager.services.get(self._tasks.full_name(service)).id
        self._logs.follow()
        held = self._held()
        self._wait_started([s for s in service_ids if s not in self.deferred and s not in held], DEPLOY_TIMEOUT)
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
            task = self._tasks.task("server")
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
            engine.stop_all_quietly(list(self._tasks.containers().values()), grace)
            with contextlib.suppress(APIError, NotFound, ClusterError):
                self._logs.catch_up(self._tasks.current())
            self._logs.following = False
            remove_stack(self.swarm, self.project)
            for client in {id(c): c for c in [self.swarm.manager, *self.swarm.node_clients.values()]}.values():
                with contextlib.suppress(NotFound, APIError):
                    engine.sweep({RUN_LABEL: self.run_id}, client)
        finally:
            if self._own_swarm is not None:
                self._own_swarm.release()
                self._own_swarm = None
                self._swarm = None

    # -- tasks ---------------------------------------------------------------------------

    def _wait_started(self, services: list[str], timeout: float, not_ids: set[str] | None = None) -> None:
        """Until each of ``services`` has a task (not among ``not_ids``) that runs or ran."""
        deadline = time.monotonic() + timeout
        expected = set(services)
        if self.shape == stack.REPLICATED and stack.REPLICATED_CLIENT in expected:
            expected = (expected - {stack.REPLICATED_CLIENT}) | set(self.client_services)
        while True:
            current = self._tasks.current(self._tasks.stack_names(expected))
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

    # -- containers --------------------------------------------------------------------

    def containers(self) -> dict[str, Container]:
        return self._tasks.containers()

    def container(self, service: str) -> Container:
        return self._tasks.container(self._tasks.task(service), service)

    def status(self, service: str) -> str:
        task = self._tasks.task(service)
        if task is None:
            return "created"
        state = task["Status"]["State"]
        if state == "running":
            with contextlib.suppress(ClusterError):
                return str(self._tasks.container(task, service).status)
            return "running"
        return "exited" if state in TERMINAL_STATES else "created"

    def placement(self) -> dict[str, str]:
        """service -> the node its current task runs on (the ``lottery-harness.node`` label or host name)."""
        return self._tasks.placement()

    # -- exits -------------------------------------------------------------------------

    def wait_exit(self, service: str, timeout: float) -> int:
        return self._wait_exits([service], timeout, expect=None)[service]

    def wait_exit_all_clients(self, timeout: float, expect: int | None = 0) -> dict[str, int]:
        return self._wait_exits(self.client_services, timeout, expect)

    def _wait_exits(self, services: list[str], timeout: float, expect: int | None) -> dict[str, int]:
        """The exit codes of ``services`` from their tasks' states; with ``expect``, another code is
        an error raised as soon as that task ends (see ``Cluster.wait_exit_all_clients``). Returns
        with every line of those tasks, and of the tasks still running, in the hub."""
        deadline = time.monotonic() + timeout
        stack_services = self._tasks.stack_names(services)
        codes: dict[str, int] = {}
        while True:
            current = self._tasks.current(stack_services)
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
                        self._logs.catch_up({service: task})
                        waiting = [s for s in services if s not in codes]
                        tail = self.hub.tail(8, service)
                        message = unexpected_exit(service, code, expect, self.events(), waiting, tail)
                        if status.get("Err"):  # e.g. "starting container failed: ...": it never ran
                            message += f"\n{service}'s task: {status['Err']}"
                        raise ClusterError(message)
            if len(codes) == len(services):
                running = {s: t for s, t in self._tasks.current().items() if s not in services and _running(t)}
                self._logs.catch_up({service: current[service] for service in services} | running)
                return {service: codes[service] for service in services}
            if time.monotonic() > deadline:
                pending = [s for s in services if s not in codes]
                raise WaitTimeout(self._explain(f"{', '.join(pending)} did not exit within {timeout}s"))
            time.sleep(TASK_POLL)

    def _explain(self, what: str) -> str:
        states = []
        with contextlib.suppress(APIError, ClusterError):
            for service, task in sorted(self._tasks.current().items()):
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
            stack_service, slot = self._tasks.stack_service_of(service)
            if slot is not None:
                raise NotSupportedOnSwarm(
                    f"starting one agency ({service}) of the replicated `client` service: use shape 'per-agency'"
                )
            stack_services.append(stack_service)
        previous = {task["ID"] for task in self._tasks.listed(stack_services)}
        manager = self.swarm.manager

        def start_one(service: str) -> None:
            swarm_service = manager.services.get(self._tasks.service_ids[service])
            replicas = swarm_service.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
            if replicas == 0:
                count = self.clients if service == stack.REPLICATED_CLIENT else 1
                swarm_service.scale(count)
            else:
                swarm_service.force_update()

        with ThreadPoolExecutor(max_workers=min(engine.STOP_THREADS, len(stack_services) or 1)) as pool:
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


def _running(task: Task) -> bool:
    return bool(task["Status"]["State"] == "running")
