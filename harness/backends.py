"""The backends a ``Cluster`` runs on, and the error for what one of them cannot do.

``compose`` (the default): one Docker engine, ``docker compose``, containers on a bridge network.
``swarm``: a Docker Swarm (one local node, or several: ``harness swarm up``), ``docker stack
deploy``, tasks on an overlay network (harness.swarm). Another backend (e.g. Kubernetes, where
users have a cluster and a registry) would subclass ``Cluster`` the way ``SwarmCluster`` does.
"""

from __future__ import annotations

COMPOSE = "compose"
SWARM = "swarm"
BACKENDS = (COMPOSE, SWARM)


class NotSupportedOnBackend(RuntimeError):
    """A ``Cluster`` operation the backend cannot do; the pytest plugin skips the scenario with
    this message (``not supported on swarm: ...``) instead of failing it."""

    def __init__(self, backend: str, what: str) -> None:
        super().__init__(f"not supported on {backend}: {what}")
        self.backend = backend


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend
