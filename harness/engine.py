"""Plain operations on the Docker engine: the connection, and containers, networks and volumes
found by their labels or ids. No domain knowledge (no services, runs or lottery): ``Cluster``
(harness.cluster) and the swarm backend build on these, as docker-py's ``models`` build on its ``api``.

Every operation that may touch a second engine (a node of a swarm) takes ``client``; the default
is the environment's engine (``docker_client()``).
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says how to get one."""


# Up to 16 threads call the API at once (teardown, exits), and each followed container log holds a
# connection for as long as it streams: docker-py's default pool of 10 would discard connections.
API_POOL_SIZE = 64
API_THREADS = 8  # parallel inspections and removals
STOP_THREADS = 16  # parallel stops (each mostly waits for its container)
RESIGNAL_EVERY = 0.5  # seconds between SIGTERMs while a container is being stopped
KILLED_EXIT_TIMEOUT = 180.0  # seconds for a SIGKILLed container to be reaped
NETWORK_REMOVE_TIMEOUT = 10.0  # seconds to wait for the engine to release a network's endpoints

HINT = "start one, or run scripts/provision-docker.sh (Debian, root) to install and start it"


@functools.cache
def docker_client(timeout: int = 120) -> docker.DockerClient:
    """A client for the engine of the environment (DOCKER_HOST or the local socket)."""
    try:
        client = docker.from_env(timeout=timeout, max_pool_size=API_POOL_SIZE)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(f"no Docker engine answers ({exc}); {HINT}") from None
    return client


def label_selector(labels: Mapping[str, str]) -> list[str]:
    """The engine's ``label`` filter for resources carrying all ``labels``."""
    return [f"{key}={value}" for key, value in labels.items()]


def container_ids(labels: Mapping[str, str], client: docker.DockerClient | None = None) -> list[str]:
    """The ids of every container (running or not) carrying all ``labels``, from one listing."""
    client = client or docker_client()
    return [summary["Id"] for summary in client.api.containers(all=True, filters={"label": label_selector(labels)})]


def inspect_all(labels: Mapping[str, str], client: docker.DockerClient | None = None) -> list[Container]:
    """Every container carrying all ``labels``, fully inspected; the inspections run in parallel
    (``containers.list`` makes them one by one: seconds for a hundred containers)."""
    engine = client or docker_client()
    ids = container_ids(labels, engine)

    def inspect(container_id: str) -> Container | None:
        try:
            return engine.containers.get(container_id)
        except NotFound:  # removed since the listing
            return None

    if len(ids) <= 1:
        found = [inspect(container_id) for container_id in ids]
    else:
        with ThreadPoolExecutor(max_workers=min(API_THREADS, len(ids))) as pool:
            found = list(pool.map(inspect, ids))
    return [container for container in found if container is not None]


def wait_exit(container: Container, timeout: float) -> int | None:
    """The exit code of ``container``, waiting at most ``timeout`` s; None if it still runs then."""
    try:
        result = container.wait(timeout=max(timeout, 0.01))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        return recorded_exit(container)
    return int(result["StatusCode"])


def recorded_exit(container: Container) -> int | None:
    """The exit code the engine has recorded for ``container``, if it has ended. A wait that did not
    answer (a loaded engine, a dropped connection) may have missed an exit that happened: a trial
    once read "server did not exit within 10s" of a server that had exited in 0.2 s."""
    try:
        container.reload()
    except (NotFound, APIError, requests.exceptions.RequestException):
        return None
    state = container.attrs.get("State") or {}
    if state.get("Status") in ("exited", "dead"):
        return int(state.get("ExitCode", -1))
    return None


def wait_exits(
    containers: Mapping[str, Container],
    timeout: float,
    then: Callable[[str, Container], None] | None = None,
) -> Iterator[tuple[str, int | None]]:
    """``(name, exit code)`` of each of ``containers`` in the order they end, all waited for at once;
    once ``timeout`` s have passed, ``(name, None)`` for one still running (and the caller stops).
    ``then(name, container)`` runs in the container's own wait, before its exit is yielded, so many
    containers ending together are handled in parallel. The waits are daemon threads: one left
    running ends with its container."""
    deadline = time.monotonic() + timeout
    results: queue.Queue[tuple[str, int | BaseException | None]] = queue.Queue()

    def wait_one(name: str, container: Container) -> None:
        try:
            code = wait_exit(container, deadline - time.monotonic())
            if code is not None and then is not None:
                then(name, container)
            results.put((name, code))
        except BaseException as exc:
            results.put((name, exc))

    for name, container in containers.items():
        threading.Thread(target=wait_one, args=(name, container), name=f"wait-{name}", daemon=True).start()
    pending = list(containers)
    while pending:
        try:
            name, outcome = results.get(timeout=max(0.0, deadline - time.monotonic()) + 10)
        except queue.Empty:  # a wait that outlived its own timeout: the engine does not answer
            name, outcome = pending[0], None
        if isinstance(outcome, BaseException):
            raise outcome
        pending.remove(name)
        yield name, outcome


