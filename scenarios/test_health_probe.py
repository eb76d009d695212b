"""Exercise 3: the in-network health probe tells a working server from a stopped one and from one
that answers something other than the protocol; the server publishes no port on the host."""

import pytest

from harness.logs import parse_line, where
from harness.probe import impostor_server, run_probe

pytestmark = pytest.mark.scenario


def verdict(line):
    event = parse_line(line)
    assert event is not None and event.action == "test_echo_server", line
    return event


def test_probe_tells_running_stopped_and_garbage_answering_servers_apart(cluster, agency_data):
    data = agency_data(agencies=1, bets=5)
    with cluster(clients=1, data=data) as c:
        c.wait_for(where("listen", "success", service="server"), timeout=30)

        for service, container in c.containers().items():
            ports = container.attrs["NetworkSettings"]["Ports"] or {}
            assert all(not bindings for bindings in ports.values()), f"{service} publishes {ports}"
            assert not container.attrs["HostConfig"]["PortBindings"], service

        line, ok = run_probe(c.run_id)
        assert ok, line
        assert verdict(line).result == "success"

        c.stop("server")
        c.wait_for(where("shutdown", "success", service="server"), timeout=10)
        line, ok = run_probe(c.run_id)
        assert not ok, line
        stopped = verdict(line)
        assert stopped.result == "fail" and stopped.get("error"), line

        # Something else now answers at the server's name and port.
        with impostor_server(c.run_id, alias="server") as address:
            assert address == "server:12345"
            line, ok = run_probe(c.run_id, address)
        assert not ok, line
        garbage = verdict(line)
        assert garbage.result == "fail" and "ProtocolError" in garbage.get("error", ""), line

        restarted = c.mark()
        c.start("server")
        c.wait_for(where("listen", "success", service="server"), timeout=30, since=restarted)
        line, ok = run_probe(c.run_id)
        assert ok, line
