"""harness check without Docker: their compose file made safe, their generator's failures, the strict
line reading, the scratch copies, the agency files and config edits, the docker shim."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.check import safecompose
from harness.check.cli import Progress, tree_sources
from harness.check.dockershim import SHIM_ENV, install_shim
from harness.check.ej3 import ProbeOutcome, probe_problem
from harness.check.inputs import edit_client_config, edit_server_config, write_agency
from harness.check.lines import read_event
from harness.check.runner import select
from harness.check.safecompose import generate, make_safe, missing_tools, release_subnets, shell_command
from harness.check.scriptimages import images_run_by
from harness.check.sut import Sut, exercise_branches, tree_digest
from harness.data import WINNING_NUMBER
from harness.standins import StandIn
from harness.verdicts import Verdict

LABELS = {"lottery-harness.run": "r1", "lottery-harness": "1"}
IMAGES = {"server": "lottery-harness-sut/server:abc", "client": "lottery-harness-sut/client:abc"}
COURSE_FILE: dict[str, Any] = {
    "name": "tp0",
    "services": {
        "server": {
            "container_name": "server",
            "image": "server:latest",
            "ports": ["12345:12345"],
            "volumes": ["./server/config.ini:/config.ini:ro"],
            "networks": ["testing_net"],
            "labels": ["course=1"],
        },
        "client1": {
            "container_name": "client1",
            "image": "client:latest",
            "build": {"context": "."},
            "env_file": "client.env",
            "volumes": [{"type": "bind", "source": "./.data/agency-1.csv", "target": "/data/agency.csv"}],
            "networks": ["testing_net"],
        },
        "helper": {"image": "client:latest"},
    },
    "networks": {
        "testing_net": {"name": "tp0_net", "ipam": {"driver": "default", "config": [{"subnet": "172.25.125.0/24"}]}}
    },
}


def _safe(tmp_path: Path, taken: set[ipaddress.IPv4Network]) -> safecompose.SafeCompose:
    safe = make_safe(
        COURSE_FILE, project="lottery-r1", labels=LABELS, tree=tmp_path, images=IMAGES, taken_subnets=taken
    )
    release_subnets(safe.subnets)
    return safe


def test_make_safe_removes_fixed_names_ports_and_points_at_the_built_images(tmp_path: Path) -> None:
    document = _safe(tmp_path, set()).document
    services = document["services"]
    assert document["name"] == "lottery-r1"
    assert all("container_name" not in spec and "ports" not in spec for spec in services.values())
    assert services["server"]["image"] == IMAGES["server"]
    assert services["client1"]["image"] == IMAGES["client"] and "build" not in services["client1"]
    assert services["helper"]["image"] == IMAGES["client"]  # same image as a client: the built one
    assert services["server"]["labels"] == {"course": "1", **LABELS}
    assert all(spec["labels"].items() >= LABELS.items() for spec in services.values())
    assert "name" not in document["networks"]["testing_net"]
    assert document["networks"]["testing_net"]["labels"] == LABELS
    assert document["networks"]["default"]["labels"] == LABELS  # `helper` joins compose's default network
    assert COURSE_FILE["services"]["server"]["container_name"] == "server"  # the input is left alone


def test_make_safe_resolves_relative_host_paths_against_the_copy(tmp_path: Path) -> None:
    services = _safe(tmp_path, set()).document["services"]
    assert services["server"]["volumes"] == [f"{tmp_path / 'server/config.ini'}:/config.ini:ro"]
    assert services["client1"]["volumes"][0]["source"] == str(tmp_path / ".data/agency-1.csv")
    assert services["client1"]["env_file"] == str(tmp_path / "client.env")


def test_make_safe_notes_a_mount_of_a_file_the_tree_does_not_have(tmp_path: Path) -> None:
    """Their compose mounts .data/agency-1.csv; absent, Docker would mount an empty directory."""
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "config.ini").write_text("[DEFAULT]\n")
    notes = _safe(tmp_path, set()).notes
    assert (
        "client1: mounts .data/agency-1.csv, which does not exist here (Docker mounts an empty directory for it)"
        in notes
    )
    assert not any(note.startswith("server: mounts") for note in notes)
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "agency-1.csv").write_text("a,b,1,2000-01-01,1\n")
    assert not any("does not exist" in note for note in _safe(tmp_path, set()).notes)


def test_make_safe_moves_a_fixed_subnet_to_a_free_one_taken_or_not(tmp_path: Path) -> None:
    """The course's own stack (172.25.125.0/24) can start while a check runs, and the reverse."""
    for taken in (set(), {ipaddress.IPv4Network("172.25.0.0/16"), ipaddress.IPv4Network("10.128.0.0/10")}):
        moved = _safe(tmp_path, taken)
        try:
            subnet = ipaddress.IPv4Network(moved.document["networks"]["testing_net"]["ipam"]["config"][0]["subnet"])
            assert subnet.prefixlen == 24 and subnet.subnet_of(safecompose.SPARE_RANGE)
            assert not any(subnet.overlaps(other) for other in taken)  # a subnet in use is never handed out
            assert any("fixed subnet 172.25.125.0/24 moved to" in note for note in moved.notes)
        finally:
            release_subnets(moved.subnets)


def test_two_files_of_one_process_never_get_the_same_subnet(tmp_path: Path) -> None:
    first = make_safe(COURSE_FILE, project="a", labels=LABELS, tree=tmp_path, images=IMAGES, taken_subnets=set())
    second = make_safe(COURSE_FILE, project="b", labels=LABELS, tree=tmp_path, images=IMAGES, taken_subnets=set())
    try:
        assert not first.subnets[0].overlaps(second.subnets[0])
    finally:
        release_subnets(first.subnets + second.subnets)


def _generator(tree: Path, body: str) -> None:
    tree.mkdir(parents=True, exist_ok=True)
    script = tree / "generar-compose.sh"
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)


def test_a_failing_generator_is_a_result_with_its_output(tmp_path: Path) -> None:
    _generator(tmp_path, 'echo "no such template" >&2; exit 3')
    generated = generate(tmp_path, 3)
    assert not generated.ok and generated.exit_code == 3
    assert "exited 3" in (generated.error or "") and "no such template" in generated.output


def test_a_generator_that_writes_invalid_yaml_or_nothing_fails_clearly(tmp_path: Path) -> None:
    _generator(tmp_path / "bad", 'printf "services: [unclosed\\n" > "$1"')
    assert "not valid YAML" in (generate(tmp_path / "bad", 1).error or "")
    _generator(tmp_path / "none", "exit 0")
    assert "wrote no" in (generate(tmp_path / "none", 1).error or "")
    _generator(tmp_path / "list", 'echo "- a" > "$1"')
    assert "no `services` mapping" in (generate(tmp_path / "list", 1).error or "")
    assert "missing" in (generate(tmp_path / "empty", 1).error or "")


def test_a_generator_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safecompose, "GENERATOR_TIMEOUT", 1)
    _generator(tmp_path, "exec sleep 30")
    generated = generate(tmp_path, 1)
    assert generated.exit_code is None and "did not finish within 1s" in (generated.error or "")


def test_the_generator_gets_its_arguments_and_runs_in_the_copy(tmp_path: Path) -> None:
    _generator(tmp_path, 'printf "services:\\n  server: {image: s}\\n  n: {image: \'%s\'}\\n" "$2" > "$1"; pwd')
    generated = generate(tmp_path, 7)
    assert generated.ok and generated.document is not None
    assert generated.document["services"]["n"]["image"] == "7"
    assert generated.output.strip() == str(tmp_path)


