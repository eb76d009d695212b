"""``python -m client`` with unusable settings: exit 2 and exactly one error line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ClientProcess

GOOD = {"CLI_ID": "1", "CLI_SERVER_ADDRESS": "127.0.0.1:9", "CLI_CONNECT_DEADLINE": "0.1"}


def run_to_exit(env: dict[str, str]) -> tuple[int, list[str], list[str]]:
    with ClientProcess(env) as client:
        code = client.wait()
        return code, list(client.lines), list(client.stdout_lines)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"CLI_ID": ""}, "missing setting 'id'"),
        ({"CLI_ID": "abc"}, "id must be a positive integer"),
        ({"CLI_ID": "-3"}, "id must be a positive integer"),
        ({"CLI_SERVER_ADDRESS": "no-port"}, "host:port"),
        ({"CLI_SERVER_ADDRESS": "host:99999"}, "port must be in"),
        ({"CLI_BATCH_MAXAMOUNT": "0"}, "batch.maxAmount must be a positive integer"),
        ({"CLI_LOG_LEVEL": "LOUD"}, "log.level must be one of"),
        ({"CLI_READ_TIMEOUT": "0"}, "timeout.read must be a positive number"),
    ],
)
def test_bad_setting_exits_2_with_one_line(agency_file: Path, overrides: dict[str, str], message: str) -> None:
    code, lines, stdout = run_to_exit({**GOOD, "CLI_DATA_PATH": str(agency_file), **overrides})
    assert code == 2
    assert len(lines) == 1, lines
    assert "action: config | result: fail | error: " in lines[0]
    assert message in lines[0]
    assert stdout == []


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("server: [unclosed\n  a: : b\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_unreadable_yaml_exits_2(tmp_path: Path, agency_file: Path, yaml_text: str, message: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    code, lines, _ = run_to_exit({**GOOD, "CLI_CONFIG": str(config), "CLI_DATA_PATH": str(agency_file)})
    assert code == 2
    assert len(lines) == 1, lines
    assert message in lines[0]


def test_missing_config_file_exits_2(tmp_path: Path, agency_file: Path) -> None:
    env = {**GOOD, "CLI_CONFIG": str(tmp_path / "missing.yaml"), "CLI_DATA_PATH": str(agency_file)}
    code, lines, _ = run_to_exit(env)
    assert code == 2
    assert len(lines) == 1 and "does not exist" in lines[0], lines


def test_no_agency_file_and_no_env_bet_exits_2(tmp_path: Path) -> None:
    code, lines, _ = run_to_exit({**GOOD, "CLI_DATA_PATH": str(tmp_path / "none.csv")})
    assert code == 2
    assert len(lines) == 1, lines
    assert "no agency file at" in lines[0] and "NOMBRE" in lines[0]


def test_incomplete_env_bet_exits_2(tmp_path: Path) -> None:
    env = {**GOOD, "CLI_DATA_PATH": str(tmp_path / "none.csv"), "NOMBRE": "Ana", "APELLIDO": "Ruíz"}
    code, lines, _ = run_to_exit(env)
    assert code == 2
    assert len(lines) == 1, lines
    assert "lacks DOCUMENTO, NACIMIENTO, NUMERO" in lines[0]


def test_agency_path_that_is_a_directory_exits_2(tmp_path: Path) -> None:
    code, lines, _ = run_to_exit({**GOOD, "CLI_DATA_PATH": str(tmp_path)})
    assert code == 2
    assert len(lines) == 1 and "cannot open agency file" in lines[0], lines
