"""The label keys the harness puts on everything it starts, defined once.

Every container, network and image the harness makes carries ``LABEL``; a cluster's resources also
carry ``RUN_LABEL`` (its run id) and, under pytest, ``SESSION_LABEL``. Teardown and the sweeps find
what to remove by these labels, never by name, so nothing else on the engine is touched.
"""

from __future__ import annotations

LABEL = "lottery-harness"
RUN_LABEL = f"{LABEL}.run"
SESSION_LABEL = f"{LABEL}.session"
CLI_LABEL = f"{LABEL}.cli"  # clusters started by `harness up`
BENCH_LABEL = f"{LABEL}.bench"
BENCH_OWNER_LABEL = f"{LABEL}.bench-owner"  # the pid of the benchmark process that made the cluster
STANDIN_LABEL = f"{LABEL}.standin"  # offline stand-ins for a Dockerfile's FROM images
CHECK_LABEL = f"{LABEL}.check"  # clusters of `harness check` (a system under test's compose file)
SUT_IMAGE_LABEL = f"{LABEL}.sut-image"  # images built from a system under test's Dockerfiles
# Docker's own compose labels, read to map containers to services.
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
# Docker Swarm's (harness.swarm): the stack a service, task, network or config belongs to.
SWARM_STACK_LABEL = "com.docker.stack.namespace"
SWARM_NODE_LABEL = f"{LABEL}.node"  # node label of a local swarm's nodes (harness swarm up): node1..N


def role_label(role: str) -> str:
    """The label of a helper container's role (``probe``, ``impostor``...): ``lottery-harness.ROLE``."""
    return f"{LABEL}.{role}"
