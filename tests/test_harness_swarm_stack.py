"""harness.swarm.stack and the backend choice: rendering, refusals (no swarm, no containers)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.backends import NotSupportedOnBackend, check_backend
from harness.cluster import Cluster
from harness.compose import ComposeSpec
from harness.images import ImageSet
from harness.swarm import stack
from harness.swarm.cluster import NotSupportedOnSwarm, SwarmCluster
from harness.swarm.stack import StackSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES = ImageSet(server="lottery-harness/server:x", client="lottery-harness/client:x", base="python:3.11-slim")


def compose_spec(tmp_path: Path, clients: int = 3, **options: Any) -> ComposeSpec:
    return ComposeSpec(
        clients=clients,
        project="lottery-abc",
        data_dir=tmp_path / "data",
        storage_dir=tmp_path / "storage",
        server_config=REPO_ROOT / "server" / "config.ini",
        client_config=REPO_ROOT / "client" / "config.yaml",
        labels={"lottery-harness.run": "abc"},
        **options,
    )


def rendered(spec: StackSpec) -> dict[str, Any]:
    document = yaml.safe_load(stack.render(spec))
    assert isinstance(document, dict)
    return document


def test_per_agency_stack_has_what_swarm_needs(tmp_path: Path) -> None:
    document = rendered(StackSpec(compose=compose_spec(tmp_path), deferred=("client2",)))
    services = document["services"]
    assert list(services) == ["server", "client1", "client2", "client3"]
    for name, service in services.items():
        deploy = service["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr", name
        assert deploy["restart_policy"] == {"condition": "none"}, name
        assert deploy["labels"]["lottery-harness.run"] == "abc"
        assert service["networks"] == ["lottery"]
    assert services["server"]["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert "placement" not in services["client1"]["deploy"]
    assert [services[n]["deploy"]["replicas"] for n in services] == [1, 1, 0, 1]
    assert services["client3"]["environment"]["CLI_ID"] == "3"
    assert services["client3"]["environment"]["CLI_DATA_PATH"] == "/data/agency-3.csv"
    network = document["networks"]["lottery"]
    assert network["driver"] == "overlay" and network["attachable"] is True
    assert document["configs"]["server_config"]["file"] == str((REPO_ROOT / "server" / "config.ini").resolve())
    assert services["server"]["configs"] == [
        {"source": "server_config", "target": "/app/server/config.ini", "mode": 0o444}
    ]
    assert [m["target"] for m in services["server"]["volumes"]] == ["/storage"]
    assert [m["target"] for m in services["client1"]["volumes"]] == ["/data"]


def test_replicated_stack_takes_the_agency_from_the_task_slot(tmp_path: Path) -> None:
    spec = StackSpec(
        compose=compose_spec(tmp_path, clients=250, client_env={"CLI_LOG_LEVEL": "DEBUG"}), shape="replicated"
    )
    services = rendered(spec)["services"]
    assert list(services) == ["server", "client"]
    client = services["client"]
    assert client["deploy"]["replicas"] == 250
    assert client["environment"]["CLI_ID"] == "{{.Task.Slot}}"
    assert client["environment"]["CLI_DATA_PATH"] == "/data/agency-{{.Task.Slot}}.csv"
    assert client["environment"]["CLI_LOG_LEVEL"] == "DEBUG"
    assert services["server"]["environment"]["AGENCIES"] == "250"
    assert stack.services(spec) == ["server", "client"]


def test_dollars_are_escaped_for_stack_interpolation(tmp_path: Path) -> None:
    spec = StackSpec(compose=compose_spec(tmp_path, client_env={"NOTE": "costs $5 ${HOME}"}))
    assert rendered(spec)["services"]["client1"]["environment"]["NOTE"] == "costs $$5 $${HOME}"


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (no engine or swarm)")
def test_docker_stack_config_reads_it_back(tmp_path: Path) -> None:
    spec = StackSpec(compose=compose_spec(tmp_path, client_env={"NOTE": "costs $5 ${HOME}"}), shape="replicated")
    path = stack.write(spec, tmp_path / "stack.yaml")
    completed = subprocess.run(
        ["docker", "stack", "config", "--compose-file", str(path)], capture_output=True, text=True, timeout=30
    )
    if "unknown command" in completed.stderr or "is not a docker command" in completed.stderr:
        pytest.skip("this docker CLI has no `stack config`")
    assert completed.returncode == 0, completed.stderr
    merged = yaml.safe_load(completed.stdout)
    assert merged["services"]["client"]["environment"]["NOTE"] == "costs $5 ${HOME}"
    assert merged["services"]["client"]["deploy"]["endpoint_mode"] == "dnsrr"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shape": "mesh"}, "shape must be one of"),
        ({"shape": "replicated", "per_client": True}, "per_client_env needs one service per agency"),
        ({"deferred": ("client9",)}, "deferred names services"),
        ({"course_layout": True}, "cannot run on Swarm"),
    ],
)
def test_refusals(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    compose_options: dict[str, Any] = {}
    if options.pop("per_client", False):
        compose_options["per_client_env"] = {1: {"A": "b"}}
    if options.pop("course_layout", False):
        compose_options["course_layout"] = True
    with pytest.raises(ValueError, match=message):
        stack.render(StackSpec(compose=compose_spec(tmp_path, **compose_options), **options))


def test_backend_choice_gives_a_swarm_cluster_without_touching_an_engine(tmp_path: Path) -> None:
    made = Cluster(clients=2, data=tmp_path, images=IMAGES, workdir=tmp_path / "w", backend="swarm")
    assert isinstance(made, SwarmCluster) and made.backend == "swarm"
    assert type(Cluster(clients=2, data=tmp_path, images=IMAGES, workdir=tmp_path / "c")) is Cluster
    with pytest.raises(ValueError, match="backend must be one of"):
        Cluster(clients=2, data=tmp_path, images=IMAGES, backend="kubernetes")
    with pytest.raises(ValueError, match="deferred names services"):
        Cluster(clients=2, data=tmp_path, images=IMAGES, workdir=tmp_path / "r", backend="swarm", deferred=["client3"])
    assert check_backend("compose") == "compose"


def test_what_swarm_cannot_do_says_so(tmp_path: Path) -> None:
    made = Cluster(clients=2, data=tmp_path, images=IMAGES, workdir=tmp_path / "w", backend="swarm")
    for operation in (made.disconnect, made.reconnect, made.address):
        with pytest.raises(NotSupportedOnSwarm, match=r"^not supported on swarm: ") as raised:
            operation("client1")
        assert isinstance(raised.value, NotSupportedOnBackend)


def test_one_agency_of_a_replicated_service_cannot_be_started_alone(tmp_path: Path) -> None:
    made = SwarmCluster(clients=3, data=tmp_path, images=IMAGES, workdir=tmp_path / "w", shape="replicated")
    with pytest.raises(NotSupportedOnSwarm, match="starting one agency"):
        made.start("client2")


def test_local_node_names_fit_the_kernel_limits() -> None:
    from harness.swarm.nodes import MAX_NODES, SUBNET_PREFIX, LocalNode, LocalSwarmNodes

    nodes = LocalSwarmNodes(count=MAX_NODES).nodes
    assert [node.name for node in nodes[:3]] == ["node1", "node2", "node3"]
    for node in nodes:
        assert len(node.host_veth) <= 15 and len(node.node_veth) <= 15  # IFNAMSIZ - 1
        assert node.address.startswith(f"{SUBNET_PREFIX}.")
    assert len({node.address for node in nodes}) == MAX_NODES
    assert LocalNode(2).socket.startswith("unix:///run/")


@pytest.mark.parametrize("count", [0, 1, 10])
def test_node_counts_outside_the_range_are_refused_before_anything_is_made(count: int) -> None:
    from harness.swarm.nodes import nodes_up

    with pytest.raises(ValueError, match=r"--nodes must be in 2\.\.9"):
        nodes_up(count, [])
