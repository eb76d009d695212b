"""A ``docker`` command for THEIR scripts (``validar-echo-server.sh``) that points them at the
harness's cluster instead of the course's fixed names.

Their script names the course's containers (``server``), network (``tp0_testing_net``) and images
(``client:latest``); the harness's cluster has none of those names, so that it can run beside
anything else. ``install_shim`` writes an executable ``docker`` into a folder to put first on PATH:
it swaps those names for the cluster's (whole arguments only), attaches any container it starts
to the cluster's network with the run's labels (so the teardown's sweep removes it), and hands
everything else to the real ``docker`` unchanged.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

SHIM_ENV = "HARNESS_DOCKER_SHIM"
_SHIM = """\
import json, os, sys

settings = json.loads(os.environ["{env}"])
arguments = sys.argv[1:]
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
command = next((index for index, argument in enumerate(rewritten) if not argument.startswith("-")), None)
if command is not None and rewritten[command] in ("run", "create"):
    extra = [item for key, value in settings["labels"].items() for item in ("--label", f"{{key}}={{value}}")]
    rewritten[command + 1 : command + 1] = extra
os.execv(settings["docker"], [settings["docker"], *rewritten])
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
    """Write ``folder/docker`` and ``folder/sudo`` (run by this interpreter); returns the folder, to
    put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in (("docker", _SHIM.format(env=SHIM_ENV)), ("sudo", _SUDO)):
        shim = folder / name
        shim.write_text(f"#!{sys.executable}\n" + body, encoding="utf-8")
        shim.chmod(0o755)
    return folder


def shim_settings(*, names: Mapping[str, str], network: str, labels: Mapping[str, str]) -> str:
    """The shim's settings (for the SHIM_ENV variable): names to swap, the network, the labels."""
    docker = shutil.which("docker")
    if docker is None:
        raise RuntimeError("no `docker` command on PATH: their scripts need it")
    return json.dumps({"docker": docker, "names": dict(names), "network": network, "labels": dict(labels)})
