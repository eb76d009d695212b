"""Benchmark of the timeline report: ``python -m bench.report`` (docs/benchmarks.md, "Timeline report").

1. The course's dataset (78,697 bets, 5 agencies) in real containers, once: then the report of
   that run is built ``--runs`` times (the time a scenario pays for it: ``write_cluster_report``,
   page and raw logs) and its size measured.
2. The page opened ``--runs`` times in headless Chromium: the page's own clock from navigation
   start to the timeline drawn (``data-render-ms``), and the whole browser run, next to the same
   browser run on an empty page (what starting Chromium costs by itself).
3. Without Docker: a synthetic run of ``--agencies`` agencies (default 100) of 800 batches each,
   to show how the page scales past the dataset.
Results as a table on stdout and JSON in ``--json`` (build/bench-report.json).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import data as datasets
from harness.cluster import Cluster
from harness.images import ensure_images
from harness.lifecycle import ExitRecord
from harness.logstream import LogHub
from harness.report import write_cluster_report, write_report
from harness.report.browser import find_chromium, visit

REPO_ROOT = Path(__file__).resolve().parent.parent


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def _render_ms(dom: str) -> float:
    found = re.search(r'data-render-ms="(\d+)"', dom)
    if found is None or 'data-selfcheck="ok"' not in dom:
        raise RuntimeError("the page did not draw its timeline (no data-render-ms / self-check)")
    return float(found.group(1))


def open_in_browser(page: Path, runs: int) -> dict[str, float]:
    """Median page time (navigation to drawn) and browser run, and the empty page's browser run."""
    empty = page.parent / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    drawn, browser, baseline = [], [], []
    for _ in range(runs):
        seen = visit(page)
        if seen.console:
            raise RuntimeError(f"console messages: {seen.console}")
        drawn.append(_render_ms(seen.dom) / 1000)
        browser.append(seen.seconds)
        baseline.append(visit(empty).seconds)
    return {"page_s": _median(drawn), "browser_s": _median(browser), "empty_page_browser_s": _median(baseline)}


def real_dataset_run(source: Path, workdir: Path, runs: int, say: Any) -> dict[str, Any]:
    dataset = datasets.load(source, workdir / "data")
    images = ensure_images(None, say)
    cluster = Cluster(clients=len(dataset.agencies), data=dataset, images=images, workdir=workdir / "cluster")
    started = time.perf_counter()
    with cluster:
        cluster.wait_exit_all_clients(timeout=600)
    say(f"real dataset: {dataset.total_bets} bets, cluster up to down in {time.perf_counter() - started:.1f} s")
    target = REPO_ROOT / "build" / "bench-report" / "real-dataset" / "report.html"
    builds = []
    for _ in range(runs):
        began = time.perf_counter()
        write_cluster_report(target, cluster, title="bench: the course's dataset, 5 agencies", outcome="passed")
        builds.append(time.perf_counter() - began)
    logs = sum(path.stat().st_size for path in (target.parent / "report-logs").glob("*.log"))
    row: dict[str, Any] = {
        "case": f"course dataset ({dataset.total_bets:,} bets, 5 agencies)",
        "lines": len(cluster.hub.log) + len(cluster.hub.log.unparsed()),
        "build_s": _median(builds),
        "report_bytes": target.stat().st_size,
        "raw_logs_bytes": logs,
    }
    cluster.cleanup()
    if find_chromium() is not None:
        row.update(open_in_browser(target, runs))
    return row


def synthetic_hub(agencies: int, batches: int) -> tuple[LogHub, list[ExitRecord]]:
    """A run of ``agencies`` x ``batches`` batches (server and client lines), 1 ms apart per agency."""
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
    hub = LogHub()
    lines: list[tuple[float, str, str]] = []
    for agency in range(1, agencies + 1):
        client = f"client{agency}"
        lines.append((start + 0.5, client, f"action: config | result: success | client_id: {agency}"))
        lines.append((start + 0.6, client, "action: connect | result: success | server_address: server:12345"))
        for batch in range(1, batches + 1):
            at = start + 1 + batch * 0.004 + agency * 0.0001
            lines.append(
                (
                    at,
                    "server",
                    f"action: apuesta_recibida | result: success | cantidad: 100 | agencia: {agency} | lote: {batch}",
                )
            )
            total = batch * 100
            lines.append(
                (
                    at + 0.001,
                    client,
                    f"action: lote_confirmado | result: success | lote: {batch} | cantidad: 100 | total: {total}",
                )
            )
        end = start + 1 + batches * 0.004 + 0.01
        lines.append((end, client, f"action: finalizado | result: success | total: {batches * 100}"))
        lines.append((end + 1, client, "action: consulta_ganadores | result: success | cant_ganadores: 2 | dnis: 1,2"))
    lines.sort()
    for at, service, message in lines:
        moment = datetime.fromtimestamp(at, UTC)
        logged = moment.strftime("%Y-%m-%d %H:%M:%S,") + f"{moment.microsecond // 1000:03d}"
        hub.add_line(service, f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} {logged} INFO     {message}")
    exits = [ExitRecord(f"client{a}", start + 0.4, start + batches * 0.004 + 3, 0) for a in range(1, agencies + 1)]
    return hub, [ExitRecord("server", start + 0.2, start + batches * 0.004 + 4, 0), *exits]


def synthetic_run(agencies: int, batches: int, runs: int) -> dict[str, Any]:
    hub, exits = synthetic_hub(agencies, batches)
    target = REPO_ROOT / "build" / "bench-report" / f"synthetic-{agencies}" / "report.html"
    builds = []
    for _ in range(runs):
        began = time.perf_counter()
        write_report(target, hub, title=f"bench: {agencies} synthetic agencies", outcome="passed", exits=exits)
        builds.append(time.perf_counter() - began)
    row: dict[str, Any] = {
        "case": f"synthetic, {agencies} agencies x {batches} batches",
        "lines": len(hub.log),
        "build_s": _median(builds),
        "report_bytes": target.stat().st_size,
        "raw_logs_bytes": sum(path.stat().st_size for path in (target.parent / "report-logs").glob("*.log")),
    }
    if find_chromium() is not None:
        row.update(open_in_browser(target, runs))
    return row


COLUMNS = ("case", "lines", "build_s", "report_bytes", "raw_logs_bytes", "page_s", "browser_s", "empty_page_browser_s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="builds and page loads per case; medians (5)")
    parser.add_argument("--data", type=Path, help="dataset zip or folder (default ../shared/data/tp0-dataset.zip)")
    parser.add_argument("--agencies", type=int, default=100, help="agencies of the synthetic case (100; 0: skip)")
    parser.add_argument("--batches", type=int, default=800, help="batches per synthetic agency (800)")
    parser.add_argument("--no-containers", action="store_true", help="only the synthetic case")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "build" / "bench-report.json")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(f"[bench.report] {message}", file=sys.stderr)

    rows = []
    if not args.no_containers:
        source = args.data or datasets.real_dataset_path()
        if source is None:
            say("the course's dataset is not present: its case is skipped")
        else:
            with tempfile.TemporaryDirectory(prefix="bench-report-") as workdir:
                rows.append(real_dataset_run(Path(source), Path(workdir), args.runs, say))
    if args.agencies > 0:
        rows.append(synthetic_run(args.agencies, args.batches, args.runs))
    if find_chromium() is None:
        say("no Chromium: page timings left out (scripts/provision-chromium.sh)")
    print(" | ".join(COLUMNS))
    for row in rows:
        print(" | ".join(str(row.get(column, "")) for column in COLUMNS))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
