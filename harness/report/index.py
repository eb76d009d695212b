"""``index.html`` of an artifacts folder: one row per report found under it (outcome, duration,
link), so a CI job can publish the folder as it is. Rebuilt from the ``*.summary.json`` files
that ``write_report`` leaves beside each page, so parallel workers never need to agree."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from harness.report.model import wall_clock
from harness.report.render import SUMMARY_SUFFIX

INDEX_NAME = "index.html"

_environment = Environment(
    loader=PackageLoader("harness", "templates"), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True
)


def read_summaries(folder: Path) -> list[dict[str, Any]]:
    """Every report summary under ``folder``, oldest first; unreadable ones are skipped."""
    rows = []
    for path in folder.rglob(f"*{SUMMARY_SUFFIX}"):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(summary, dict):
            continue
        report = path.with_name(str(summary.get("report", "")))
        summary["href"] = Path(os.path.relpath(report, folder)).as_posix()
        summary["when"] = wall_clock(float(summary.get("started") or 0.0))
        rows.append(summary)
    return sorted(rows, key=lambda row: (float(row.get("started") or 0.0), str(row.get("title"))))


def write_index(folder: str | Path, title: str = "lottery-harness reports") -> Path:
    """(Re)write ``folder/index.html``; written to a temporary file first, then renamed, so a
    reader (or another worker writing it at the same time) never sees half a page."""
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    rows = read_summaries(directory)
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("outcome"))] = counts.get(str(row.get("outcome")), 0) + 1
    page = _environment.get_template("index.html.j2").render(title=title, rows=rows, counts=counts)
    target = directory / INDEX_NAME
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".html")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(page)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    return target
