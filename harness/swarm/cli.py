"""Local swarm nodes on this machine: `harness swarm up --nodes 3`, `harness swarm down`.

Also the swarm ``--backend swarm`` deploys to, and the swarm side of ``harness down``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from harness.engine import EngineUnavailable
from harness.images import ImageError, ensure_images
from harness.swarm.engines import SwarmEngine, local_swarm, release_local_swarm, swarm_state
from harness.swarm.host import NodeError
from harness.swarm.nodes import LocalSwarmNodes, nodes_down, nodes_up
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
    import os

    return local_swarm(f"cli-{run_id}-{os.getpid()}", os.getpid())


def down_run(run_id: str) -> dict[str, int]:
    """Remove run ``run_id``'s stack wherever it is (this engine's swarm, the local nodes'), and
    release the one-node swarm it held (left if the harness initialised it and nobody else uses it)."""
    from harness.engine import docker_client

    removed = {"services": 0, "networks": 0, "configs": 0}
    engines = []
    if swarm_state(docker_client()) == "active" and docker_client().info()["Swarm"].get("ControlAvailable"):
        engines.append(SwarmEngine(manager=docker_client()))
    nodes = LocalSwarmNodes.load()
    if nodes is not None:
        engines.append(nodes.engine())
    for engine in engines:
        for key, count in remove_stack(engine, f"lottery-{run_id}").items():
            removed[key] += count
    release_local_swarm(f"run-{run_id}")
    return removed


def _say(message: str) -> None:
    print(message, flush=True)


def _report(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None, prog: str = "harness swarm") -> int:
    """Local swarm nodes on this machine: ``swarm up --nodes 3``, ``swarm down`` (docs/scaling.md)."""
    parser = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--nodes", type=int, default=3, help="nodes to start (2..9, default 3): one dockerd each")
    parser.add_argument("--base-image", metavar="IMAGE", help="base image for the images loaded on the nodes")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            images = ensure_images(args.base_image, _report)
            nodes = nodes_up(args.nodes, [images.server, images.client], _report)
            addresses = ", ".join(f"{node.name} {node.address}" for node in nodes.nodes)
            _say(f"local swarm up: {nodes.count} nodes ({addresses})")
            _say(f"  manager: DOCKER_HOST={nodes.manager.socket} docker node ls")
            _say("  use it:  harness run --backend swarm ...;  down: harness swarm down")
            return 0
        problems = nodes_down(_report)
    except (NodeError, ValueError, ImageError, EngineUnavailable) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"{prog}: {problem}", file=sys.stderr)
    return 1 if problems else 0
