"""report.html and index.html as files: self-contained, the data intact, the logs beside them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from reportutil import T0, faulty_run

from harness.logs import parse_lines
from harness.report import Failure, write_index, write_report
from harness.report.render import SUMMARY_SUFFIX


class _Page(HTMLParser):
    """The page's external references and its embedded data."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []
        self.links: list[tuple[str, str, str]] = []
        self.data = ""
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("src", "href"):
            if values.get(key):
                (self.links if tag == "a" else self.references).append((tag, key, values[key] or ""))
        if tag == "link":
            self.references.append((tag, "link", values.get("href") or ""))
        self._in_data = tag == "script" and values.get("id") == "timeline-data"

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data += data

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False


def write_faulty(path: Path, **options) -> Path:
    hub, exits = faulty_run()
    return write_report(
        path,
        hub,
        title="scenarios/test_x.py::test_pause",
        outcome=options.pop("outcome", "failed"),
        exits=exits,
        failure=Failure("AssertionError: agency 2 <b>expected</b> 2 winners", T0 + 6.4),
        phases={"up": (T0, T0 + 0.25), "run": (T0 + 0.25, T0 + 7), "down": (T0 + 7, T0 + 7.6)},
        seed=1234,
        images={"server": "lottery-harness/server:abc"},
        **options,
    )


def test_the_page_is_one_file_that_fetches_nothing(tmp_path: Path) -> None:
    page = write_faulty(tmp_path / "report.html")
    text = page.read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(text)
    assert parsed.references == []  # no <script src>, <link>, <img src>: everything is inline
    assert not re.search(r"https?://", text.replace("http-equiv", "")), "no address of any server in the page"
    assert "default-src 'none'" in text  # and the browser is told so
    assert {href for _, _, href in parsed.links} == {
        f"report-logs/{s}.log" for s in ("harness", "server", "client1", "client2", "client3")
    }


def test_the_embedded_data_survives_any_line(tmp_path: Path) -> None:
    page = write_faulty(tmp_path / "report.html")
    parsed = _Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    data = json.loads(parsed.data)
    assert [lane["name"] for lane in data["lanes"]] == ["harness", "server", "client1", "client2", "client3"]
    client3 = next(lane for lane in data["lanes"] if lane["name"] == "client3")
    lines = [mark[3] for mark in client3["marks"]]
    assert any("</script><b>" in line for line in lines)  # a log line cannot end the script early
    assert data["pin"]["message"] == "AssertionError: agency 2 <b>expected</b> 2 winners"
    assert data["faults"] == [
        {
            "kind": "pause",
            "service": "server",
            "start": 2.0,
            "end": 4.0,
            "healed": True,
            "detail": data["faults"][0]["detail"],
        }
    ]
    server = next(lane for lane in data["lanes"] if lane["name"] == "server")
    deltas = server["dens"][0]["t"]
    assert len(deltas) == 620 and sum(deltas) <= round(data["end"] * 1000)  # delta-coded milliseconds


def test_header_failure_and_tables_are_escaped_html(tmp_path: Path) -> None:
    text = write_faulty(tmp_path / "report.html").read_text(encoding="utf-8")
    assert "AssertionError: agency 2 &lt;b&gt;expected&lt;/b&gt; 2 winners" in text
    assert 'class="badge failed"' in text and "seed <b>1234</b>" in text
    assert "lottery-harness/server:abc" in text
    exits = re.search(r'<table id="exit-table">(.*?)</table>', text, re.S)
    assert exits is not None
    row = re.search(r"client2</td>(.*?)</tr>", exits.group(1), re.S)
    assert row is not None and "137" in row.group(1) and "d-fail" in exits.group(1)


def test_raw_logs_are_saved_beside_it_byte_for_byte(tmp_path: Path) -> None:
    hub, _ = faulty_run()
    write_faulty(tmp_path / "out" / "run.html", logs_dir=tmp_path / "out" / "logs")
    for service in hub.services():
        saved = (tmp_path / "out" / "logs" / f"{service}.log").read_text(encoding="utf-8")
        assert saved == "\n".join(hub.lines(service)) + "\n"
    summary = json.loads((tmp_path / "out" / f"run{SUMMARY_SUFFIX}").read_text(encoding="utf-8"))
    assert summary["outcome"] == "failed" and summary["report"] == "run.html"
    assert summary["failure"].startswith("AssertionError: agency 2")


def test_an_event_log_alone_is_enough(tmp_path: Path) -> None:
    log = parse_lines(["2026-12-01 10:00:01,500 INFO     action: connect | result: success", "a stray line"], "client1")
    page = write_report(tmp_path / "r.html", log, title="from an EventLog", outcome="passed")
    assert (tmp_path / "r-logs" / "client1.log").read_text(encoding="utf-8").splitlines()[1] == "a stray line"
    assert "from an EventLog" in page.read_text(encoding="utf-8")


def test_an_unknown_outcome_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outcome 'green'"):
        write_report(tmp_path / "r.html", [], title="x", outcome="green")


def test_the_index_lists_every_report_under_the_folder(tmp_path: Path) -> None:
    write_faulty(tmp_path / "test_a" / "lottery-1" / "report.html")
    write_faulty(tmp_path / "test_b[3-agencies]" / "lottery-2" / "report.html", outcome="passed")
    (tmp_path / "broken" / "x").mkdir(parents=True)
    (tmp_path / "broken" / "x" / f"report{SUMMARY_SUFFIX}").write_text("{not json", encoding="utf-8")
    index = write_index(tmp_path)
    text = index.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-outcome="(\w+)">.*?<a href="([^"]+)"', text)
    assert sorted(rows) == [
        ("failed", "test_a/lottery-1/report.html"),
        ("passed", "test_b[3-agencies]/lottery-2/report.html"),
    ]
    assert "2 reports" in text and "1 failed" in text and "1 passed" in text
    assert index.stat().st_mode & 0o777 == 0o644