def stop_quietly(container: Container, grace: float) -> None:
    """``docker stop``: SIGTERM, SIGKILL after ``grace`` s; but the SIGTERM is sent again every
    ``RESIGNAL_EVERY`` s. A container's PID 1 ignores signals it has no handler for yet, so a
    SIGTERM sent while its process is still starting is lost, and ``docker stop`` then waits the
    whole grace period (10 s for a no-op scenario's clients). ``container`` comes from a fresh
    listing: its status is current enough (signalling an exited one is a harmless error)."""
    try:
        if container.status not in ("running", "paused", "restarting"):
            return
        if container.status == "paused":
            container.unpause()
        deadline = time.monotonic() + grace
        while True:
            container.kill(signal="SIGTERM")
            remaining = deadline - time.monotonic()
            try:
                container.wait(timeout=max(0.01, min(RESIGNAL_EVERY, remaining)))
                return
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                if remaining <= RESIGNAL_EVERY:
                    break
        container.kill(signal="SIGKILL")
        container.wait(timeout=KILLED_EXIT_TIMEOUT)
    except (NotFound, APIError, requests.exceptions.RequestException):
        pass


def stop_all_quietly(containers: list[Container], grace: float) -> None:
    """``stop_quietly`` every one of ``containers``, all at once."""
    with ThreadPoolExecutor(max_workers=min(STOP_THREADS, len(containers) or 1)) as pool:
        list(pool.map(lambda container: stop_quietly(container, grace), containers))


def remove_container(container_id: str, client: docker.DockerClient | None = None) -> int:
    """Remove a container (killed if still running) with its anonymous volumes; 1 if it was there."""
    try:
        (client or docker_client()).api.remove_container(container_id, force=True, v=True)
    except NotFound:
        return 0
    except APIError as error:
        if error.status_code == 409 and "already in progress" in str(error):
            return 0  # another remover (a parallel teardown, the sweep after it) is removing it
        raise
    return 1


def networks(labels: Mapping[str, str], client: docker.DockerClient | None = None) -> list[Any]:
    """Every network carrying all ``labels``."""
    return list((client or docker_client()).networks.list(filters={"label": label_selector(labels)}))


def address_on(container: Container, network_id: str) -> str | None:
    """The IP address of ``container`` on network ``network_id``; None if it has none there."""
    for settings in container.attrs["NetworkSettings"]["Networks"].values():
        if settings.get("NetworkID") == network_id and settings.get("IPAddress"):
            return str(settings["IPAddress"])
    return None


class NetworkLeftByEngine(APIError):
    """The engine keeps a network with "active endpoints" and no container: it lost track of one
    (Docker 20.10, moby/moby#43286). Only restarting dockerd frees it; nothing else was left."""


def remove_network(network: Any) -> int:
    """Remove a network; 1 if it was there. The engine may still be detaching the endpoints of
    containers removed a moment ago ("has active endpoints"): disconnect what is left, retry."""
    deadline = time.monotonic() + NETWORK_REMOVE_TIMEOUT
    while True:
        try:
            network.remove()
            return 1
        except NotFound:
            return 0
        except APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise NetworkLeftByEngine(
                    f"network {network.name}",
                    response=exc.response,
                    explanation=f"{exc.explanation}, {NETWORK_REMOVE_TIMEOUT:g}s after its containers went:"
                    " the engine lost track of an endpoint (restarting dockerd frees the network)",
                ) from None
        with contextlib.suppress(NotFound, APIError):
            network.reload()
            for endpoint in network.attrs.get("Containers") or {}:
                with contextlib.suppress(NotFound, APIError):
                    network.disconnect(endpoint, force=True)
        time.sleep(0.2)


def sweep(labels: Mapping[str, str], client: docker.DockerClient | None = None) -> dict[str, int]:
    """Remove every container, network and volume carrying all ``labels`` from the engine of
    ``client`` (default: the environment's); counts what went."""
    engine = client or docker_client()
    selector = label_selector(labels)
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    ids = container_ids(labels, engine)
    if ids:
        with ThreadPoolExecutor(max_workers=min(API_THREADS, len(ids))) as pool:
            removed["containers"] = sum(pool.map(lambda container_id: remove_container(container_id, engine), ids))
    refused: list[APIError] = []  # every other network and volume is still removed
    for network in networks(labels, engine):
        try:
            removed["networks"] += remove_network(network)
        except APIError as error:
            refused.append(error)
    for volume in engine.volumes.list(filters={"label": selector}):
        try:
            volume.remove(force=True)
            removed["volumes"] += 1
        except NotFound:
            pass
    if refused:
        raise refused[0]
    return removed


def stop_and_sweep(labels: Mapping[str, str], grace: float = 10) -> dict[str, int]:
    """Stop every container carrying all ``labels`` (``stop_quietly``), then ``sweep`` them."""
    client = docker_client()
    stop_all_quietly(
        client.containers.list(ignore_removed=True, all=True, filters={"label": label_selector(labels)}), grace
    )
    return sweep(labels)
