"""The ``harness`` command line: every command, its options and their defaults, defined once.

Each command names its handler as ``"module:function"``; ``harness.cli.main`` imports it only when
the command runs. This module imports nothing heavier than Jinja2 (through ``harness.swarm.stack``),
so building the parser costs no docker SDK and no rich.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from harness.backends import BACKENDS, COMPOSE
from harness.swarm.stack import PER_AGENCY, SHAPES

PLUGGED_COMMANDS = "harness.commands"  # entry points: NAME = "module:main(argv, prog)"
DEFAULT_BETS = 100
HARNESS_LAYOUT_PROJECT = "lottery"  # `harness render`'s project; the course layout's is ComposeSpec's (tp0)

RENDER_DESCRIPTION = """\
Write the compose file for a server and N clients, in one of two layouts.

The harness's layout (default): no container names, no published ports, a network without a fixed
subnet, everything labelled lottery-harness; project `lottery`; the images `harness images` builds
(built now when missing, which needs a Docker engine) unless --server-image and --client-image name
them; absolute paths of the current folder: ./.data as the clients' /data (--data), ./.data/storage
for the server's store, ./server/config.ini and ./client/config.yaml.

--course-layout, the course's drop-in (what ./generar-compose.sh OUTPUT N writes): container names
server, client1..N, network testing_net on 172.25.125.0/24; project `tp0`; images server:latest and
client:latest; paths relative to the compose file: ./.data (--data), ./server/config.ini,
./client/config.yaml; the store lives in the server's container; every client carries the course's
example bet. Needs no Docker engine and no package but Jinja2.
"""


@dataclass(frozen=True)
class Command:
    name: str
    handler: str  # "module:function", imported when the command runs
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    description: str | None = None  # shown as written by `harness NAME --help` (default: help)


def _base_image_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-image", metavar="IMAGE", help="base image (default: found, pulled or built offline)")


def _standins_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "dockerfiles", nargs="*", metavar="DOCKERFILE", help="default: server/Dockerfile client/Dockerfile"
    )
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE", help="as for docker build")


def _render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, required=True, help="number of clients (0..500)")
    parser.add_argument("-o", "--output", required=True, help="file to write, or - for stdout")
    parser.add_argument(
        "--course-layout", action="store_true", help="the course's drop-in layout (generar-compose.sh; see above)"
    )
    parser.add_argument(
        "--project", help=f"compose project name (default: {HARNESS_LAYOUT_PROJECT}; tp0 with --course-layout)"
    )
    parser.add_argument(
        "--data", metavar="DIR", help="folder mounted as the clients' /data (default: ./.data, see above)"
    )
    parser.add_argument(
        "--server-image",
        metavar="IMAGE",
        help="default: the server image `harness images` builds; server:latest with --course-layout",
    )
    parser.add_argument(
        "--client-image",
        metavar="IMAGE",
        help="default: the client image `harness images` builds; client:latest with --course-layout",
    )
    parser.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="base image of those builds (see `harness base-image`; not used with --course-layout)",
    )


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=5, help="agencies to start (default 5)")
    parser.add_argument("--data", metavar="DIR|ZIP", help="agency-N.csv files (default: generated)")
    parser.add_argument(
        "--bets", type=int, default=DEFAULT_BETS, help=f"bets per generated agency file (default {DEFAULT_BETS})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--backend", choices=BACKENDS, default=COMPOSE, help="compose (default) or swarm")
    parser.add_argument(
        "--shape", choices=SHAPES, default=PER_AGENCY, help="swarm: a service per agency, or one replicated"
    )
    _base_image_option(parser)


def _run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", help="run id (default: the only cluster up)")


def _logs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", nargs="?", help="one service (default: all)")
    parser.add_argument("-f", "--follow", action="store_true")
    _run_option(parser)


def _down_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser)
    parser.add_argument("--all", action="store_true", help="every cluster started from this state folder")
    parser.add_argument("--grace", type=float, default=10, help="seconds between SIGTERM and SIGKILL (default 10)")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _cluster_arguments(parser)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the agencies (default 300)")
    parser.add_argument("--report", metavar="FILE", help="write the run's timeline report (HTML) there, logs beside it")


def _probe_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser)
    parser.add_argument("--address", default="server:12345", help="server address inside the network")


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="the TP0 repository (default: this repository)")
    parser.add_argument(
        "--sut-ref",
        metavar="REF",
        help="check this git ref for every exercise (default: each exercise's branch ej1..ej8, local or "
        "remote-tracking, else the checked-out tree)",
    )
    parser.add_argument("--exercises", metavar="ej5,ej6", help="comma-separated exercises (default: all)")
    parser.add_argument("-k", dest="pattern", metavar="REGEX", help="only checks whose exercise/name matches")
    parser.add_argument("-n", "--workers", type=int, default=2, help="checks run at once (default 2)")
    parser.add_argument("--junit", metavar="FILE", type=Path, help="write the verdicts as JUnit XML")
    parser.add_argument("--artifacts", metavar="DIR", type=Path, help="save every container's log and compose file")
    parser.add_argument(
        "--build-arg", action="append", default=[], metavar="KEY=VALUE", help="passed to both image builds"
    )
    parser.add_argument("--list", action="store_true", help="list the checks and what each proves, run nothing")


COMMANDS = (
    Command(
        "base-image", "harness.cli.images:cmd_base_image", "make sure the base image is present", _base_image_option
    ),
    Command(
        "images",
        "harness.cli.images:cmd_images",
        "build the server and client images (cached by content)",
        _base_image_option,
    ),
    Command(
        "standins",
        "harness.cli.images:cmd_standins",
        "make every FROM image of the Dockerfiles available: present, pulled or stand-in",
        _standins_arguments,
    ),
    Command(
        "render",
        "harness.cli.render:cmd_render",
        "write the compose file for N clients",
        _render_arguments,
        RENDER_DESCRIPTION,
    ),
    Command("up", "harness.cli.clusters:cmd_up", "start a cluster and leave it running", _cluster_arguments),
    Command("logs", "harness.cli.clusters:cmd_logs", "show a running cluster's logs", _logs_arguments),
    Command("down", "harness.cli.clusters:cmd_down", "stop a cluster gracefully and remove it", _down_arguments),
    Command("run", "harness.cli.run:cmd_run", "up, watch every agency finish, print the results, down", _run_arguments),
    Command(
        "probe",
        "harness.cli.clusters:cmd_probe",
        "PING the server from a throwaway container on the cluster network",
        _probe_arguments,
    ),
    Command(
        "check",
        "harness.check.cli:cmd_check",
        "check a TP0 repository (default: this one) against the course contract",
        _check_arguments,
    ),
)


def plugged_commands() -> dict[str, EntryPoint]:
    """Commands other packages plug in (the ``harness.commands`` entry points, e.g. ``bench``)."""
    return {entry.name: entry for entry in entry_points(group=PLUGGED_COMMANDS)}


def _summary(entry: EntryPoint) -> str:
    """The first line of a plugged command's module docstring, read from its source without
    importing it (``bench`` would pull in the docker SDK for every command)."""
    try:
        spec = importlib.util.find_spec(entry.module)
        source = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
        docstring = ast.get_docstring(ast.parse(source)) or ""
    except (ImportError, OSError, SyntaxError, ValueError):
        docstring = ""
    return docstring.strip().splitlines()[0] if docstring.strip() else entry.value


def build_parser(plugged: Mapping[str, EntryPoint] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Run the lottery system in containers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter if command.description else argparse.HelpFormatter,
        )
        p.set_defaults(handler=command.handler)
        command.arguments(p)
    # Plugged commands get their arguments whole (harness.cli.main); listed here for --help.
    for name, entry in (plugged_commands() if plugged is None else plugged).items():
        sub.add_parser(name, help=_summary(entry), description=_summary(entry))
    return parser
