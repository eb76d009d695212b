"""Fixtures shared by the fast tests (no Docker): servers, an exit stack and an agency file.

The helpers they build on are the ``helpers`` package; each fixture stops what it started, also
when the test fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers import ServerPool, agency_file_bets, write_agency_file

AGENCY_FILE_BETS = 30


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerPool]:
    """Starts servers (``servers.start(**settings)``) in the test's directory; kills them all at the end."""
    with ServerPool(tmp_path) as pool:
        yield pool


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    """Closes whatever a test entered (client first, then servers), also when it fails."""
    with ExitStack() as resources:
        yield resources


@pytest.fixture
def agency_file(tmp_path: Path) -> Path:
    """An agency file of the course's format with ``AGENCY_FILE_BETS`` bets."""
    return write_agency_file(tmp_path / "agency.csv", agency_file_bets(AGENCY_FILE_BETS))
