"""Several Swarm nodes on one machine: one ``dockerd`` per node, each in a network namespace.

Privileged node containers do not start here (``unable to apply caps``), so each node is a
``dockerd`` of its own, started with ``nsenter --net=`` in a network namespace (``ip netns
exec`` remounts /sys and dockerd then fails with "Devices cgroup isn't mounted"). The
namespaces hang on a host bridge by veth pairs, in ``SUBNET``, a range nothing else here uses;
the host engine's FORWARD policy drops bridged traffic, so one ``DOCKER-USER`` rule accepts
traffic from that bridge to that bridge (and nowhere else). Node 1 is the manager, the others
join as workers; every node gets the images by ``docker save`` / ``docker load``.

Teardown leaves nothing: each node leaves the swarm, each dockerd is stopped by its pidfile,
the namespaces, the bridge and the iptables rule are deleted, the data and exec roots removed
(after checking that nothing is mounted under them). One node swarm at a time; its state is in
``STATE_FILE`` so ``harness swarm down`` (another process) can take it down. The commands on the
host, and the removal of the roots, are ``harness.swarm.host``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker
from docker.errors import DockerException

from harness.labels import SWARM_NODE_LABEL
from harness.swarm.engines import OVERLAY_SUBNET_SIZE, SwarmEngine
from harness.swarm.host import NodeError, alive, remove_root, run, undo

SUBNET_PREFIX = "10.213.213"  # /24 for the nodes' veths: outside Docker's bridge pools and swarm's 10.0.x
OVERLAY_POOL = "10.214.0.0/16"  # the nodes' overlay networks, apart from everything else too
BRIDGE = "lhsw0"
NETNS_PREFIX = "lhsw-node"
ROOT = Path(os.environ.get("HARNESS_SWARM_NODES_ROOT", "/var/lib/lottery-harness-swarm"))
RUN_ROOT = Path("/run/lottery-harness-swarm")
STATE_FILE = RUN_ROOT / "nodes.json"
MAX_NODES = 9
START_TIMEOUT = 60.0  # seconds for a node's dockerd to answer
STOP_TIMEOUT = 30.0  # seconds for a node's dockerd to exit on SIGTERM


Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class LocalNode:
    index: int

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def address(self) -> str:
        return f"{SUBNET_PREFIX}.{10 + self.index}"

    @property
    def host_veth(self) -> str:
        return f"lhsw{self.index}h"

    @property
    def node_veth(self) -> str:
        return f"lhsw{self.index}n"

    @property
    def data_root(self) -> Path:
        return ROOT / self.name

    @property
    def exec_root(self) -> Path:
        return RUN_ROOT / self.name

    @property
    def pidfile(self) -> Path:
        return RUN_ROOT / f"{self.name}.pid"

    @property
    def socket(self) -> str:
        return f"unix://{RUN_ROOT / self.name}.sock"

    @property
    def log(self) -> Path:
        return ROOT / f"{self.name}.log"

    def client(self, timeout: int = 120) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.socket, timeout=timeout)


@dataclass
class LocalSwarmNodes:
    """The node swarm's layout and what was made of it (``made`` lists the steps to undo)."""

    count: int
    made: list[str] = field(default_factory=list)
    node_ids: dict[str, str] = field(default_factory=dict)  # node name -> swarm node id

    @property
    def nodes(self) -> list[LocalNode]:
        return [LocalNode(index) for index in range(1, self.count + 1)]

    @property
    def manager(self) -> LocalNode:
        return self.nodes[0]

    def save(self) -> None:
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        STATE_FILE.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls) -> LocalSwarmNodes | None:
        if not STATE_FILE.exists():
            return None
        data = json.loads(STATE_FILE.read_text(encoding="utf-8"))
        return cls(count=int(data["count"]), made=list(data["made"]), node_ids=dict(data["node_ids"]))

    def engine(self) -> SwarmEngine:
        """The swarm as clusters drive it: the manager's API, and each node's engine by node id."""
        clients = {node.name: node.client() for node in self.nodes}
        return SwarmEngine(
            manager=clients[self.manager.name],
            manager_host=self.manager.socket,
            node_clients={node_id: clients[name] for name, node_id in self.node_ids.items()},
        )

    # -- up ------------------------------------------------------------------------------

    def _step(self, name: str, command: Sequence[str]) -> None:
        run(command)
        self.made.append(name)
        self.save()

    def up(self, images: Sequence[str], report: Report = _quiet) -> None:
        if os.geteuid() != 0:
            raise NodeError("local swarm nodes need root (network namespaces, a bridge, iptables, dockerd)")
        for tool in ("ip", "nsenter", "iptables", "dockerd", "docker"):
            if shutil.which(tool) is None:
                raise NodeError(f"local swarm nodes need `{tool}` on PATH")
        self.save()
        started = time.monotonic()
        self._step("bridge", ["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "link", "set", BRIDGE, "up"])
        self._step("iptables", ["iptables", "-I", "DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"])
        for node in self.nodes:
            self._network(node)
        with ThreadPoolExecutor(max_workers=self.count) as pool:
            list(pool.map(self._start_dockerd, self.nodes))
        report(f"{self.count} dockerd nodes answer ({time.monotonic() - started:.1f}s)")
        self._form_swarm()
        report(
            f"swarm formed: {self.manager.name} manages, {self.count - 1} workers ({time.monotonic() - started:.1f}s)"
        )
        if images:
            self.load_images(images)
            report(f"images on every node: {', '.join(images)} ({time.monotonic() - started:.1f}s)")

    def _network(self, node: LocalNode) -> None:
        self._step(f"netns:{node.index}", ["ip", "netns", "add", node.netns])
        self._step(
            f"veth:{node.index}", ["ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", node.node_veth]
        )
        run(["ip", "link", "set", node.host_veth, "master", BRIDGE, "up"])
        run(["ip", "link", "set", node.node_veth, "netns", node.netns])
        inside = ["nsenter", f"--net=/var/run/netns/{node.netns}"]
        run([*inside, "ip", "addr", "add", f"{node.address}/24", "dev", node.node_veth])
        run([*inside, "ip", "link", "set", node.node_veth, "up"])
        run([*inside, "ip", "link", "set", "lo", "up"])

    def _start_dockerd(self, node: LocalNode) -> None:
        node.data_root.mkdir(parents=True, exist_ok=True)
        node.exec_root.mkdir(parents=True, exist_ok=True)
        config = node.data_root / "daemon.json"  # not /etc/docker/daemon.json: the host engine's
        config.write_text("{}\n", encoding="utf-8")
        command = [
            "nsenter",
            f"--net=/var/run/netns/{node.netns}",
            "dockerd",
            "--config-file",
            str(config),
            "--data-root",
            str(node.data_root / "docker"),
            "--exec-root",
            str(node.exec_root),
            "--pidfile",
            str(node.pidfile),
            "-H",
            node.socket,
        ]
        with node.log.open("ab") as log:
            subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.made.append(f"dockerd:{node.index}")
        self.save()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                node.client(timeout=5).ping()
                return
            except DockerException:
                if time.monotonic() > deadline:
                    tail = node.log.read_text(errors="replace").splitlines()[-5:]
                    raise NodeError(f"{node.name}'s dockerd did not answer within {START_TIMEOUT}s: {tail}") from None
            time.sleep(0.2)

    def _form_swarm(self) -> None:
        manager = self.manager.client()
        manager.swarm.init(
            advertise_addr=self.manager.address,
            listen_addr=f"{self.manager.address}:2377",
            default_addr_pool=[OVERLAY_POOL],
            subnet_size=OVERLAY_SUBNET_SIZE,
        )
        self.made.append("swarm")
        self.save()
        manager.swarm.reload()
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        for node in self.nodes[1:]:
            node.client().swarm.join(
                remote_addrs=[f"{self.manager.address}:2377"],
                join_token=token,
                advertise_addr=node.address,
                listen_addr=f"{node.address}:2377",
            )
        for node in self.nodes:
            self.node_ids[node.name] = str(node.client().info()["Swarm"]["NodeID"])
        for swarm_node in manager.nodes.list():
            name = next(n for n, node_id in self.node_ids.items() if node_id == swarm_node.id)
            spec = swarm_node.attrs["Spec"]
            spec["Labels"] = {**(spec.get("Labels") or {}), SWARM_NODE_LABEL: name}
            swarm_node.update(spec)
        self.save()

    def load_images(self, images: Sequence[str]) -> None:
        """``docker save`` once, ``docker load`` on every node (in parallel)."""
        ROOT.mkdir(parents=True, exist_ok=True)
        archive = ROOT / "images.tar"
        try:
            run(["docker", "save", "-o", str(archive), *images], timeout=600)

            def load(node: LocalNode) -> None:
                run(["docker", "-H", node.socket, "load", "-q", "-i", str(archive)], timeout=600)

            with ThreadPoolExecutor(max_workers=self.count) as pool:
                list(pool.map(load, self.nodes))
        finally:
            archive.unlink(missing_ok=True)

    def load_missing_images(self, images: Sequence[str]) -> None:
        """Load the ``images`` some node lacks (on every node: one archive either way)."""
        missing = []
        for image in images:
            for node in self.nodes:
                try:
                    node.client().images.get(image)
                except DockerException:
                    missing.append(image)
                    break
        if missing:
            self.load_images(missing)

    # -- down ----------------------------------------------------------------------------

    def down(self, report: Report = _quiet) -> list[str]:
        """Undo every step made, in reverse; returns the problems met (none: nothing is left)."""
        problems: list[str] = []
        made = set(self.made)
        if "swarm" in made:
            for node in reversed(self.nodes):
                with contextlib.suppress(DockerException):
                    node.client(timeout=30).swarm.leave(force=True)
        with ThreadPoolExecutor(max_workers=max(1, self.count)) as pool:
            stops = [node for node in self.nodes if f"dockerd:{node.index}" in made]
            problems += [problem for problem in pool.map(_stop_dockerd, stops) if problem]
        for node in self.nodes:
            if f"netns:{node.index}" in made:
                undo(problems, ["ip", "netns", "del", node.netns])
            if f"veth:{node.index}" in made:  # gone with the namespace, unless moving it failed
                run(["ip", "link", "del", node.host_veth], check=False)
        if "iptables" in made:
            undo(problems, ["iptables", "-D", "DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"])
        if "bridge" in made:
            undo(problems, ["ip", "link", "del", BRIDGE])
        for node in self.nodes:
            for root in (node.data_root, node.exec_root):
                problem = remove_root(root)
                if problem:
                    problems.append(problem)
            node.pidfile.unlink(missing_ok=True)
            node.log.unlink(missing_ok=True)
            Path(node.socket.removeprefix("unix://")).unlink(missing_ok=True)
        if not problems:
            STATE_FILE.unlink(missing_ok=True)
            for directory in (ROOT, RUN_ROOT):
                with contextlib.suppress(OSError):
                    directory.rmdir()
        report("local swarm nodes removed" if not problems else f"teardown problems: {problems}")
        return problems


def _stop_dockerd(node: LocalNode) -> str | None:
    try:
        pid = int(node.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return f"{node.name}'s dockerd (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT}s: killed"
        time.sleep(0.2)
    return None


def nodes_up(count: int, images: Sequence[str], report: Report = _quiet) -> LocalSwarmNodes:
    """Start ``count`` local nodes (``harness swarm up``); everything made is undone on failure."""
    if not 2 <= count <= MAX_NODES:
        raise ValueError(f"--nodes must be in 2..{MAX_NODES}, got {count}")
    existing = LocalSwarmNodes.load()
    if existing is not None:
        raise NodeError(f"a local node swarm ({existing.count} nodes) is already up: `harness swarm down` first")
    nodes = LocalSwarmNodes(count=count)
    try:
        nodes.up(images, report)
    except BaseException:
        nodes.down(report)
        raise
    return nodes


def nodes_down(report: Report = _quiet) -> list[str]:
    """Take down the local node swarm ``harness swarm up`` left (nothing to do when none is up)."""
    nodes = LocalSwarmNodes.load()
    if nodes is None:
        report("no local node swarm is up")
        return []
    return nodes.down(report)
