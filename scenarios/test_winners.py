"""Exercise 7: each agency gets exactly its own winners, after one draw, never before it."""

import pytest

from harness.assertions import assert_all_bets_stored, assert_no_failures, assert_winners

pytestmark = pytest.mark.scenario


def test_five_agencies(cluster, agency_data):
    data = agency_data(agencies=5, bets=60, winners={1: 1, 2: 2, 3: 3, 4: 4, 5: 5})
    with cluster(clients=5, data=data) as c:
        c.wait_exit_all_clients(timeout=60)
        assert_winners(c.events(), data.expected_winners)
        assert_all_bets_stored(c, data)
        assert_no_failures(c.events())
