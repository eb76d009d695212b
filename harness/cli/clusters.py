"""``harness up``, ``logs``, ``down`` and ``probe``: clusters that outlive the command (labelled
``lottery-harness.cli``, their files under ``state_dir()``), and the cluster ``up`` and ``run`` start."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from harness import data as datasets
from harness.backends import SWARM
from harness.cli.console import console, report
from harness.cli.errors import UsageError
from harness.cluster import Cluster, new_run_id, stop_run
from harness.engine import docker_client
from harness.images import ensure_images
from harness.labels import CLI_LABEL, RUN_LABEL
from harness.logstream import ContainerLogReader, LogHub
from harness.probe import run_probe
from harness.swarm import runs as swarm_runs


def state_dir() -> Path:
    """Where `harness up` keeps each cluster's compose file, data and store."""
    return Path(os.environ.get("HARNESS_STATE_DIR", "build/clusters")).resolve()


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


def new_cluster(args: argparse.Namespace, run_id: str) -> tuple[Cluster, datasets.Dataset]:
    if args.clients < 1:
        raise UsageError("--clients must be at least 1")
    workdir = state_dir() / run_id
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        dataset = _dataset(args, workdir)
        images = ensure_images(args.base_image, report)
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
    """``--backend swarm``: the swarm to deploy to (harness.swarm.runs) and the ``--shape``."""
    if args.backend != SWARM:
        return {}
    keep = args.command == "up"  # the cluster outlives this process: `harness down` releases its swarm
    swarm = swarm_runs.swarm_for_run(run_id, keep=keep, report=report)
    return {"backend": SWARM, "shape": args.shape, "swarm": swarm, "owns_swarm": not keep}


def cmd_up(args: argparse.Namespace) -> int:
    run_id = new_run_id()
    cluster, dataset = new_cluster(args, run_id)
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
    """The runs started from this state folder (each has its folder there, until its ``down``): the
    engine may hold other folders' runs, another suite's or another user's, and they are not ours."""
    folder = state_dir()
    return sorted(run.name for run in folder.iterdir() if run.is_dir()) if folder.is_dir() else []


def _pick_run(args: argparse.Namespace) -> str:
    if args.run:
        return str(args.run)
    runs = _runs()
    if not runs:
        raise UsageError(f"no cluster was started from this folder (state: {state_dir()})")
    if len(runs) > 1:
        raise UsageError(f"several clusters are up ({', '.join(runs)}): choose one with --run")
    return runs[0]


def cmd_logs(args: argparse.Namespace) -> int:
    run_id = _pick_run(args)
    containers = docker_client().containers.list(
        ignore_removed=True, all=True, filters={"label": f"{RUN_LABEL}={run_id}"}
    )
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
        services = swarm_runs.down_run(run_id)["services"]  # its swarm stack first, if it ran on swarm
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
