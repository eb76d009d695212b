"""Exercise 1: a compose file for N agencies runs exactly client1..N, and the server sees all N."""

import pytest
import yaml

from harness.assertions import assert_all_bets_stored, assert_no_failures, assert_winners

pytestmark = pytest.mark.scenario


@pytest.mark.parametrize("agencies", [1, 2, 5, 10])
def test_n_clients(cluster, agency_data, agencies):
    data = agency_data(agencies=agencies, bets=6, winners={1: 1})
    clients = [f"client{i}" for i in range(1, agencies + 1)]
    with cluster(clients=agencies, data=data) as c:
        rendered = yaml.safe_load(c.compose_file.read_text(encoding="utf-8"))
        assert list(rendered["services"]) == ["server", *clients]
        assert sorted(c.containers()) == sorted(["server", *clients])

        assert c.wait_exit_all_clients(timeout=90) == dict.fromkeys(clients, 0)

        events = c.events()
        assert events.first("config", "success", service="server").int_field("agencies") == agencies
        finished = {e.int_field("agencia") for e in events.filter("agencia_finalizada", "success", service="server")}
        assert finished == set(range(1, agencies + 1))
        assert events.count("sorteo", "success", service="server") == 1
        assert_winners(events, data.expected_winners)
        assert_all_bets_stored(c, data)
        assert_no_failures(events)
