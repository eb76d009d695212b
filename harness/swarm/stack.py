"""Swarm stack files for a server and N agencies, rendered from templates/stack.yaml.j2.

The services come from the same model as the compose file (``harness.compose``): the same
environment, images, labels and mounts, with what Swarm needs on top: an attachable overlay
network, ``endpoint_mode: dnsrr`` (this kernel has no IPVS, so a service VIP does not route),
``restart_policy: condition: none`` (an agency runs once; its task state carries the exit
code), the server placed by a constraint, and the config files as Swarm configs. The agency
files and the store stay bind mounts: every node of a local swarm shares this machine's files.

Two shapes:

* ``per-agency``: one service per agency (``client1``..``clientN``), so faults and signals can
  target one agency, and ``deferred`` services are deployed with 0 replicas;
* ``replicated``: one ``client`` service with N replicas, the agency id taken from the task slot
  (``{{.Task.Slot}}``), for large N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness import compose

TEMPLATE_NAME = "stack.yaml.j2"
PER_AGENCY = "per-agency"
REPLICATED = "replicated"
SHAPES = (PER_AGENCY, REPLICATED)
REPLICATED_CLIENT = "client"
SLOT = "{{.Task.Slot}}"  # Swarm's template for the task's slot (1..N), expanded per task
SERVER_CONSTRAINT = "node.role == manager"
_CONFIG_NAMES = {compose.SERVER_CONFIG_TARGET: "server_config", compose.CLIENT_CONFIG_TARGET: "client_config"}


@dataclass(kw_only=True)
class StackSpec:
    """A compose spec, the shape, and the Swarm-only settings."""

    compose: compose.ComposeSpec
    shape: str = PER_AGENCY
    deferred: tuple[str, ...] = ()  # services deployed with 0 replicas (started later by scaling)
    server_constraints: tuple[str, ...] = (SERVER_CONSTRAINT,)
    client_constraints: tuple[str, ...] = ()
    stop_grace: float = 10
    extra_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Config:
    name: str
    source: str
    target: str


@dataclass(frozen=True)
class _StackService:
    name: str
    image: str
    environment: dict[str, str]
    mounts: list[compose._Mount]
    configs: list[_Config]
    replicas: int
    constraints: list[str]


def services(spec: StackSpec) -> list[str]:
    """The stack's service names (without the stack's prefix), in order."""
    _check(spec)
    if spec.shape == REPLICATED:
        return ["server", REPLICATED_CLIENT]
    return compose.services(spec.compose)


def _check(spec: StackSpec) -> None:
    if spec.shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {spec.shape!r}")
    if spec.shape == REPLICATED and spec.compose.per_client_env:
        raise ValueError("per_client_env needs one service per agency (shape 'per-agency'), not 'replicated'")
    if spec.compose.course_layout:
        raise ValueError("the course's layout (fixed container names, a fixed subnet) cannot run on Swarm")
    if spec.stop_grace < 0:
        raise ValueError(f"stop_grace must be >= 0, got {spec.stop_grace}")


def _split_configs(service: compose._Service) -> tuple[list[compose._Mount], list[_Config]]:
    """Config files become Swarm configs; every other mount stays a bind mount."""
    mounts: list[compose._Mount] = []
    configs: list[_Config] = []
    for mount in service.mounts:
        name = _CONFIG_NAMES.get(mount.target)
        if name is None:
            mounts.append(mount)
        else:
            configs.append(_Config(name, str(Path(mount.source).resolve()), mount.target))
    return mounts, configs


def _stack_service(
    service: compose._Service, replicas: int, constraints: tuple[str, ...], name: str | None = None
) -> _StackService:
    mounts, configs = _split_configs(service)
    return _StackService(
        name or service.name, service.image, service.environment, mounts, configs, replicas, list(constraints)
    )


def _model(spec: StackSpec) -> list[_StackService]:
    server = compose._server(spec.compose)
    model = [_stack_service(server, 0 if "server" in spec.deferred else 1, spec.server_constraints)]
    if spec.shape == REPLICATED:
        if spec.compose.clients == 0:
            return model
        template = compose._client(spec.compose, 1)
        environment = dict(template.environment)
        environment["CLI_ID"] = SLOT
        environment["CLI_DATA_PATH"] = f"{compose.DATA_TARGET}/agency-{SLOT}.csv"
        replicas = 0 if REPLICATED_CLIENT in spec.deferred else spec.compose.clients
        client = compose._Service(REPLICATED_CLIENT, template.image, None, environment, template.mounts, [])
        return [*model, _stack_service(client, replicas, spec.client_constraints)]
    for number in range(1, spec.compose.clients + 1):
        client = compose._client(spec.compose, number)
        replicas = 0 if client.name in spec.deferred else 1
        model.append(_stack_service(client, replicas, spec.client_constraints))
    return model


def render(spec: StackSpec) -> str:
    """The stack file's text; raises ValueError on unsafe or inconsistent input."""
    _check(spec)
    compose._check_spec(spec.compose)
    unknown = sorted(set(spec.deferred) - set(services(spec)))
    if unknown:
        raise ValueError(f"deferred names services {unknown} that the stack does not have")
    model = _model(spec)
    configs = {config.name: config for service in model for config in service.configs}
    template = compose._environment().get_template(TEMPLATE_NAME)
    return template.render(
        services=model,
        configs=list(configs.values()),
        user=spec.compose.user,
        labels=compose._labels(spec.compose) | spec.extra_labels,
        network=compose.HARNESS_NETWORK,
        stop_grace=f"{spec.stop_grace:g}s",
    )


def write(spec: StackSpec, path: Path | str) -> Path:
    """Render ``spec`` into ``path`` (parents created); returns the path."""
    text = render(spec)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