def test_lines_are_read_after_action_and_strictly() -> None:
    event, broken = read_event(
        'time="2026-12-01 10:00:00" level=info msg="action: apuesta_enviada | result: success | dni: 1 | numero: 7"',
        "client1",
    )
    assert broken is None and event is not None
    assert (event.action, event.result, event.fields) == ("apuesta_enviada", "success", {"dni": "1", "numero": "7"})
    event, broken = read_event(
        "2026-12-01 10:00:00,123 INFO     action: apuesta_recibida | result: sucess | cantidad: 3", "server"
    )
    assert event is None and broken is not None and "sucess" in broken
    assert read_event("Traceback (most recent call last):", "server") == (None, None)
    assert read_event("action: x | cantidad: 3", "server")[1] is not None  # no result at all


def test_scratch_copies_take_the_exercise_branch_and_leave_the_repository_alone(tmp_path: Path) -> None:
    repository = tmp_path / "tp0"
    repository.mkdir()

    def git(*arguments: str) -> None:
        subprocess.run(["git", "-C", str(repository), *arguments], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (repository / "which").write_text("main\n")
    (repository / ".data").mkdir()
    (repository / ".data" / "agency-1.csv").write_text("a,b,1,2000-01-01,1\n")
    git("add", "which")
    git("commit", "-qm", "main")
    git("checkout", "-qb", "ej5")
    (repository / "which").write_text("ej5\n")
    git("commit", "-qam", "ej5")
    git("checkout", "-q", "main")
    (repository / "which").write_text("uncommitted\n")
    before = subprocess.run(["git", "-C", str(repository), "status", "--porcelain"], capture_output=True, text=True)

    sut = Sut.at(repository)
    with sut.scratch("ej5") as tree:
        assert (tree / "which").read_text() == "ej5\n"
        assert (tree / ".data").is_dir() and not list((tree / ".data").iterdir())
    assert not tree.exists()
    with sut.scratch("ej6") as tree:
        assert (tree / "which").read_text() == "uncommitted\n"
        assert not (tree / ".git").exists() and not list((tree / ".data").iterdir())
    after = subprocess.run(["git", "-C", str(repository), "status", "--porcelain"], capture_output=True, text=True)
    assert after.stdout == before.stdout
    worktrees = subprocess.run(["git", "-C", str(repository), "worktree", "list"], capture_output=True, text=True)
    assert len(worktrees.stdout.splitlines()) == 1
    with pytest.raises(Exception, match="no such ref"):
        Sut.at(repository, "nope")


def test_a_fresh_clone_is_checked_on_its_remote_tracking_branches_and_sut_ref_wins(tmp_path: Path) -> None:
    """A `git clone` of a TP0 has `origin/ej5`, no local `ej5`: ej5 must still be checked on it."""
    upstream, fork, clone = tmp_path / "upstream", tmp_path / "fork", tmp_path / "clone"

    def git(where: Path, *arguments: str) -> None:
        subprocess.run(["git", "-C", str(where), *arguments], check=True, capture_output=True)

    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "config", "user.email", "t@example.com")
    git(upstream, "config", "user.name", "t")
    for branch in ("main", "ej5"):
        if branch != "main":
            git(upstream, "checkout", "-qb", branch)
        (upstream / "which").write_text(f"{branch}\n")
        git(upstream, "add", "which")
        git(upstream, "commit", "-qm", branch)
    git(upstream, "checkout", "-q", "main")
    subprocess.run(["git", "clone", "-q", str(upstream), str(fork)], check=True)
    git(fork, "checkout", "-qb", "ej6")
    (fork / "which").write_text("ej6 of the fork\n")
    git(fork, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "ej6")
    subprocess.run(["git", "clone", "-q", str(upstream), str(clone)], check=True)
    git(clone, "remote", "add", "fork", str(fork))
    git(clone, "fetch", "-q", "fork")

    git(clone, "tag", "ej7", "origin/main")  # a tag is not a branch
    git(clone, "branch", "ej6", "origin/ej5")  # a local branch wins over the remote-tracking ones
    assert exercise_branches(clone) == {"ej5": "refs/remotes/origin/ej5", "ej6": "refs/heads/ej6"}
    git(clone, "branch", "-D", "ej6")
    assert exercise_branches(clone) == {"ej5": "refs/remotes/origin/ej5", "ej6": "refs/remotes/fork/ej6"}
    sut = Sut.at(clone)
    assert sut.source("ej5").describe() == "ref origin/ej5" and sut.source("ej7").describe() == "the checked-out tree"
    for exercise, content in (("ej5", "ej5\n"), ("ej6", "ej6 of the fork\n"), ("ej7", "main\n")):
        with sut.scratch(exercise) as tree:
            assert (tree / "which").read_text() == content, exercise
    pinned = Sut.at(clone, "main")  # --sut-ref: that ref for every exercise, branches or not
    with pinned.scratch("ej5") as tree:
        assert (tree / "which").read_text() == "main\n"
    checks = select(["ej5", "ej6", "ej7", "ej8"], None)
    assert (
        tree_sources(sut, checks)
        == "ej5 from ref origin/ej5; ej6 from ref fork/ej6; ej7, ej8 from the checked-out tree"
    )
    assert tree_sources(pinned, checks) == "ej5, ej6, ej7, ej8 from ref main"


