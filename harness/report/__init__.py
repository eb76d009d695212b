"""The timeline report of a run: ``report.html`` (one self-contained page) and the artifacts
folder's ``index.html``. ``model`` builds the timeline (pure Python), ``render`` writes the page,
``index`` the summary of every report in a folder."""

from harness.report.index import write_index
from harness.report.model import Timeline, build_timeline, timed_lines
from harness.report.render import Failure, write_cluster_report, write_report

__all__ = [
    "Failure",
    "Timeline",
    "build_timeline",
    "timed_lines",
    "write_cluster_report",
    "write_index",
    "write_report",
]
