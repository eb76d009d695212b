"""ej3 on a probe script written the way students write theirs: it manages compose itself (`ps`,
`up -d server` when it sees no server, `down` at the end, naming its own project) and first runs a
public image that this machine does not have. The check judges it by its verdicts alone: the three
probes pass, the image is provided offline, and the other project the script names is still running
afterwards (its `down` reached no one).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from docker.errors import ImageNotFound

from harness.check.context import CheckContext
from harness.check.runner import ALL_CHECKS, run_check
from harness.check.sut import Sut, copy_tree
from harness.compose_command import run_compose
from harness.engine import docker_client
from harness.images import REPO_ROOT, ensure_base_image
from harness.labels import COMPOSE_PROJECT_LABEL, LABEL

pytestmark = [pytest.mark.scenario, pytest.mark.contract]

PROBE = """#!/bin/bash
if ! docker compose -p {project} ps | grep -q server; then
    docker compose -p {project} up -d server
fi
docker run --rm busybox:{tag} true || {{ echo "action: test_echo_server | result: fail"; exit 1; }}
./probe-core.sh
status=$?
docker compose -p {project} down -t 0
exit $status
"""


@pytest.fixture
def other_project(tmp_path: Path) -> Iterator[str]:
    """A compose project of someone else's on the engine: one running service."""
    project = f"tp0-someone-{uuid.uuid4().hex[:8]}"
    service = {"image": ensure_base_image().tag, "command": ["sleep", "600"], "labels": {LABEL: "1"}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump({"name": project, "services": {"server": service}}))
    compose = ["docker", "compose", "-p", project, "-f", str(tmp_path / "other.yaml")]
    run_compose([*compose, "up", "--detach"], tmp_path)
    try:
        yield project
    finally:
        run_compose([*compose, "down", "--timeout", "0"], tmp_path)


def test_a_probe_script_that_runs_compose_and_a_missing_image_is_judged_fairly(
    tmp_path: Path, other_project: str, check_context: Callable[[Sut, str], CheckContext]
) -> None:
    tag = f"probe-test-{uuid.uuid4().hex[:8]}"
    tree = copy_tree(REPO_ROOT, tmp_path / "tp0")
    (tree / "validar-echo-server.sh").rename(tree / "probe-core.sh")
    (tree / "validar-echo-server.sh").write_text(PROBE.format(project=other_project, tag=tag), encoding="utf-8")
    (tree / "validar-echo-server.sh").chmod(0o755)
    (check,) = [c for c in ALL_CHECKS if c.key == "ej3/probe script"]
    try:
        verdicts = run_check(check, check_context(Sut.at(tree), "ej3"))
        report = "\n".join(v.message() for v in verdicts)
        assert [v.check for v in verdicts if not v.passed] == [], report
        probes = {"probe: running server", "probe: garbage answer", "probe: stopped server"}
        assert {v.check for v in verdicts} >= probes
        assert docker_client().images.get(f"busybox:{tag}")  # provided before the script ran
        (survivor,) = docker_client().containers.list(filters={"label": f"{COMPOSE_PROJECT_LABEL}={other_project}"})
        assert survivor.status == "running"  # the script's `down` named it and reached no one
    finally:
        with contextlib.suppress(ImageNotFound):
            docker_client().images.remove(f"busybox:{tag}")
