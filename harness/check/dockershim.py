"""A ``docker`` command for THEIR scripts (``validar-echo-server.sh``) that points them at the
harness's cluster instead of the course's fixed names.

Their script names the course's containers (``server``), network (``tp0_testing_net``) and images
(``client:latest``); the harness's cluster has none of those names, so that it can run beside
anything else. ``install_shim`` writes an executable ``docker`` into a folder to put first on PATH:
it swaps those names for the cluster's (whole arguments only), attaches any container it starts
to the cluster's network with the run's labels (so the teardown's sweep removes it), and hands
everything else to the real ``docker`` unchanged.

``docker compose`` (and ``docker-compose``) is pointed at the harness's cluster whatever file and
project their script names: reading commands (``ps``, ``logs``, ``exec``, ``run`` ...) run against
it, and commands that would change it (``up``, ``down``, ``stop`` ...) are left out, saying so on
stderr. In the course the grader has the server up before the script runs, as the harness does;
and their compose file names the course's project (``tp0``), so its ``down`` would otherwise take
down whatever of that name runs on the machine.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

SHIM_ENV = "HARNESS_DOCKER_SHIM"
# Compose commands that read the cluster or run a command in it (`run` with --no-deps, so that it
# never starts the server the check stopped); any other one is left out.
COMPOSE_FORWARDED = ("ps", "ls", "config", "logs", "images", "top", "port", "version", "exec", "run")
# Compose's global options that take a value; the file and project ones are replaced by the cluster's.
_COMPOSE_VALUE_OPTIONS = (
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--ansi",
    "--progress",
    "--parallel",
)
_COMPOSE_REPLACED = ("-f", "--file", "-p", "--project-name", "--project-directory")

_SHIM = """\
import json, os, sys

settings = json.loads(os.environ["{env}"])
arguments = sys.argv[1:]
labels = [item for key, value in settings["labels"].items() for item in ("--label", f"{{key}}={{value}}")]
command = next((index for index, argument in enumerate(arguments) if not argument.startswith("-")), None)
if command is not None and arguments[command] == "compose":
    rest = arguments[command + 1 :]
    kept, index = [], 0
    while index < len(rest) and rest[index].startswith("-"):
        option = rest[index].split("=", 1)[0]
        width = 2 if option in {value_options!r} and "=" not in rest[index] else 1
        if option not in {replaced!r}:
            kept += rest[index : index + width]
        index += width
    subcommand = rest[index] if index < len(rest) else None
    if subcommand is None:  # `docker compose --version`, `--help`
        os.execv(settings["docker"], [settings["docker"], *arguments])
    if subcommand not in {forwarded!r}:
        print(f"harness shim: `docker compose {{subcommand}}` left out: the harness runs this cluster", file=sys.stderr)
        sys.exit(0)
    compose = settings["compose"]
    extra = [*labels, "--no-deps"] if subcommand == "run" else []
    rewritten = [*arguments[:command], "compose", "-p", compose["project"], "-f", compose["file"], *kept]
    rewritten += [subcommand, *extra, *rest[index + 1 :]]
    os.execv(settings["docker"], [settings["docker"], *rewritten])
names = settings["names"]
rewritten = []
network_next = False
for argument in arguments:
    if network_next:
        rewritten.append(settings["network"])
        network_next = False
    elif argument in ("--network", "--net"):
        rewritten.append(argument)
        network_next = True
    elif argument.startswith(("--network=", "--net=")):
        rewritten.append(argument.split("=", 1)[0] + "=" + settings["network"])
    elif "=" in argument and argument.split("=", 1)[1] in names:  # a filter: name=tp0_testing_net
        key, value = argument.split("=", 1)
        rewritten.append(key + "=" + names[value])
    else:
        rewritten.append(names.get(argument, argument))
if command is not None and rewritten[command] in ("run", "create"):
    rewritten[command + 1 : command + 1] = labels
os.execv(settings["docker"], [settings["docker"], *rewritten])
"""

# `docker-compose` (Compose v1's command) is `docker compose` through the shim beside it.
_DOCKER_COMPOSE = """\
import os, sys

docker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "docker")
os.execv(docker, [docker, "compose", *sys.argv[1:]])
"""


# Their script may say `sudo docker ...` (the course's machines have sudo; this one may not): the
# harness's user already reaches the engine, so `sudo` only drops its options and runs the command,
# through the `docker` shim beside it.
_SUDO = """\
import os, sys

arguments = sys.argv[1:]
while arguments and arguments[0].startswith("-"):
    option = arguments.pop(0)
    if option in ("-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U") and arguments:
        arguments.pop(0)
    if option == "--":
        break
if not arguments:
    sys.exit("sudo (harness shim): no command")
os.execvp(arguments[0], arguments)
"""


def install_shim(folder: Path) -> Path:
    """Write ``folder/docker``, ``folder/docker-compose`` and ``folder/sudo`` (run by this
    interpreter); returns the folder, to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    docker = _SHIM.format(
        env=SHIM_ENV,
        value_options=set(_COMPOSE_VALUE_OPTIONS),
        replaced=set(_COMPOSE_REPLACED),
        forwarded=set(COMPOSE_FORWARDED),
    )
    for name, body in (("docker", docker), ("docker-compose", _DOCKER_COMPOSE), ("sudo", _SUDO)):
        shim = folder / name
        shim.write_text(f"#!{sys.executable}\n" + body, encoding="utf-8")
        shim.chmod(0o755)
    return folder


def shim_settings(
    *, names: Mapping[str, str], network: str, labels: Mapping[str, str], project: str, compose_file: Path
) -> str:
    """The shim's settings (for the SHIM_ENV variable): names to swap, the network, the labels, and
    the cluster's compose project and file."""
    docker = shutil.which("docker")
    if docker is None:
        raise RuntimeError("no `docker` command on PATH: their scripts need it")
    compose = {"project": project, "file": str(compose_file)}
    return json.dumps(
        {"docker": docker, "names": dict(names), "network": network, "labels": dict(labels), "compose": compose}
    )
