"""``harness``: ad-hoc clusters from the command line.

harness base-image | images | standins | render | up | logs | down | run | probe
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness import compose
from harness import data as datasets
from harness.assertions import assert_winners
from harness.backends import BACKENDS, COMPOSE, SWARM
from harness.check import cli as check_cli
from harness.check.sut import SutError
from harness.cluster import Cluster, ClusterError, describe_client_exit, new_run_id, stop_run
from harness.engine import EngineUnavailable, docker_client
from harness.images import ImageError, ensure_base_image, ensure_images
from harness.labels import CLI_LABEL, LABEL, RUN_LABEL
from harness.logs import LogContractError, assert_log_contract
from harness.logstream import ContainerLogReader, LogHub
from harness.probe import run_probe
from harness.report import Failure, write_cluster_report
from harness.standins import DEFAULT_DOCKERFILES, StandInError, ensure_from_images
from harness.swarm import cli as swarm_cli
from harness.swarm.stack import PER_AGENCY, SHAPES

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def state_dir() -> Path:
    """Where `harness up` keeps each cluster's compose file, data and store."""
    return Path(os.environ.get("HARNESS_STATE_DIR", "build/clusters")).resolve()


DEFAULT_BETS = 100


PLUGGED_COMMANDS = "harness.commands"  # entry points: NAME = "module:main(argv, prog)"


class UsageError(Exception):
    pass


def _report(message: str) -> None:
    err.print(f"[dim]\\[harness][/dim] {message}")


# -- data ---------------------------------------------------------------------------------


def _dataset(args: argparse.Namespace, workdir: Path) -> datasets.Dataset:
    if args.data:
        source = Path(args.data)
        if not source.exists():
            raise UsageError(f"--data {source}: no such file or folder")
        dataset = datasets.load(source, workdir / "data")
        if len(dataset.agencies) < args.clients:
            raise UsageError(f"--data {source} has {len(dataset.agencies)} agency files, --clients asks {args.clients}")
        return dataset
    winners = {agency: agency % 3 for agency in range(1, args.clients + 1)}
    return datasets.generate(workdir / "data", args.clients, args.bets, winners=winners, seed=args.seed)


# -- commands -----------------------------------------------------------------------------


def cmd_base_image(args: argparse.Namespace) -> int:
    base = ensure_base_image(args.base_image, _report)
    console.print(base.how)
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    images = ensure_images(args.base_image, _report)
    console.print(f"server: {images.server}\nclient: {images.client}\nbase:   {images.base}")
    return 0


def cmd_standins(args: argparse.Namespace) -> int:
    dockerfiles = [Path(path) for path in args.dockerfiles] or [
        Path(path) for path in DEFAULT_DOCKERFILES if Path(path).is_file()
    ]
    if not dockerfiles:
        raise UsageError(f"no Dockerfile given and none of {', '.join(DEFAULT_DOCKERFILES)} here")
    build_args = {}
    for pair in args.build_arg:
        name, has_value, value = pair.partition("=")
        if not has_value:
            raise UsageError(f"--build-arg {pair}: expected NAME=VALUE")
        build_args[name] = value
    standins = ensure_from_images(dockerfiles, lambda message: console.print(message, markup=False), build_args)
    if standins:
        console.print(f"{len(standins)} offline stand-in(s): " + ", ".join(s.image for s in standins), markup=False)
    return 0


def _rendered_images(args: argparse.Namespace) -> tuple[str, str]:
    """The images asked for, else the ones ``harness images`` builds (built now if missing)."""
    if args.server_image and args.client_image:
        return args.server_image, args.client_image
    try:
        images = ensure_images(args.base_image, _report)
    except EngineUnavailable as exc:
        raise UsageError(f"{exc}; or name the images with --server-image and --client-image") from None
    return args.server_image or images.server, args.client_image or images.client


def cmd_render(args: argparse.Namespace) -> int:
    root = Path.cwd()
    compose.services(compose.ComposeSpec(clients=args.clients))  # a bad count fails before any image work
    server_image, client_image = _rendered_images(args)
    spec = compose.ComposeSpec(
        project=args.project,
        clients=args.clients,
        server_image=server_image,
        client_image=client_image,
        data_dir=Path(args.data or root / ".data").resolve(),
        storage_dir=(root / ".data" / "storage").resolve(),
        server_config=(root / "server" / "config.ini").resolve(),
        client_config=(root / "client" / "config.yaml").resolve(),
        labels={LABEL: "1"},
    )
    if args.output == "-":
        sys.stdout.write(compose.render(spec))
    else:
        compose.write(spec, Path(args.output))
        console.print(f"wrote {args.output} ({args.clients} clients)")
    return 0


