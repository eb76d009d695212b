"""The timeline report of a run: ``report.html`` (one self-contained page) and the artifacts
folder's ``index.html``. ``model`` is the timeline (pure Python: ``lines`` times the lines,
``timeline`` builds it from ``lanes`` and ``spans``), ``render`` writes the page, ``index`` the
summary of every report in a folder."""

from harness.report.index import write_index
from harness.report.lines import timed_lines
from harness.report.model import Timeline
from harness.report.render import Failure, write_cluster_report, write_report
from harness.report.timeline import build_timeline

__all__ = [
    "Failure",
    "Timeline",
    "build_timeline",
    "timed_lines",
    "write_cluster_report",
    "write_index",
    "write_report",
]