def test_the_tree_digest_follows_the_sources_not_the_data(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "main.py").write_text("print(1)\n")
    first = tree_digest(tmp_path)
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "agency-1.csv").write_text("x\n")
    assert tree_digest(tmp_path) == first
    (tmp_path / "server" / "main.py").write_text("print(2)\n")
    assert tree_digest(tmp_path) != first


def test_agency_files_have_the_course_form_and_the_planted_winners(tmp_path: Path) -> None:
    written = write_agency(tmp_path, 3, 50, 4)
    raw = (tmp_path / "agency-3.csv").read_bytes()
    rows = raw.decode().split("\r\n")[:-1]
    assert raw.endswith(b"\r\n") and len(rows) == 50 and all(row.count(",") == 4 for row in rows)
    winners = [row.split(",")[2] for row in rows if row.split(",")[4] == str(WINNING_NUMBER)]
    assert sorted(winners) == sorted(written.winners) and len(winners) == 4
    long_row = write_agency(tmp_path, 4, 1, long_names=True)
    assert long_row.rows == 1 and len((tmp_path / "agency-4.csv").read_bytes()) > 400


def test_config_edits_change_only_the_named_keys(tmp_path: Path) -> None:
    (tmp_path / "client").mkdir()
    (tmp_path / "client" / "config.yaml").write_text("server:\n  address: server:12345\nbatch:\n  maxAmount: 5\n")
    edit_client_config(tmp_path, {"batch.maxAmount": 25, "loop.period": "100ms"})
    document = yaml.safe_load((tmp_path / "client" / "config.yaml").read_text())
    assert document == {"server": {"address": "server:12345"}, "batch": {"maxAmount": 25}, "loop": {"period": "100ms"}}
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "config.ini").write_text("[DEFAULT]\nSERVER_PORT = 12345\nLOGGING_LEVEL = INFO\n")
    edit_server_config(tmp_path, {"LOGGING_LEVEL": "ERROR", "NEW_KEY": "1"})
    text = (tmp_path / "server" / "config.ini").read_text()
    assert "LOGGING_LEVEL = ERROR" in text and "SERVER_PORT = 12345" in text and "NEW_KEY = 1" in text


