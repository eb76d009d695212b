"""The container benchmark parts (e2e, scale, overhead) run end to end at tiny sizes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import cli
from harness.images import ImageSet

pytestmark = pytest.mark.scenario


def test_container_parts_run_and_clean_up(harness_images: ImageSet, tmp_path: Path, capsys) -> None:
    from harness.engine import docker_client
    from harness.labels import BENCH_LABEL, BENCH_OWNER_LABEL

    results = tmp_path / "bench.json"
    code = cli.main(["--quick", "--parts", "e2e,scale,overhead", "--json", str(results)])
    assert code == 0, capsys.readouterr().err
    parts = json.loads(results.read_text())["parts"]
    (e2e,) = parts["e2e"]["rows"]
    assert e2e["last_winners_s"] >= e2e["draw_s"] >= e2e["last_ack_s"]
    (scale,) = parts["scale"]["rows"]
    assert scale["clients"] == 1 and scale["wall_s"] > 0
    (overhead,) = parts["overhead"]["rows"]
    assert overhead["total_s"] >= overhead["up_s"] > 0
    ours = {"label": [f"{BENCH_LABEL}=1", f"{BENCH_OWNER_LABEL}={os.getpid()}"]}  # another suite may bench too
    assert docker_client().containers.list(ignore_removed=True, all=True, filters=ours) == []
