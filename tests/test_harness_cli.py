"""The CLI's commands that need no Docker engine: help, render, and clear errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60, check=False
    )


COMMANDS = ("base-image", "images", "render", "up", "logs", "down", "run", "probe")


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    # argparse lists each sub-command at the start of a line, its help text after it or on the next line
    listed = set(re.findall(r"^    ([a-z-]+)(?: +\S|$)", out, flags=re.M))
    assert set(COMMANDS) <= listed, out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: harness {command} ")


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


def test_render_writes_a_compose_file_for_n_clients(tmp_path: Path, capsys):
    output = tmp_path / "compose.yaml"
    assert main(["render", "--clients", "3", "-o", str(output), "--server-image", "s:1", "--client-image", "c:1"]) == 0
    services = yaml.safe_load(output.read_text())["services"]
    assert set(services) == {"server", "client1", "client2", "client3"}
    assert {service["image"] for service in services.values()} == {"s:1", "c:1"}


def test_render_without_images_nor_engine_says_how_to_name_them(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = run_cli("render", "--clients", "1", "-o", str(tmp_path / "x.yaml"))
    assert result.returncode == 2, result.stderr
    assert "no Docker engine answers" in result.stderr and "--server-image" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_render_refuses_a_negative_client_count_in_one_line(tmp_path: Path):
    result = run_cli("render", "--clients", "-1", "-o", str(tmp_path / "x.yaml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "harness: error:" in result.stderr


def test_run_refuses_missing_data_folder_in_one_line(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    assert main(["run", "--clients", "2", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such file or folder" in err
    assert len(err.strip().splitlines()) == 1
