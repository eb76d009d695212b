"""Local swarm nodes on this machine: `harness swarm up --nodes 3`, `harness swarm down`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.engine import EngineUnavailable
from harness.images import ImageError, ensure_images
from harness.swarm.host import NodeError
from harness.swarm.nodes import nodes_down, nodes_up


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