def test_the_docker_shim_swaps_the_course_names_and_labels_what_it_starts(tmp_path: Path) -> None:
    fake = tmp_path / "real-docker"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    shim = install_shim(tmp_path / "bin") / "docker"
    settings = {
        "docker": str(fake),
        "names": {"server": "lottery-r1-server-1", "client:latest": "lottery-harness-sut/client:abc"},
        "network": "lottery-r1_testing_net",
        "labels": {"lottery-harness.run": "r1"},
        "compose": {"project": "lottery-r1", "file": "/work/r1/compose.yaml"},
    }
    environment = {**os.environ, SHIM_ENV: json.dumps(settings)}

    def run(*arguments: str) -> list[str]:
        completed = subprocess.run([str(shim), *arguments], env=environment, capture_output=True, text=True, check=True)
        return list(json.loads(completed.stdout))

    assert run("run", "--rm", "--network", "tp0_testing_net", "client:latest", "nc", "server", "12345") == [
        "run",
        "--label",
        "lottery-harness.run=r1",
        "--rm",
        "--network",
        "lottery-r1_testing_net",
        "lottery-harness-sut/client:abc",
        "nc",
        "lottery-r1-server-1",
        "12345",
    ]
    assert run("inspect", "--format", "{{.State.Running}}", "server") == [
        "inspect",
        "--format",
        "{{.State.Running}}",
        "lottery-r1-server-1",
    ]
    assert run("run", "--net=x", "busybox", "sh", "-c", "echo hi | nc server 1")[3] == "--net=lottery-r1_testing_net"
    assert run("network", "ls", "-q", "-f", "name=server") == ["network", "ls", "-q", "-f", "name=lottery-r1-server-1"]

    # `sudo docker ...` (their script may assume sudo): options dropped, the command through the shim
    sudo = shim.parent / "sudo"
    path = {**environment, "PATH": os.pathsep.join([str(shim.parent), environment.get("PATH", "")])}
    completed = subprocess.run(
        [str(sudo), "-E", "-u", "root", "docker", "inspect", "server"], env=path, capture_output=True, text=True
    )
    assert json.loads(completed.stdout) == ["inspect", "lottery-r1-server-1"], completed.stderr


def test_their_compose_commands_read_the_harness_cluster_and_never_change_it(tmp_path: Path) -> None:
    """Their script's `docker compose -f docker-compose-dev.yaml ...` names the course's project
    (`tp0`): reading commands go to the harness's cluster, `up`/`down`/`stop` are left out."""
    fake = tmp_path / "real-docker"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    folder = install_shim(tmp_path / "bin")
    settings = {
        "docker": str(fake),
        "names": {"server": "lottery-r1-server-1"},
        "network": "lottery-r1_testing_net",
        "labels": {"lottery-harness.run": "r1"},
        "compose": {"project": "lottery-r1", "file": "/work/r1/compose.yaml"},
    }
    environment = {**os.environ, SHIM_ENV: json.dumps(settings)}

    def run(command: str, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(folder / command), *arguments], env=environment, capture_output=True, text=True)

    cluster = ["compose", "-p", "lottery-r1", "-f", "/work/r1/compose.yaml"]
    assert json.loads(run("docker", "compose", "-f", "docker-compose-dev.yaml", "ps").stdout) == [*cluster, "ps"]
    exec_line = ["--file=dev.yaml", "--project-name", "tp0", "--ansi", "never", "exec", "-T", "server", "nc"]
    assert json.loads(run("docker", "compose", *exec_line).stdout) == [*cluster, "--ansi", "never", *exec_line[-4:]]
    assert json.loads(run("docker", "compose", "run", "--rm", "client1").stdout) == [
        *cluster,
        "run",
        "--label",
        "lottery-harness.run=r1",
        "--no-deps",  # never starts the server a probe stopped
        "--rm",
        "client1",
    ]
    assert json.loads(run("docker", "compose", "--version").stdout) == ["compose", "--version"]
    assert json.loads(run("docker-compose", "-f", "docker-compose-dev.yaml", "logs", "server").stdout) == [
        *cluster,
        "logs",
        "server",
    ]
    for changing in (["up", "-d", "server"], ["down", "-t", "0"], ["stop", "server"], ["rm", "-f"], ["events"]):
        for command, prefix in (("docker", ["compose"]), ("docker-compose", [])):
            completed = run(command, *prefix, "-f", "docker-compose-dev.yaml", *changing)
            assert (completed.returncode, completed.stdout) == (0, ""), (command, changing)
            assert "left out: the harness runs this cluster" in completed.stderr


