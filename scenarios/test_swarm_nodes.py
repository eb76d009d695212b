"""Several Swarm nodes on this machine (``--harness-swarm-nodes 3``, ``make test-slow``): the
tasks spread over the nodes, overlay traffic between them, the same outcome as on one engine.
The shared scenarios run there too: ``make test-slow`` passes winners and SIGTERM with
``--harness-backend swarm --harness-swarm-nodes 3``."""

import pytest

from harness.assertions import assert_all_bets_stored, assert_no_failures, assert_winners

pytestmark = [pytest.mark.scenario, pytest.mark.slow]


def test_agencies_on_every_node_get_their_winners(cluster, agency_data, harness_swarm_nodes):
    """Nine agencies over three nodes, the server on the manager: every agency's bets cross the
    overlay to the server and its winners come back; where each task ran is in the log."""
    planted = {agency: agency % 4 for agency in range(1, 10)}
    data = agency_data(agencies=9, bets=40, winners=planted)
    with cluster(clients=9, data=data, backend="swarm", swarm=harness_swarm_nodes.engine()) as c:
        placement = c.events().first("placement", "success", service="harness")
        assert placement is not None and placement.get("server") == "node1"
        nodes = {placement.get(f"client{agency}") for agency in range(1, 10)}
        assert len(nodes) >= 2, f"the agencies all ran on {nodes}: nothing crossed nodes"
        c.wait_exit_all_clients(timeout=120)
        events = c.events()
        assert_winners(events, data.expected_winners)
        assert_all_bets_stored(c, data)
        assert_no_failures(events)


def test_replicated_service_spreads_over_the_nodes(cluster, agency_data, harness_swarm_nodes):
    data = agency_data(agencies=30, bets=10, winners={1: 1, 15: 2, 30: 1})
    swarm = harness_swarm_nodes.engine()
    with cluster(clients=30, data=data, backend="swarm", swarm=swarm, shape="replicated") as c:
        placement = c.events().first("placement", "success", service="harness")
        per_node = {key: int(value) for key, value in placement.fields.items() if key.startswith("agencies_")}
        assert sum(per_node.values()) == 30 and len(per_node) == 3, per_node
        c.wait_exit_all_clients(timeout=180)
        assert_winners(c.events(), data.expected_winners)
        assert_all_bets_stored(c, data)
