"""The Swarm a cluster deploys to: its manager's API, and each node's engine.

``SwarmEngine`` names the manager (the SDK client, and the ``DOCKER_HOST`` the ``docker stack``
CLI needs) and how to reach the engine of the node a task runs on (signals, pauses and
``docker stop`` go to a task's container, which only its node's engine knows).

``local_swarm()`` is the one-node swarm of this machine's engine. The harness initialises it
when it is inactive and leaves it (``swarm leave --force``) only if it did so itself, once no
holder is left: holders are live processes (pytest sessions, ``harness run``) or run ids of
clusters ``harness up`` left running; they are kept in a state file under a lock, so parallel
sessions (pytest-xdist workers) share one swarm and the last one out restores the engine.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import APIError

from harness.engine import docker_client, remove_network
from harness.hostlock import host_lock
from harness.labels import SWARM_NODE_LABEL
from harness.swarm.host import alive

STATE_DIRECTORY = Path(os.environ.get("HARNESS_SWARM_STATE", "/tmp/lottery-harness-swarm"))
SWARM_STATE_WAIT = 300  # another run's `swarm init` or `swarm leave`, on a loaded machine
GWBRIDGE = "docker_gwbridge"
LOCAL_ADDRESS = "127.0.0.1"
DEFAULT_ADDR_POOL = "10.0.0.0/8"  # swarm's own default
# A stack's overlay network gets one subnet of this size: /21 holds 2,045 tasks (swarm's default
# /24 holds 253, too few for the replicated shape's hundreds of agencies). A swarm the harness
# did not initialise keeps its own size.
OVERLAY_SUBNET_SIZE = 21  # the one-node swarm listens and advertises on loopback only


class SwarmUnavailable(RuntimeError):
    pass


@dataclass
class SwarmEngine:
    """A swarm as the harness drives it."""

    manager: docker.DockerClient
    manager_host: str | None = None  # DOCKER_HOST for the `docker` CLI; None: the environment's
    node_clients: dict[str, docker.DockerClient] = field(default_factory=dict)  # node id -> its engine
    release: Callable[[], None] = lambda: None

    def node_client(self, node_id: str) -> docker.DockerClient:
        """The engine of node ``node_id`` (the manager's own for a one-node swarm)."""
        return self.node_clients.get(node_id, self.manager)

    def cli_environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        if self.manager_host:
            environment["DOCKER_HOST"] = self.manager_host
        return environment

    def node_names(self) -> dict[str, str]:
        """node id -> a readable name (hostname, or the ``lottery-harness.node`` label)."""
        names = {}
        for node in self.manager.api.nodes():
            labels = node.get("Spec", {}).get("Labels") or {}
            names[node["ID"]] = labels.get(SWARM_NODE_LABEL) or node["Description"]["Hostname"]
        return names


def swarm_state(client: docker.DockerClient) -> str:
    """``inactive``, ``active``, ``pending``, ``error`` or ``locked``, as the engine reports it."""
    return str(client.info().get("Swarm", {}).get("LocalNodeState", "inactive"))


@contextlib.contextmanager
def _locked_state() -> Iterator[dict[str, object]]:
    STATE_DIRECTORY.mkdir(parents=True, exist_ok=True)
    with host_lock("swarm-state", SWARM_STATE_WAIT, "the swarm state of this engine (another run joins or leaves it)"):
        path = STATE_DIRECTORY / "state.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        except ValueError:
            state = {}
        state.setdefault("initialised", False)
        state.setdefault("holders", {})
        yield state
        path.write_text(json.dumps(state), encoding="utf-8")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return True  # a run id: held until `harness down`
    return alive(pid)


def acquire_local_swarm(holder: str, pid: int | None = None) -> bool:
    """Make sure this machine's engine is a swarm manager; ``holder`` now uses it. True when the
    harness initialised it (now or for an earlier holder)."""
    client = docker_client()
    with _locked_state() as state:
        holders = state["holders"]
        assert isinstance(holders, dict)
        for name in [name for name, owner in holders.items() if not _alive(owner)]:
            del holders[name]
        current = swarm_state(client)
        if current == "inactive":
            state["gwbridge_existed"] = bool(client.networks.list(names=[GWBRIDGE]))
            try:
                client.swarm.init(
                    listen_addr=f"{LOCAL_ADDRESS}:2377",
                    advertise_addr=LOCAL_ADDRESS,
                    default_addr_pool=[DEFAULT_ADDR_POOL],
                    subnet_size=OVERLAY_SUBNET_SIZE,
                )
            except APIError as exc:
                raise SwarmUnavailable(f"`docker swarm init` failed: {exc.explanation or exc}") from None
            state["initialised"] = True
        elif current != "active":
            raise SwarmUnavailable(f"this engine's swarm is {current!r}; fix it (docker info) or leave it")
        elif not client.info()["Swarm"].get("ControlAvailable"):
            raise SwarmUnavailable("this engine is a swarm worker, not a manager: deploy from a manager")
        holders[holder] = pid
        return bool(state["initialised"])


def release_local_swarm(holder: str) -> bool:
    """``holder`` is done; the last one out leaves a swarm the harness initialised. True if it left."""
    with _locked_state() as state:
        holders = state["holders"]
        assert isinstance(holders, dict)
        holders.pop(holder, None)
        for name in [name for name, owner in holders.items() if not _alive(owner)]:
            del holders[name]
        if holders or not state["initialised"]:
            return False
        client = docker_client()
        if swarm_state(client) != "inactive":
            client.swarm.leave(force=True)
        if not state.get("gwbridge_existed", True):  # `swarm init` made it; `swarm leave` keeps it
            for network in client.networks.list(names=[GWBRIDGE]):
                with contextlib.suppress(APIError):
                    remove_network(network)  # disconnects what is left, retries
        state["initialised"] = False
        return True


def local_swarm(holder: str, pid: int | None = None) -> SwarmEngine:
    """This machine's engine as a one-node swarm, held by ``holder`` until ``release()``."""
    acquire_local_swarm(holder, pid)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            release_local_swarm(holder)

    return SwarmEngine(manager=docker_client(), release=release)
