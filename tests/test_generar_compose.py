"""generar-compose.sh, the course's drop-in: what it writes, what it refuses, and that a fresh
clone runs it with Python, Jinja2 and PyYAML only (no Docker engine, no other package)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.compose import ComposeSpec, render

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERAR_COMPOSE = REPO_ROOT / "generar-compose.sh"
# What a fresh clone's python3 lacks: the harness's other dependencies. The course layout must not
# need any of them (the `harness render` command imports them only for the harness's layout).
NOT_IN_A_FRESH_CLONE = ("rich", "docker", "testcontainers", "requests", "pytest")
PYTHON_WITHOUT_THEM = f"""#!{sys.executable}
import importlib.abc, runpy, sys

BLOCKED = {NOT_IN_A_FRESH_CLONE!r}


class FreshClone(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (a fresh clone has Jinja2 and PyYAML only)")
        return None


sys.meta_path.insert(0, FreshClone())
if sys.argv[1:2] != ["-m"]:
    sys.exit(f"this stand-in python3 runs `-m MODULE ...` only, got {{sys.argv[1:]}}")
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def run_generar_compose(
    *arguments: str, cwd: Path, script: Path = GENERAR_COMPOSE, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *arguments], cwd=cwd, check=False, capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize("clients", [0, 1, 5])
def test_writes_the_course_layout_of_harness_render(tmp_path: Path, clients: int) -> None:
    assert GENERAR_COMPOSE.stat().st_mode & 0o111
    result = run_generar_compose("docker-compose-dev.yaml", str(clients), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote docker-compose-dev.yaml: server and {clients} clients\n"
    written = (tmp_path / "docker-compose-dev.yaml").read_text(encoding="utf-8")
    assert written == render(ComposeSpec(clients=clients, course_layout=True))
    document = yaml.safe_load(written)
    assert [service["container_name"] for service in document["services"].values()] == [
        "server",
        *(f"client{number}" for number in range(1, clients + 1)),
    ]
    assert "testing_net" in document["networks"]


@pytest.mark.parametrize(
    "arguments",
    [
        (),
        ("only-output",),
        ("out.yaml", "-1"),
        ("out.yaml", "three"),
        ("out.yaml", "1.5"),
        ("out.yaml", ""),
        ("", "3"),
        ("out.yaml", "3", "extra"),
        ("out.yaml", "501"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, arguments: tuple[str, ...]) -> None:
    result = run_generar_compose(*arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.rstrip().splitlines()[-1].startswith(f"usage: {GENERAR_COMPOSE} OUTPUT_FILE NUMBER_OF_CLIENTS")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_renderers_refusals_say_why_then_how_to_call_it(tmp_path: Path) -> None:
    too_many = run_generar_compose("out.yaml", "501", cwd=tmp_path)
    assert too_many.stderr.splitlines()[0] == "harness: error: clients must be in 0..500, got 501"
    (tmp_path / "a-folder").mkdir()
    unwritable = run_generar_compose("a-folder", "2", cwd=tmp_path)
    assert unwritable.returncode == 2
    assert "Is a directory" in unwritable.stderr.splitlines()[0] and "usage:" in unwritable.stderr


def test_a_fresh_clone_needs_only_python_jinja2_and_pyyaml(tmp_path: Path) -> None:
    clone = tmp_path / "clone"  # the script and the harness, no .venv: the script takes python3 from PATH
    clone.mkdir()
    shutil.copy2(GENERAR_COMPOSE, clone / GENERAR_COMPOSE.name)
    shutil.copytree(REPO_ROOT / "harness", clone / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shims = tmp_path / "bin"
    shims.mkdir()
    python3 = shims / "python3"
    python3.write_text(PYTHON_WITHOUT_THEM, encoding="utf-8")
    python3.chmod(0o755)
    environment = {**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}"}
    environment.pop("PYTHONPATH", None)

    result = run_generar_compose(
        "docker-compose-dev.yaml", "3", cwd=clone, script=clone / GENERAR_COMPOSE.name, env=environment
    )

    assert result.returncode == 0, result.stderr
    assert (clone / "docker-compose-dev.yaml").read_text(encoding="utf-8") == render(
        ComposeSpec(clients=3, course_layout=True)
    )
    # The stand-in really blocks: the harness's own layout needs the docker SDK and says so.
    refused = subprocess.run(
        [str(python3), "-m", "harness", "render", "--clients", "1", "-o", "-"],
        cwd=clone,
        env={**environment, "PYTHONPATH": str(clone)},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "a fresh clone has Jinja2 and PyYAML only" in refused.stderr
