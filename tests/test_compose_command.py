"""harness.compose_command: every compose command has a timeout and its output in the error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.compose_command import ComposeCommandError, run_compose


def test_the_result_of_a_command_that_worked(tmp_path: Path) -> None:
    result = run_compose([sys.executable, "-c", "import os; print(os.getcwd())"], tmp_path)
    assert result.stdout.decode().strip() == str(tmp_path)


def test_a_failure_says_the_command_its_exit_and_its_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('network lottery_x: pool overlaps')"]
    with pytest.raises(ComposeCommandError) as failure:
        run_compose(command, tmp_path)
    assert "failed (exit 1): network lottery_x: pool overlaps" in str(failure.value)
    assert str(failure.value).startswith(f"`{sys.executable} -c")


def test_a_command_that_hangs_is_ended_at_its_timeout(tmp_path: Path) -> None:
    with pytest.raises(ComposeCommandError, match=r"did not finish within 0.2s"):
        run_compose([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, timeout=0.2)


def test_a_missing_binary_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ComposeCommandError, match="could not run"):
        run_compose([str(tmp_path / "no-docker-here"), "compose", "version"], tmp_path)
