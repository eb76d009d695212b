"""A line the course's parser rejects fails the run: one `result: succes` line, written to the
server container's own log, makes the cluster's block fail, naming the line."""

import pytest

from harness.cluster import Cluster
from harness.labels import SESSION_LABEL
from harness.logs import LogContractError, where
from harness.plugin import SESSION_ID

pytestmark = pytest.mark.scenario

BROKEN = "action: close_connection | result: succes | ip: 172.18.0.9 | agencia: 1"
MARKER = "action: marker | result: success"


def test_a_line_the_course_rejects_fails_the_run(harness_images, agency_data, tmp_path):
    data = agency_data(agencies=1, bets=5, winners={1: 1})
    # Made directly, not through the `cluster` fixture: its teardown would (rightly) fail this test too.
    cluster = Cluster(
        clients=1, data=data, images=harness_images, workdir=tmp_path / "cluster", labels={SESSION_LABEL: SESSION_ID}
    )
    broken_run = pytest.raises(LogContractError, match=r"server \| .*action: close_connection \| result: succes")
    with broken_run as caught, cluster as c:
        assert c.wait_exit_all_clients(timeout=60) == {"client1": 0}
        # as if the server had logged it: onto its process's stdout, the container's log
        script = f"echo '2026-11-27 04:57:01,123 INFO     {BROKEN}' > /proc/1/fd/1; echo '{MARKER}' > /proc/1/fd/1"
        assert c.container("server").exec_run(["sh", "-c", script]).exit_code == 0
        c.wait_for(where("marker", "success", service="server"), timeout=30)  # the broken line came first
        assert c.events().first("close_connection", "succes") is None  # never an odd-looking event
    assert "'succes'" in str(caught.value)
    assert cluster.containers() == {}  # taken down before the error was raised
