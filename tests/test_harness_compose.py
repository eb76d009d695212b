"""harness.compose: rendering, escaping, refusals (no containers). The command line that renders
is tested in test_harness_cli.py, generar-compose.sh in test_generar_compose.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from harness import compose
from harness.compose import (
    COURSE_DEFAULT_BET,
    ComposeSpec,
    ComposeValidationError,
    render,
    services,
    validate_with_docker,
    write,
    yaml_quote,
)

RUN_LABELS = {"lottery-harness.run": "run-42", "lottery-harness.scenario": "smoke"}

NASTY_VALUES = [
    'a "quoted" value',
    "key: value # not a comment",
    "${HOME} and $USER and $$ and $",
    "line1\nline2\r\n\ttab",
    "ünïcødé 日本 𝄞",
    "\u2028line separator\x85next line\x7fdelete\ufeffbom",
    "- [not, a, list]",
    "{not: a map}",
    "'single' & *alias !tag %directive @at `tick`",
    "\\back\\slash\\",
    "yes",
    "null",
    "~",
    "0x10",
    "",
    " leading and trailing ",
    "--- \n...\n",
]


@pytest.fixture(scope="module")
def docker_compose() -> None:
    """Skip the test, saying why, unless ``docker compose version`` works here (asked once per module,
    only when a test needs it: collecting the tests runs nothing)."""
    if shutil.which("docker") is None:
        pytest.skip("docker compose unavailable: no `docker` command on PATH")
    try:
        result = subprocess.run(["docker", "compose", "version"], check=False, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"docker compose unavailable: `docker compose version` failed: {exc}")
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        pytest.skip(f"docker compose unavailable: `docker compose version` says: {detail}")


needs_docker_compose = pytest.mark.usefixtures("docker_compose")


def harness_spec(tmp_path: Path, clients: int = 3, **overrides: Any) -> ComposeSpec:
    values: dict[str, Any] = {
        "clients": clients,
        "project": "lottery-run-42",
        "server_image": "lottery-server:test",
        "client_image": "lottery-client:test",
        "data_dir": tmp_path / "data",
        "storage_dir": tmp_path / "storage",
        "server_config": tmp_path / "server.ini",
        "client_config": tmp_path / "client.yaml",
        "labels": dict(RUN_LABELS),
    }
    return ComposeSpec(**(values | overrides))


def load(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def unescape_compose(value: str) -> str:
    return value.replace("$$", "$")


def mounts_by_target(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mount["target"]: mount for mount in service["volumes"]}


# -- harness layout ---------------------------------------------------------------------


@pytest.mark.parametrize("clients", [0, 1, 5, 50])
def test_renders_server_and_n_clients(tmp_path: Path, clients: int) -> None:
    document = load(render(harness_spec(tmp_path, clients)))
    expected = ["server", *(f"client{i}" for i in range(1, clients + 1))]
    assert list(document["services"]) == expected == services(harness_spec(tmp_path, clients))
    assert document["name"] == "lottery-run-42"
    assert list(document["networks"]) == ["lottery"]
    network = document["networks"]["lottery"]
    assert network["driver"] == "bridge" and "ipam" not in network
    assert network["labels"] == RUN_LABELS
    for name, service in document["services"].items():
        assert service["labels"] == RUN_LABELS, name
        assert service["networks"] == ["lottery"]
        for forbidden in ("container_name", "ports", "restart", "user"):
            assert forbidden not in service, (name, forbidden)


def test_server_service(tmp_path: Path) -> None:
    server = load(render(harness_spec(tmp_path, 3)))["services"]["server"]
    assert server["image"] == "lottery-server:test"
    assert server["environment"] == {"AGENCIES": "3", "STORAGE_PATH": "/storage/bets.csv"}
    mounts = mounts_by_target(server)
    assert set(mounts) == {"/storage", "/app/server/config.ini"}
    assert mounts["/storage"] | {} == {
        "type": "bind",
        "source": str(tmp_path / "storage"),
        "target": "/storage",
        "read_only": False,
        "bind": {"create_host_path": True},
    }
    assert mounts["/app/server/config.ini"]["source"] == str(tmp_path / "server.ini")
    assert mounts["/app/server/config.ini"]["read_only"] is True
    assert "depends_on" not in server


def test_client_services(tmp_path: Path) -> None:
    spec = harness_spec(
        tmp_path,
        5,
        client_env={"LOG_LEVEL": "DEBUG", "BATCH_MAX_AMOUNT": "10"},
        per_client_env={3: {"BATCH_MAX_AMOUNT": "1", "NOMBRE": "Ana"}},
        user="1000:1000",
    )
    document = load(render(spec))
    assert document["services"]["server"]["user"] == "1000:1000"
    for number in range(1, 6):
        client = document["services"][f"client{number}"]
        assert client["image"] == "lottery-client:test"
        assert client["depends_on"] == ["server"]
        assert client["user"] == "1000:1000"
        expected_env = {
            "CLI_ID": str(number),
            "CLI_DATA_PATH": f"/data/agency-{number}.csv",
            "LOG_LEVEL": "DEBUG",
            "BATCH_MAX_AMOUNT": "1" if number == 3 else "10",
        }
        if number == 3:
            expected_env["NOMBRE"] = "Ana"
        assert client["environment"] == expected_env
        mounts = mounts_by_target(client)
        assert set(mounts) == {"/data", "/app/client/config.yaml"}
        assert all(mount["read_only"] is True for mount in mounts.values())
        assert mounts["/data"]["source"] == str(tmp_path / "data")


def test_server_env_overrides_the_defaults(tmp_path: Path) -> None:
    spec = harness_spec(tmp_path, 2, server_env={"AGENCIES": "5", "WINNERS_HOLD": "3"})
    server = load(render(spec))["services"]["server"]
    assert server["environment"] == {"AGENCIES": "5", "STORAGE_PATH": "/storage/bets.csv", "WINNERS_HOLD": "3"}


def test_configs_may_be_left_to_the_images(tmp_path: Path) -> None:
    document = load(render(harness_spec(tmp_path, 1, server_config=None, client_config=None)))
    assert set(mounts_by_target(document["services"]["server"])) == {"/storage"}
    assert set(mounts_by_target(document["services"]["client1"])) == {"/data"}


def test_run_label_defaults_to_the_project(tmp_path: Path) -> None:
    document = load(render(harness_spec(tmp_path, 1, labels={})))
    assert document["services"]["client1"]["labels"] == {"lottery-harness.run": "lottery-run-42"}


def test_relative_paths_stay_relative_to_the_compose_file(tmp_path: Path) -> None:
    spec = harness_spec(tmp_path, 1, data_dir=Path("data"), storage_dir=Path("../store"), client_config=None)
    document = load(render(spec))
    assert mounts_by_target(document["services"]["client1"])["/data"]["source"] == "./data"
    assert mounts_by_target(document["services"]["server"])["/storage"]["source"] == "../store"


# -- escaping ---------------------------------------------------------------------------


def nasty_spec(tmp_path: Path) -> ComposeSpec:
    environment = {f"VALUE_{index}": value for index, value in enumerate(NASTY_VALUES)}
    return harness_spec(
        tmp_path,
        2,
        server_env=environment,
        client_env=environment,
        per_client_env={2: {"NOMBRE": 'José "Pepe", Jr. # ${X}'}},
        labels={"lottery-harness.run": "run: 1 # ${RUN}", "note": "line\nbreak 'and' \"quotes\""},
        data_dir=tmp_path / 'data "dir": # ${HOME}' / "ñandú\nnewline",
        server_config=tmp_path / "it's: a #config.ini",
        server_image="registry.local:5000/lottery-server:${TAG}",
    )


def test_nasty_values_survive_a_yaml_round_trip(tmp_path: Path) -> None:
    spec = nasty_spec(tmp_path)
    document = load(render(spec))
    for name in ("server", "client1", "client2"):
        environment = document["services"][name]["environment"]
        for key, value in spec.server_env.items():
            assert unescape_compose(environment[key]) == value, (name, key)
    assert (
        unescape_compose(document["services"]["client2"]["environment"]["NOMBRE"]) == spec.per_client_env[2]["NOMBRE"]
    )
    labels = {key: unescape_compose(value) for key, value in document["networks"]["lottery"]["labels"].items()}
    assert labels == spec.labels
    data_mount = mounts_by_target(document["services"]["client1"])["/data"]
    assert unescape_compose(data_mount["source"]) == str(spec.data_dir)
    config_mount = mounts_by_target(document["services"]["server"])["/app/server/config.ini"]
    assert unescape_compose(config_mount["source"]) == str(spec.server_config)
    assert unescape_compose(document["services"]["server"]["image"]) == spec.server_image


def test_dollars_are_doubled_for_compose(tmp_path: Path) -> None:
    environment = load(render(harness_spec(tmp_path, 0, server_env={"X": "${HOME}$$"})))["services"]["server"][
        "environment"
    ]
    assert environment["X"] == "$${HOME}$$$$"


@pytest.mark.parametrize("value", NASTY_VALUES)
def test_yaml_quote_is_one_line_and_exact(value: str) -> None:
    quoted = yaml_quote(value)
    assert "\n" not in quoted and "\r" not in quoted and "\u2028" not in quoted and "\x85" not in quoted
    assert yaml.safe_load(f"key: {quoted}") == {"key": value.replace("$", "$$")}


def test_yaml_quote_refuses_what_is_not_text() -> None:
    with pytest.raises(TypeError):
        yaml_quote(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unicode"):
        yaml_quote("lone \ud800 surrogate")


def test_the_template_refuses_unquoted_strings() -> None:
    environment = compose._environment()
    with pytest.raises(jinja2.TemplateError, match="unquoted"):
        environment.from_string("image: {{ image }}").render(image="x")
    assert environment.from_string("n: {{ n }} b: {{ b }}").render(n=3, b=True) == "n: 3 b: true"
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ missing | q }}").render()


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"clients": -1}, "clients"),
        ({"clients": 501}, "clients"),
        ({"clients": True}, "clients"),
        ({"clients": "3"}, "clients"),
        ({"project": "Lottery"}, "project"),
        ({"project": "-lottery"}, "project"),
        ({"project": "lottery run"}, "project"),
        ({"project": ""}, "project"),
        ({"project": "a\nb"}, "project"),
        ({"server_env": {"BAD-KEY": "x"}}, "variable name"),
        ({"server_env": {"1X": "x"}}, "variable name"),
        ({"client_env": {"A B": "x"}}, "variable name"),
        ({"client_env": {"X": None}}, "must be a string"),
        ({"per_client_env": {1: {"X=Y": "x"}}}, "variable name"),
        ({"per_client_env": {4: {"X": "x"}}}, "outside"),
        ({"per_client_env": {0: {"X": "x"}}}, "outside"),
        ({"labels": {"bad key": "x"}}, "label key"),
        ({"labels": {"": "x"}}, "label key"),
        ({"labels": {"trailing.": "x"}}, "label key"),
        ({"labels": {"com.docker.compose.project": "x"}}, "reserved"),
        ({"labels": {"ok": 3}}, "must be a string"),
        ({"server_image": ""}, "server_image"),
        ({"client_image": "client latest"}, "client_image"),
        ({"user": "1000:1000\nprivileged: true"}, "user"),
        ({"data_dir": Path("nul\x00byte")}, "NUL"),
    ],
)
def test_refuses_unsafe_input(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    spec = harness_spec(tmp_path, **({"clients": 3} | overrides))
    with pytest.raises(ValueError, match=message):
        render(spec)


def test_write_creates_parents_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "compose.yaml"
    assert write(harness_spec(tmp_path, 2), target) == target
    assert load(target.read_text(encoding="utf-8"))["services"]["client2"]["environment"]["CLI_ID"] == "2"


# -- course layout ----------------------------------------------------------------------


def test_course_layout(tmp_path: Path) -> None:
    document = load(render(ComposeSpec(clients=3, course_layout=True)))
    assert document["name"] == "tp0"
    assert list(document["services"]) == ["server", "client1", "client2", "client3"]
    for name, service in document["services"].items():
        assert service["container_name"] == name
        assert service["networks"] == ["testing_net"]
        assert service["labels"] == {"lottery-harness.run": "tp0"}
    assert document["networks"]["testing_net"]["ipam"]["config"] == [{"subnet": "172.25.125.0/24"}]
    server = document["services"]["server"]
    assert server["image"] == "server:latest"
    assert {m["target"]: m["source"] for m in server["volumes"]} == {"/app/server/config.ini": "./server/config.ini"}
    assert server["environment"]["STORAGE_PATH"] == "/storage/bets.csv"  # in the container: no earlier run's store
    client = document["services"]["client2"]
    assert client["image"] == "client:latest"
    assert {m["target"]: m["source"] for m in client["volumes"]} == {
        "/data": "./.data",
        "/app/client/config.yaml": "./client/config.yaml",
    }
    assert client["environment"] == {"CLI_ID": "2", "CLI_DATA_PATH": "/data/agency-2.csv"} | COURSE_DEFAULT_BET
    assert all(mount["bind"]["create_host_path"] for mount in client["volumes"] if mount["target"] == "/data")


# -- docker compose config --------------------------------------------------------------


@needs_docker_compose
@pytest.mark.parametrize("clients", [0, 1, 5, 50])
def test_docker_compose_accepts_rendered_files(tmp_path: Path, clients: int) -> None:
    validate_with_docker(write(harness_spec(tmp_path, clients), tmp_path / "compose.yaml"))


@needs_docker_compose
def test_docker_compose_accepts_the_course_layout(tmp_path: Path) -> None:
    validate_with_docker(write(ComposeSpec(clients=5, course_layout=True), tmp_path / "docker-compose-dev.yaml"))


@needs_docker_compose
def test_docker_compose_reads_nasty_values_back_exactly(tmp_path: Path) -> None:
    spec = nasty_spec(tmp_path)
    path = write(spec, tmp_path / "compose.yaml")
    validate_with_docker(path)
    command = ["docker", "compose", "-f", str(path), "config", "--format", "json"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    environment = config["services"]["server"]["environment"]
    for key, value in spec.server_env.items():
        assert unescape_compose(environment[key]) == value, key
    assert unescape_compose(config["services"]["client1"]["volumes"][0]["source"]) == str(spec.data_dir)
    assert {k: unescape_compose(v) for k, v in config["services"]["server"]["labels"].items()} == spec.labels


@needs_docker_compose
def test_validate_with_docker_reports_compose_errors(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  server:\n    image: x\n    depends_on: [nowhere]\n")
    with pytest.raises(ComposeValidationError, match="nowhere"):
        validate_with_docker(broken)
