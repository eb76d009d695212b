"""Compose files for a server and N clients, rendered from templates/compose.yaml.j2.

Two layouts:

* the harness's (default): no container names, no published ports, a bridge network without a
  fixed subnet, so several runs can live side by side; every service and the network carry the
  spec's labels (``lottery-harness.run`` defaults to the project name).
* the course's drop-in (``course_layout=True``, what ``generar-compose.sh`` writes): container
  names ``server``, ``client1..N`` and network ``testing_net`` on ``172.25.125.0/24``. Its defaults
  are the course's: images ``server:latest`` / ``client:latest``, configs ``./server/config.ini``
  and ``./client/config.yaml``, agency files in ``./.data`` (``/data`` in each client, created if
  missing), and every client carries the course's example bet (``NOMBRE``..``NUMERO``), which it
  sends when it has no agency file (exercise 5).

The server's store lives in the container (and dies with it) unless ``storage_dir`` names a host
folder to keep it in: the harness does, to read the stored bets and to restart a server on them.

Relative host paths are resolved by compose against the compose file's directory. Every
interpolated value is a YAML double-quoted scalar with ``$`` doubled, so no value can break the
file or trigger compose's ``${...}`` interpolation; names and keys are validated instead.

The command line is ``harness render`` (``harness.cli.render``), in either layout.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from harness.labels import RUN_LABEL

TEMPLATE_DIRECTORY = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "compose.yaml.j2"
MAX_CLIENTS = 500
STORAGE_TARGET = "/storage"
STORAGE_FILE = f"{STORAGE_TARGET}/bets.csv"
DATA_TARGET = "/data"
SERVER_CONFIG_TARGET = "/app/server/config.ini"
CLIENT_CONFIG_TARGET = "/app/client/config.yaml"
HARNESS_NETWORK = "lottery"
COURSE_NETWORK = "testing_net"
COURSE_SUBNET = "172.25.125.0/24"
# The course's example bet: what each drop-in client sends when it has no agency file (exercise 5).
COURSE_DEFAULT_BET = {
    "NOMBRE": "Santiago Lionel",
    "APELLIDO": "Lorca",
    "DOCUMENTO": "30904465",
    "NACIMIENTO": "1999-03-17",
    "NUMERO": "7574",
}

_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$")
_RESERVED_LABEL_PREFIXES = ("com.docker.", "io.docker.", "org.dockerproject.")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
# Characters YAML forbids raw or reads as line breaks inside a double-quoted scalar
# (json.dumps already escapes C0 controls, quotes and backslashes).
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


@dataclass(kw_only=True)
class ComposeSpec:
    """What to run; see the module docstring for the two layouts."""

    clients: int
    project: str = "tp0"
    server_image: str = "server:latest"
    client_image: str = "client:latest"
    data_dir: Path = Path(".data")
    storage_dir: Path | None = None  # None: the store lives and dies with the server's container
    server_config: Path | None = Path("server/config.ini")  # None: not mounted (the images carry none)
    client_config: Path | None = Path("client/config.yaml")  # None: not mounted (settings from the env only)
    labels: dict[str, str] = field(default_factory=dict)
    server_env: dict[str, str] = field(default_factory=dict)
    client_env: dict[str, str] = field(default_factory=dict)
    per_client_env: dict[int, dict[str, str]] = field(default_factory=dict)
    user: str | None = None
    course_layout: bool = False


class ComposeValidationError(RuntimeError):
    """``docker compose config`` rejected a rendered file."""


# -- escaping ---------------------------------------------------------------------------


class Quoted(str):
    """A string already rendered as a safe YAML scalar."""

    __slots__ = ()


def _escape_for_yaml(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def yaml_quote(value: str) -> Quoted:
    """``value`` as a YAML double-quoted scalar that compose reads back as exactly ``value``."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming the missing variable
    if not isinstance(value, str):
        raise TypeError(f"only strings are quoted, got {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not valid Unicode text") from None
    quoted = json.dumps(value.replace("$", "$$"), ensure_ascii=False)
    return Quoted(_YAML_UNSAFE.sub(_escape_for_yaml, quoted))


def _only_safe_output(value: object) -> str:
    """Jinja ``finalize``: strings must come through ``q``; ints and bools are YAML already."""
    if isinstance(value, Quoted):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    raise jinja2.TemplateError(f"unquoted value {value!r} in {TEMPLATE_NAME}: pipe it through `q`")


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIRECTORY),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_only_safe_output,
    )
    environment.filters["q"] = yaml_quote
    return environment


# -- validation -------------------------------------------------------------------------


def _check_clients(clients: object) -> None:
    if isinstance(clients, bool) or not isinstance(clients, int):
        raise ValueError(f"clients must be an integer, got {clients!r}")
    if not 0 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be in 0..{MAX_CLIENTS}, got {clients}")


def _check_project(project: str) -> None:
    if not isinstance(project, str) or not _PROJECT_NAME.match(project):
        raise ValueError(f"project name {project!r} must match {_PROJECT_NAME.pattern} (compose's rule)")


