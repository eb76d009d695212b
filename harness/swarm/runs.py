"""The swarm a run deploys to (``--backend swarm`` of ``harness up`` / ``harness run``) and the
swarm side of ``harness down``: a run's stack removed wherever it is."""

from __future__ import annotations

import os
from collections.abc import Callable

from harness.cluster import project_name
from harness.engine import docker_client
from harness.swarm.engines import SwarmEngine, local_swarm, release_local_swarm, swarm_state
from harness.swarm.nodes import LocalSwarmNodes
from harness.swarm.removal import remove_stack

Report = Callable[[str], None]


def swarm_for_run(run_id: str, keep: bool, report: Report) -> SwarmEngine:
    """The local node swarm if ``harness swarm up`` left one, else this engine as a one-node
    swarm. ``keep``: the cluster outlives this process (``harness up``), so the one-node swarm is
    held by the run until ``harness down``."""
    nodes = LocalSwarmNodes.load()
    if nodes is not None:
        report(f"swarm: the {nodes.count} local nodes of `harness swarm up`")
        return nodes.engine()
    report("swarm: this engine, as a one-node swarm")
    if keep:
        return local_swarm(f"run-{run_id}")
    return local_swarm(f"cli-{run_id}-{os.getpid()}", os.getpid())


def down_run(run_id: str) -> dict[str, int]:
    """Remove run ``run_id``'s stack wherever it is (this engine's swarm, the local nodes'), and
    release the one-node swarm it held (left if the harness initialised it and nobody else uses it)."""
    removed = {"services": 0, "networks": 0, "configs": 0}
    engines = []
    if swarm_state(docker_client()) == "active" and docker_client().info()["Swarm"].get("ControlAvailable"):
        engines.append(SwarmEngine(manager=docker_client()))
    nodes = LocalSwarmNodes.load()
    if nodes is not None:
        engines.append(nodes.engine())
    for engine in engines:
        for key, count in remove_stack(engine, project_name(run_id)).items():
            removed[key] += count
    release_local_swarm(f"run-{run_id}")
    return removed