def test_the_images_a_script_runs_are_read_from_its_docker_run_lines() -> None:
    script = """#!/bin/bash
docker compose -f docker-compose-dev.yaml up -d server  # no image here
docker run --rm --network tp0_testing_net alpine sh -c "$(cat netcat_test.sh)"
sudo docker run -it --name probe -e MESSAGE=hi --network=tp0_testing_net \\
    busybox:1.36 sh -c 'echo hi | nc server 12345'
docker container create -v /x:/y --rm subfuzion/netcat server 12345
docker run --rm "$IMAGE" true
echo "docker run --rm not-an-image"
docker run --rm alpine true
docker build -t ignored .
R=$(docker run --rm --network tp0_testing_net busybox:1.35 sh -c "echo hi | nc server 12345")
if [ "`docker run --rm --sig-proxy alpine:3.18 true`" = x ]; then a=1&&docker run python:3.9 true; fi
"""
    assert images_run_by(script) == [
        "alpine",
        "busybox:1.36",
        "subfuzion/netcat",
        "busybox:1.35",
        "python:3.9",
        "alpine:3.18",
    ]


def test_a_generator_that_runs_a_missing_tool_is_told_apart_and_go_is_provisioned(tmp_path: Path) -> None:
    script = tmp_path / "generar-compose.sh"
    script.write_text("#!/bin/bash\necho writing $1\nno-such-tool-here run x.go $1 $2\n", encoding="utf-8")
    script.chmod(0o755)
    generated = generate(tmp_path, 2)
    assert generated.exit_code == 127 and generated.error is not None
    assert generated.error.endswith("exited 127: it runs commands this machine lacks: no-such-tool-here")
    assert missing_tools("x.sh: line 4: go: command not found\nsh: 1: jq: not found\nerror: file not found") == [
        "go",
        "jq",
    ]
    assert "go (bash scripts/provision-go.sh)" in safecompose._missing_tools_note("line 3: go: command not found")


def test_a_generator_without_a_shebang_runs_as_the_course_shell_runs_it(tmp_path: Path) -> None:
    """`./generar-compose.sh` from bash runs a script with no `#!` line; exec alone would refuse it."""
    script = tmp_path / "generar-compose.sh"
    script.write_text('echo "writing $1"\nprintf "services:\\n  server: {image: s}\\n" > "$1"\n', encoding="utf-8")
    script.chmod(0o755)
    generated = generate(tmp_path, 2)
    assert generated.ok, generated.error
    assert generated.output.strip() == "writing docker-compose-check.yaml"
    # their validar-echo-server.sh is run the same way (an executable without `#!` failed: exec format error)
    probe = tmp_path / "validar-echo-server.sh"
    probe.write_text("echo 'action: test_echo_server | result: success'\n", encoding="utf-8")
    probe.chmod(0o755)
    assert shell_command(probe) == ["bash", str(probe)]
    completed = subprocess.run(shell_command(probe), capture_output=True, text=True, check=True)
    assert completed.stdout == "action: test_echo_server | result: success\n"
    probe.write_text("#!/bin/sh\necho ok\n", encoding="utf-8")
    assert shell_command(probe) == [str(probe)]


def test_progress_and_probe_verdicts_say_skip_stand_ins_and_missing_images() -> None:
    check = select(["ej2"], "loop settings")[0]
    progress = Progress([check])
    progress.done(check, [Verdict("ej2", "loop settings", True, "x", "not applicable", skipped=True)])
    assert progress.state[check.key] == "skip"
    progress.done(check, [Verdict("ej2", "loop settings", False, "x", "y")])
    assert progress.state[check.key] == "FAIL (1)"

    failed = ProbeOutcome("fail", 0, ["nc: invalid option -- 'q'"])
    standin = StandIn("alpine:latest", "busybox", "t", "busybox applets", (Path("v.sh"),), "no such host")
    (problem,) = probe_problem(failed, "success", "their running server", [standin], ["x:1 (docker run in v.sh)"])
    assert problem.startswith("against their running server the script said fail, expected success")
    assert "offline stand-ins, none could be pulled: alpine:latest as busybox applets" in problem
    assert "could not be had here: x:1 (docker run in v.sh)" in problem
    assert probe_problem(failed, "fail", "a stopped server", [standin], []) == []
