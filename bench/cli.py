"""``python -m bench`` / ``harness bench``: run the benchmark parts, print tables, write JSON.

Every figure in a table is the median of ``--runs`` runs; the JSON also keeps every run, the
machine, the command and the machine's load before and after each part.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, PartResult, failure, load, machine, wait_quiet

PARTS = ("ingest", "e2e", "scale", "overhead", "profile", "swarm-scale")
DEFAULT_PARTS = ["ingest", "e2e", "scale", "overhead", "profile"]  # swarm-scale only when asked: minutes, root
CONTAINER_PARTS = {"e2e", "scale", "overhead", "swarm-scale"}


def _ints(text: str) -> list[int]:
    try:
        values = [int(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _parts(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    return [part for part in PARTS if part in chosen]


def build_parser(prog: str = "python -m bench") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", type=_parts, default=DEFAULT_PARTS, help=f"comma-separated: {','.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=3, help="runs per configuration; tables show medians (3)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run: a smoke test of every part")
    parser.add_argument("--json", metavar="FILE", default="build/bench.json", help="results (build/bench.json)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    parser.add_argument(
        "--server-root",
        type=Path,
        metavar="DIR",
        help="A/B runs: the server from DIR/server (and DIR/protocol): run there for ingest, built into the image",
    )
    parser.add_argument(
        "--wait-quiet", type=float, default=0, metavar="S", help="before each part, wait up to S s for a quiet machine"
    )
    group = parser.add_argument_group("ingest")
    group.add_argument("--ingest-agencies", type=_ints, default=[1, 5, 25], metavar="K,..", help="(1,5,25)")
    group.add_argument("--ingest-bets", type=int, default=20_000, metavar="M", help="bets per agency (20000)")
    group.add_argument("--senders", type=int, default=1, help="sender processes (1)")
    group.add_argument("--workers", type=int, default=None, help="server WORKERS (default: the cores)")
    group.add_argument("--no-baseline", action="store_true", help="skip the csv.writer baseline")
    group = parser.add_argument_group("e2e")
    group.add_argument("--e2e-data", type=Path, default=None, help="dataset zip/dir (the course's by default)")
    group = parser.add_argument_group("scale")
    group.add_argument("--scale-clients", type=_ints, default=[1, 10, 50, 100], metavar="N,..", help="(1,10,50,100)")
    group.add_argument("--scale-bets", type=int, default=100, help="bets per agency (100)")
    group = parser.add_argument_group("overhead")
    group.add_argument("--overhead-clients", type=_ints, default=[1, 5], metavar="N,..", help="(1,5)")
    group = parser.add_argument_group("swarm-scale")
    group.add_argument("--swarm-clients", type=_ints, default=[100, 250, 500], metavar="N,..", help="(100,250,500)")
    group.add_argument("--swarm-bets", type=int, default=100, help="bets per agency (100)")
    group.add_argument(
        "--swarm-nodes", type=int, default=0, metavar="M", help="also on M local swarm nodes (root; 0: only one node)"
    )
    group = parser.add_argument_group("profile")
    group.add_argument("--profile-bets", type=int, default=40_000, help="bets per agency, 5 agencies (40000)")
    return parser


def _quick(args: argparse.Namespace) -> None:
    args.runs = 1
    args.ingest_agencies = [1, 2]
    args.ingest_bets = 500
    args.scale_clients = [1]
    args.scale_bets = 10
    args.overhead_clients = [1]
    args.profile_bets = 2_000
    args.swarm_clients = [2]
    args.swarm_bets = 10


def _run_part(name: str, args: argparse.Namespace, report: Callable[[str], None], workdir: Path) -> PartResult:
    if name == "ingest":
        from bench import ingest

        options: dict[str, Any] = {"senders": args.senders, "workers": args.workers, "baseline": not args.no_baseline}
        if args.server_root is not None:
            options["server_root"] = args.server_root.resolve()
        return ingest.run(args.ingest_agencies, args.ingest_bets, args.runs, report, **options)
    if name == "e2e":
        from bench import e2e

        source = args.e2e_data
        if source is None and args.quick:
            from harness import data as datasets

            source = datasets.generate(workdir / "e2e-data", 2, 100, winners={1: 1, 2: 2}).directory
        return e2e.run(args.runs, report, source)
    if name == "scale":
        from bench import scale

        return scale.run(args.scale_clients, args.scale_bets, args.runs, report)
    if name == "overhead":
        from bench import overhead

        return overhead.run(args.overhead_clients, args.runs, report)
    if name == "swarm-scale":
        from bench import swarm_scale

        return swarm_scale.run(args.swarm_clients, args.swarm_bets, args.runs, args.swarm_nodes, report)
    from bench import profiling as profile

    root = args.server_root.resolve() if args.server_root is not None else REPO_ROOT
    return profile.run(report, bets_each=args.profile_bets, workers=args.workers, root=root)


# -- output ---------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown_table(part: PartResult) -> str:
    columns = [*part.columns, "runs"] if part.rows and "runs" in part.rows[0] else part.columns
    lines = [f"**{part.title}**", "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in part.rows:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    lines.extend(f"\n{note}" if i == 0 else note for i, note in enumerate(part.notes))
    return "\n".join(lines) + "\n"


def print_table(part: PartResult) -> None:
    print(markdown_table(part), flush=True)


def main(argv: Sequence[str] | None = None, prog: str = "python -m bench") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.quick:
        _quick(args)
    if args.runs < 1:
        print(f"{prog}: error: --runs must be at least 1", file=sys.stderr)
        return 2

    def report(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    command = " ".join([prog, *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    results: dict[str, Any] = {
        "command": command,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parts": {},
    }
    started = time.monotonic()
    workdir = Path(args.json).resolve().parent
    workdir.mkdir(parents=True, exist_ok=True)
    failed = False
    if args.server_root is not None:
        from bench import containers

        containers.SERVER_ROOT = args.server_root.resolve()
    try:
        if CONTAINER_PARTS & set(args.parts):
            from bench.containers import sweep_all

            sweep_all()  # leftovers of an interrupted earlier run
        for name in args.parts:
            before = wait_quiet(args.wait_quiet, report) if args.wait_quiet else load()
            report(f"{name}: starting ({before.describe()})")
            part_started = time.monotonic()
            try:
                part = _run_part(name, args, report, workdir)
            except Exception as exc:  # a part that fails is reported; the others still run
                exc_text = failure(exc)
                report(f"{name}: FAILED: {exc_text}")
                results["parts"][name] = {"error": exc_text}
                failed = True
                continue
            after = load()
            results["parts"][name] = {
                **part.as_json(),
                "seconds": round(time.monotonic() - part_started, 1),
                "load_before": before.as_json(),
                "load_after": after.as_json(),
            }
            print_table(part)
            if args.markdown:
                with open(args.markdown, "a", encoding="utf-8") as file:
                    file.write(markdown_table(part) + f"\n_load before: {before.describe()}_\n\n")
    except KeyboardInterrupt:
        report("interrupted: cleaning up")
        failed = True
    finally:
        if CONTAINER_PARTS & set(args.parts):
            from bench.containers import sweep_all

            sweep_all()
        results["seconds"] = round(time.monotonic() - started, 1)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        report(f"results in {args.json} ({results['seconds']} s)")
    return 1 if failed else 0