def _new_cluster(args: argparse.Namespace, run_id: str) -> tuple[Cluster, datasets.Dataset]:
    if args.clients < 1:
        raise UsageError("--clients must be at least 1")
    workdir = state_dir() / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        dataset = _dataset(args, workdir)
        images = ensure_images(args.base_image, _report)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    cluster = Cluster(
        clients=args.clients,
        data=dataset,
        images=images,
        workdir=workdir,
        run_id=run_id,
        labels={CLI_LABEL: "1"},
        **_backend_options(args, run_id),
    )
    return cluster, dataset


def _backend_options(args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """``--backend swarm``: the swarm to deploy to (harness.swarm.cli) and the ``--shape``."""
    if args.backend != SWARM:
        return {}
    keep = args.command == "up"  # the cluster outlives this process: `harness down` releases its swarm
    swarm = swarm_cli.swarm_for_run(run_id, keep=keep, report=_report)
    return {"backend": SWARM, "shape": args.shape, "swarm": swarm, "owns_swarm": not keep}


def cmd_up(args: argparse.Namespace) -> int:
    run_id = new_run_id()
    cluster, dataset = _new_cluster(args, run_id)
    cluster.up()
    (cluster.workdir / "cluster.json").write_text(
        json.dumps(
            {"run": run_id, "project": cluster.project, "clients": args.clients, "compose": str(cluster.compose_file)}
        )
    )
    console.print(f"cluster {cluster.project} is up: server + {args.clients} clients, {dataset.total_bets} bets")
    console.print(f"  logs: harness logs -f --run {run_id}\n  down: harness down --run {run_id}")
    return 0


def _runs() -> list[str]:
    containers = docker_client().containers.list(all=True, filters={"label": f"{CLI_LABEL}=1"})
    return sorted({c.labels[RUN_LABEL] for c in containers})


def _pick_run(args: argparse.Namespace) -> str:
    if args.run:
        return str(args.run)
    runs = _runs()
    if not runs:
        raise UsageError("no cluster started by `harness up` is on the engine")
    if len(runs) > 1:
        raise UsageError(f"several clusters are up ({', '.join(runs)}): choose one with --run")
    return runs[0]


def cmd_logs(args: argparse.Namespace) -> int:
    run_id = _pick_run(args)
    containers = docker_client().containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    by_service = {c.labels.get("com.docker.compose.service", c.name): c for c in containers}
    if args.service and args.service not in by_service:
        raise UsageError(f"no service {args.service!r} in run {run_id} (have: {', '.join(sorted(by_service))})")
    chosen = [args.service] if args.service else sorted(by_service, key=lambda s: (s != "server", len(s), s))
    if not args.follow:
        for service in chosen:
            for line in by_service[service].logs().decode(errors="replace").splitlines():
                console.print(f"{service:<9}| {line}", markup=False)
        return 0
    hub = LogHub()
    readers = [ContainerLogReader(hub, service, by_service[service]) for service in chosen]
    for reader in readers:
        reader.start()
    printed = dict.fromkeys(chosen, 0)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            alive = any(reader.is_alive() for reader in readers)
            for service in chosen:
                lines = hub.lines(service)
                for line in lines[printed[service] :]:
                    console.print(f"{service:<9}| {line}", markup=False)
                printed[service] = len(lines)
            if not alive:
                break
            time.sleep(0.2)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    runs = _runs() if args.all else [_pick_run(args)]
    for run_id in runs:
        services = swarm_cli.down_run(run_id)["services"]  # its swarm stack first, if it ran on swarm
        removed = stop_run(run_id, grace=args.grace)
        shutil.rmtree(state_dir() / run_id, ignore_errors=True)
        console.print(
            f"run {run_id}: down ({removed['containers']} containers, {removed['networks']} networks"
            + (f", {services} swarm services" if services else "")
            + " removed)"
        )
    if not runs:
        console.print("nothing to take down")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    run_id = _pick_run(args)
    line, ok = run_probe(run_id, args.address)
    console.print(line, markup=False)
    return 0 if ok else 1


# -- run ----------------------------------------------------------------------------------


def _progress_table(
    cluster: Cluster, dataset: datasets.Dataset, exits: dict[str, int], stored: Counter[int] | None = None
) -> Table:
    """One row per agency; ``stored`` (rows per agency in the store) once the run is over."""
    table = Table(title=f"{cluster.project}: {len(dataset.agencies)} agencies, {dataset.total_bets} bets")
    columns = ["agency", "bets sent", "acknowledged", *(["stored"] if stored is not None else []), "winners", "status"]
    for column in columns:
        table.add_column(column, justify="right" if column != "status" else "left")
    events = cluster.events()
    acknowledged = events.acknowledged_by_agency()
    winners = events.winners_by_agency()
    for agency in range(1, cluster.clients + 1):
        service = f"client{agency}"
        code = exits.get(service)
        status = "running" if code is None else ("done" if code == 0 else f"exit {code}")
        found = winners.get(agency)
        cells = [str(agency), str(dataset.bets_per_agency.get(agency, 0)), str(acknowledged.get(agency, 0))]
        if stored is not None:
            cells.append(str(stored.get(agency, 0)))
        cells += ["-" if found is None else str(len(found)), status]
        table.add_row(*cells)
    return table


def _watch(
    cluster: Cluster, dataset: datasets.Dataset, timeout: float, render: Callable[[Table], None]
) -> dict[str, int]:
    """Poll exits until every client ended, one failed, or ``timeout``; returns exit codes seen."""
    deadline = time.monotonic() + timeout
    exits: dict[str, int] = {}
    while time.monotonic() < deadline:
        for service, container in cluster.containers().items():
            if service.startswith("client") and container.status == "exited":
                exits[service] = int(container.attrs["State"]["ExitCode"])
        render(_progress_table(cluster, dataset, exits))
        if len(exits) == cluster.clients or any(code != 0 for code in exits.values()):
            break
        time.sleep(0.25)
    return exits


def cmd_run(args: argparse.Namespace) -> int:
    run_id = new_run_id()
    started = time.monotonic()
    cluster, dataset = _new_cluster(args, run_id)
    problems: list[str] = []
    crashed: BaseException | None = None
    try:
        cluster.up()
        _report(f"cluster {cluster.project} up in {time.monotonic() - started:.1f}s")
        if console.is_terminal:
            with Live(console=console, refresh_per_second=4) as live:
                exits = _watch(cluster, dataset, args.timeout, live.update)
        else:
            exits = _watch(cluster, dataset, args.timeout, lambda table: None)
        missing = [s for s in cluster.client_services if s not in exits]
        failed = {s: code for s, code in exits.items() if code != 0}
        if failed:
            waiting = [s for s in cluster.client_services if s not in exits]
            reasons = "; ".join(describe_client_exit(s, code, cluster.events(), waiting) for s, code in failed.items())
            problems.append(f"clients exited non-zero: {failed}: {reasons}")
        if missing and not failed:
            problems.append(f"clients still running after {args.timeout}s: {', '.join(missing)}")
        if not failed and not missing:
            try:
                assert_winners(cluster.events(), dataset.expected_winners)
            except AssertionError as exc:
                problems.append(str(exc))
        try:
            assert_log_contract(cluster.events())  # a line the course's parser rejects fails the run
        except LogContractError as exc:
            problems.append(str(exc))
        stored = Counter(bet.agency for bet in cluster.read_store())
        if not problems and stored.total() != dataset.total_bets:
            problems.append(f"{stored.total()} bets stored, {dataset.total_bets} sent")
        table = _progress_table(cluster, dataset, exits, stored)
        table.caption = f"stored: {stored.total()} bets; draws: {cluster.events().count('sorteo', 'success')}"
        console.print(table)
    except BaseException as exc:
        crashed = exc
        raise
    finally:
        cluster.down()
        if args.report:
            _write_run_report(args, cluster, problems, crashed)
        shutil.rmtree(cluster.workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    for problem in problems:
        err.print(f"[red]harness: {problem}[/red]", markup=True)
    console.print(f"{'FAILED' if problems else 'OK'} in {elapsed:.1f}s")
    return 1 if problems else 0


def cmd_check(args: argparse.Namespace) -> int:
    return check_cli.cmd_check(args, console, _report)


def _write_run_report(
    args: argparse.Namespace, cluster: Cluster, problems: list[str], crashed: BaseException | None
) -> None:
    """``--report FILE``: the run's timeline; a failure to write it is said, never raised."""
    if crashed is not None:
        outcome, failure = "error", Failure(f"{type(crashed).__name__}: {crashed}")
    elif problems:
        outcome, failure = "failed", Failure("\n".join(problems))
    else:
        outcome, failure = "passed", None
    try:
        path = write_cluster_report(
            args.report,
            cluster,
            title=f"harness run --clients {args.clients}" + (f" --data {args.data}" if args.data else ""),
            outcome=outcome,
            failure=failure,
            seed=None if args.data else args.seed,
        )
    except Exception as exc:
        err.print(f"harness: report not written: {type(exc).__name__}: {exc}", markup=False)
        return
    err.print(f"[dim]\\[harness][/dim] report: {path}")


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Run the lottery system in containers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    def base_image_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base-image", metavar="IMAGE", help="base image (default: found, pulled or built offline)")

    def cluster_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--clients", type=int, default=5, help="agencies to start (default 5)")
        p.add_argument("--data", metavar="DIR|ZIP", help="agency-N.csv files (default: generated)")
        p.add_argument("--bets", type=int, default=DEFAULT_BETS, help="bets per generated agency file (default 100)")
        p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
        p.add_argument("--backend", choices=BACKENDS, default=COMPOSE, help="compose (default) or swarm")
        p.add_argument(
            "--shape", choices=SHAPES, default=PER_AGENCY, help="swarm: a service per agency, or one replicated"
        )
        base_image_option(p)

    base_image_option(command("base-image", cmd_base_image, "make sure the base image is present"))
    base_image_option(command("images", cmd_images, "build the server and client images (cached by content)"))
    p = command(
        "standins", cmd_standins, "make every FROM image of the Dockerfiles available: present, pulled or stand-in"
    )
    p.add_argument("dockerfiles", nargs="*", metavar="DOCKERFILE", help="default: server/Dockerfile client/Dockerfile")
    p.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE", help="as for docker build")
    p = command("render", cmd_render, "write the compose file for N clients")
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("-o", "--output", required=True, help="file to write, or - for stdout")
    p.add_argument("--project", default="lottery", help="compose project name")
    p.add_argument("--data", help="folder mounted as the clients' /data (default ./.data)")
    p.add_argument("--server-image", help="default: the server image `harness images` builds")
    p.add_argument("--client-image", help="default: the client image `harness images` builds")
    p.add_argument("--base-image", help="base image for those builds (see `harness base-image`)")
    cluster_options(command("up", cmd_up, "start a cluster and leave it running"))
    p = command("logs", cmd_logs, "show a running cluster's logs")
    p.add_argument("service", nargs="?", help="one service (default: all)")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--run", help="run id (default: the only cluster up)")
    p = command("down", cmd_down, "stop a cluster gracefully and remove it")
    p.add_argument("--run", help="run id (default: the only cluster up)")
    p.add_argument("--all", action="store_true", help="every cluster started by `harness up`")
    p.add_argument("--grace", type=float, default=10, help="seconds between SIGTERM and SIGKILL (default 10)")
    p = command("run", cmd_run, "up, watch every agency finish, print the results, down")
    cluster_options(p)
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the agencies (default 300)")
    p.add_argument("--report", metavar="FILE", help="write the run's timeline report (HTML) there, logs beside it")
    p = command("probe", cmd_probe, "PING the server from a throwaway container on the cluster network")
    p.add_argument("--run", help="run id (default: the only cluster up)")
    p.add_argument("--address", default="server:12345", help="server address inside the network")
    p = command("check", cmd_check, "check a TP0 repository (default: this one) against the course contract")
    check_cli.add_arguments(p)
    # Commands that other packages plug in (the `harness.commands` entry points, e.g. `bench`) get
    # their arguments whole (see main); listed here for --help.
    for plugged in entry_points(group=PLUGGED_COMMANDS):
        summary = (sys.modules[plugged.load().__module__].__doc__ or plugged.value).strip().splitlines()[0]
        command(plugged.name, lambda args: 0, summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    plugged = {entry.name: entry for entry in entry_points(group=PLUGGED_COMMANDS)}
    if arguments[:1] and arguments[0] in plugged:
        name = arguments[0]
        return int(plugged[name].load()(arguments[1:], prog=f"harness {name}"))
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (UsageError, ValueError, FileNotFoundError) as exc:
        err.print(f"harness: error: {exc}", markup=False)
        return 2
    except (EngineUnavailable, ImageError, ClusterError, StandInError, SutError) as exc:
        err.print(f"harness: error: {exc}", markup=False)
        return 1
    except KeyboardInterrupt:
        err.print("harness: interrupted", markup=False)
        return 130
