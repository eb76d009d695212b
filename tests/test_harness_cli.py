"""The CLI's commands that need no Docker engine: help, render (both layouts), and clear errors."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.compose import COURSE_DEFAULT_BET, ComposeSpec, render


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


def test_render_course_layout_is_what_the_drop_in_writes(tmp_path: Path, capsys):
    output = tmp_path / "docker-compose-dev.yaml"
    assert main(["render", "--course-layout", "--clients", "2", "-o", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == render(ComposeSpec(clients=2, course_layout=True))
    assert capsys.readouterr().out == f"wrote {output}: server and 2 clients\n"
    assert main(["render", "--course-layout", "--clients", "1", "-o", "-"]) == 0
    assert capsys.readouterr().out == render(ComposeSpec(clients=1, course_layout=True))


def test_render_course_layout_takes_the_same_options(tmp_path: Path):
    output = tmp_path / "compose.yaml"
    options = ["--project", "mine", "--data", "agencies", "--server-image", "s:2", "--client-image", "c:2"]
    assert main(["render", "--course-layout", "--clients", "1", "-o", str(output), *options]) == 0
    document = yaml.safe_load(output.read_text())
    assert document["name"] == "mine"
    client = document["services"]["client1"]
    assert (client["image"], document["services"]["server"]["image"]) == ("c:2", "s:2")
    assert {m["target"]: m["source"] for m in client["volumes"]}["/data"] == "./agencies"  # relative to the file
    assert client["environment"] == {"CLI_ID": "1", "CLI_DATA_PATH": "/data/agency-1.csv"} | COURSE_DEFAULT_BET


def test_render_harness_layout_defaults(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        main(["render", "--clients", "1", "-o", "compose.yaml", "--server-image", "s:1", "--client-image", "c:1"]) == 0
    )
    document = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    assert document["name"] == "lottery"
    assert "container_name" not in document["services"]["client1"]
    server_mounts = {m["target"]: m["source"] for m in document["services"]["server"]["volumes"]}
    assert server_mounts == {
        "/storage": str(tmp_path / ".data" / "storage"),
        "/app/server/config.ini": str(tmp_path / "server" / "config.ini"),
    }


@pytest.mark.parametrize("arguments", [["--clients", "x", "-o", "out.yaml"], ["--clients", "1"]])
def test_render_course_layout_refuses_what_argparse_refuses(tmp_path: Path, arguments: list[str], monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--course-layout", *arguments])
    assert exit_info.value.code == 2
    assert "usage: harness render" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("clients", ["-1", "501"])
def test_render_course_layout_refuses_a_count_out_of_range(tmp_path: Path, clients: str, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["render", "--course-layout", "--clients", clients, "-o", "out.yaml"]) == 2
    assert capsys.readouterr().err == f"harness: error: clients must be in 0..500, got {clients}\n"
    assert list(tmp_path.iterdir()) == []


def test_render_into_a_folder_is_a_usage_error(tmp_path: Path, capsys):
    assert main(["render", "--course-layout", "--clients", "1", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("harness: error: [Errno 21] Is a directory")


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