def _check_image(image: str, what: str) -> None:
    if not isinstance(image, str) or not image or any(c.isspace() or not c.isprintable() for c in image):
        raise ValueError(f"{what} {image!r} must be a non-empty image reference without spaces")


def _check_label_key(key: str) -> None:
    if not isinstance(key, str) or not _LABEL_KEY.match(key):
        raise ValueError(f"label key {key!r} must match {_LABEL_KEY.pattern}")
    if key.startswith(_RESERVED_LABEL_PREFIXES):
        raise ValueError(f"label key {key!r} uses a namespace reserved by Docker")


def _environment_values(variables: Mapping[str, str | int], what: str) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise ValueError(f"{what}: variable name {key!r} must match {_ENV_KEY.pattern}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{what}: value of {key} must be a string, got {value!r}")
        checked[key] = str(value)
    return checked


def _check_spec(spec: ComposeSpec) -> None:
    _check_clients(spec.clients)
    _check_project(spec.project)
    _check_image(spec.server_image, "server_image")
    _check_image(spec.client_image, "client_image")
    for key in spec.labels:
        _check_label_key(key)
    if spec.user is not None and not _USER.match(spec.user):
        raise ValueError(f"user {spec.user!r} must look like NAME, UID or UID:GID")
    unknown = sorted(set(spec.per_client_env) - set(range(1, spec.clients + 1)))
    if unknown:
        raise ValueError(f"per_client_env names clients {unknown}, outside 1..{spec.clients}")


# -- the model the template renders -----------------------------------------------------


@dataclass(frozen=True)
class _Mount:
    source: str
    target: str
    read_only: bool
    create_host_path: bool = False


@dataclass(frozen=True)
class _Service:
    name: str
    image: str
    container_name: str | None
    environment: dict[str, str]
    mounts: list[_Mount]
    depends_on: list[str]


def host_path(path: Path | str) -> str:
    """A host path as compose reads it; relative ones are kept relative to the compose file."""
    text = Path(path).as_posix()
    if "\x00" in text:
        raise ValueError(f"path {text!r} contains a NUL byte")
    if Path(path).is_absolute() or text in (".", "..") or text.startswith("../"):
        return text
    return f"./{text}"


def _server(spec: ComposeSpec) -> _Service:
    environment = {"AGENCIES": str(spec.clients), "STORAGE_PATH": STORAGE_FILE}
    environment |= _environment_values(spec.server_env, "server_env")
    mounts = []
    if spec.storage_dir is not None:
        mounts.append(_Mount(host_path(spec.storage_dir), STORAGE_TARGET, read_only=False, create_host_path=True))
    if spec.server_config is not None:
        mounts.append(_Mount(host_path(spec.server_config), SERVER_CONFIG_TARGET, read_only=True))
    container_name = "server" if spec.course_layout else None
    return _Service("server", spec.server_image, container_name, environment, mounts, [])


def _client(spec: ComposeSpec, number: int) -> _Service:
    name = f"client{number}"
    environment = {"CLI_ID": str(number), "CLI_DATA_PATH": f"{DATA_TARGET}/agency-{number}.csv"}
    if spec.course_layout:
        environment |= COURSE_DEFAULT_BET
    environment |= _environment_values(spec.client_env, "client_env")
    environment |= _environment_values(spec.per_client_env.get(number, {}), f"per_client_env[{number}]")
    mounts = [_Mount(host_path(spec.data_dir), DATA_TARGET, read_only=True, create_host_path=True)]
    if spec.client_config is not None:
        mounts.append(_Mount(host_path(spec.client_config), CLIENT_CONFIG_TARGET, read_only=True))
    container_name = name if spec.course_layout else None
    return _Service(name, spec.client_image, container_name, environment, mounts, ["server"])


def _labels(spec: ComposeSpec) -> dict[str, str]:
    labels = {RUN_LABEL: spec.project} | spec.labels
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(f"label {key} must be a string, got {value!r}")
    return labels


def services(spec: ComposeSpec) -> list[str]:
    """The service names ``render`` writes, in order."""
    _check_clients(spec.clients)
    return ["server", *(f"client{number}" for number in range(1, spec.clients + 1))]


def render(spec: ComposeSpec) -> str:
    """The compose file's text; raises ValueError on unsafe or inconsistent input."""
    _check_spec(spec)
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(
        project=spec.project,
        course_layout=spec.course_layout,
        user=spec.user,
        services=[_server(spec), *(_client(spec, n) for n in range(1, spec.clients + 1))],
        labels=_labels(spec),
        network=COURSE_NETWORK if spec.course_layout else HARNESS_NETWORK,
        subnet=COURSE_SUBNET if spec.course_layout else None,
    )


def write(spec: ComposeSpec, path: Path | str) -> Path:
    """Render ``spec`` into ``path`` (parents created); returns the path."""
    text = render(spec)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def validate_with_docker(path: Path | str) -> None:
    """Raise ComposeValidationError (with compose's stderr) unless ``docker compose config`` accepts it."""
    command = ["docker", "compose", "-f", str(path), "config", "--quiet"]
    completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    if completed.returncode != 0:
        raise ComposeValidationError(f"docker compose rejected {path}: {completed.stderr.strip()}")
