"""The Docker engine connection, with one clear error when none answers."""

from __future__ import annotations

import functools

import docker
from docker.errors import DockerException


class EngineUnavailable(RuntimeError):
    """No Docker engine answers; the message says how to get one."""


# Up to 16 threads call the API at once (teardown, exits), and each followed container log holds a
# connection for as long as it streams: docker-py's default pool of 10 would discard connections.
API_POOL_SIZE = 64

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


def engine_available() -> bool:
    try:
        docker_client()
    except EngineUnavailable:
        return False
    return True
