"""Nothing is left behind: a failing scenario, one that times out and a Ctrl-C'd run leave no
container, network or volume on the engine.

Each case runs pytest in a subprocess on example tests written into tmp_path, then lists the
engine's resources by the labels the harness puts on everything (``lottery-harness.session`` of
that pytest session, ``lottery-harness.run`` of each cluster it made).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.engine import docker_client
from harness.labels import RUN_LABEL, SESSION_LABEL

pytestmark = pytest.mark.scenario

RUN_TIMEOUT = 180

CONFTEST = '''
import os
from pathlib import Path

import pytest

import harness.plugin

Path(os.environ["HYGIENE_DIR"], "session").write_text(harness.plugin.SESSION_ID)


@pytest.fixture
def small(cluster, agency_data):
    """A cluster of one agency, not yet up; its run id is written down for the check."""
    made = cluster(clients=1, data=agency_data(agencies=1, bets=5))
    with Path(os.environ["HYGIENE_DIR"], "runs").open("a") as runs:
        runs.write(made.run_id + "\\n")
    return made
'''

EXAMPLES = """
import os
from pathlib import Path

from harness.logs import where


def test_fails(small):
    with small as c:
        c.wait_for(where("listen", service="server"), timeout=60)
        assert False, "a scenario that fails"


def test_times_out(small):
    with small as c:
        c.wait_for(lambda event: False, timeout=1, description="an event that never comes")


def test_fails_without_a_with_block(small):
    small.up()  # left to the fixture's finalizer
    raise RuntimeError("a scenario that forgot its with-block")
"""

INTERRUPTED = """
import os
from pathlib import Path


def test_interrupted(small):
    with small as c:
        Path(os.environ["HYGIENE_DIR"], "up").write_text("up")
        c.wait_for(lambda event: False, timeout=120, description="Ctrl-C")
"""


def leftovers(session: str, runs: list[str]) -> list[str]:
    """Containers, networks and volumes carrying the session's label or one of its run labels."""
    engine = docker_client()
    found = []
    for label in [f"{SESSION_LABEL}={session}", *(f"{RUN_LABEL}={run}" for run in runs)]:
        selector = {"label": label}
        found += [
            f"container {c.name}" for c in engine.containers.list(ignore_removed=True, all=True, filters=selector)
        ]
        found += [f"network {n.name}" for n in engine.networks.list(filters=selector)]
        found += [f"volume {v.name}" for v in engine.volumes.list(filters=selector)]
    return found


def as_from_a_terminal() -> None:
    # A job started in the background by a shell without job control (a CI script's `make test &`)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the example
    # gets SIGINT as it would from a terminal, where it is never ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def pytest_in(directory: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env={**os.environ, "HYGIENE_DIR": str(directory), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own: Ctrl-C reaches pytest and compose
        preexec_fn=as_from_a_terminal,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the example run did not end within {RUN_TIMEOUT}s:\n{output}")
    return process.returncode, output


def session_of(directory: Path) -> tuple[str, list[str]]:
    runs = directory / "runs"
    return (directory / "session").read_text(), runs.read_text().split() if runs.exists() else []


@pytest.fixture
def examples(tmp_path, harness_images):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    yield tmp_path
    if (tmp_path / "session").exists():  # whatever the check found is removed, also when it failed
        from harness.engine import sweep

        session, runs = session_of(tmp_path)
        sweep({SESSION_LABEL: session})
        for run in runs:
            sweep({RUN_LABEL: run})


def test_failing_and_timed_out_scenarios_leave_nothing(examples):
    (examples / "test_examples.py").write_text(EXAMPLES)
    code, output = finish(pytest_in(examples))
    assert code == 1 and "3 failed" in output, output
    assert "a scenario that fails" in output and "an event that never comes" in output
    session, runs = session_of(examples)
    assert len(runs) == 3
    assert leftovers(session, runs) == []


@pytest.mark.parametrize("early", [False, True], ids=["while-running", "while-compose-starts-it"])
def test_ctrl_c_leaves_nothing(examples, early):
    (examples / "test_interrupted.py").write_text(INTERRUPTED)
    process = pytest_in(examples)
    deadline = time.monotonic() + RUN_TIMEOUT

    def ready() -> bool:  # early: as soon as compose has made the first resource (its network)
        if early:
            return (examples / "runs").exists() and bool(leftovers(*session_of(examples)))
        return (examples / "up").exists()

    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # written by another process, made by the engine: nothing to block on
    assert ready(), f"the example never got that far (exit {process.poll()})"
    session, runs = session_of(examples)
    assert leftovers(session, runs), "the interrupted cluster should have resources before Ctrl-C"
    os.killpg(process.pid, signal.SIGINT)
    code, output = finish(process)
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert leftovers(session, runs) == [], output
