"""Exercise 7: each agency gets exactly its own winners, after one draw, never before it; and a
happy run holds no `result: fail` line at all (the course's checks fail a run on one)."""

import pytest

from harness.assertions import (
    assert_all_bets_stored,
    assert_no_failures,
    assert_one_draw_before_winners,
    assert_server_answered_winners,
    assert_winners,
)
from harness.logs import where

pytestmark = pytest.mark.scenario

# Planted winners per agency; each set has an agency with none.
PLANTED = {
    "3-agencies": {1: 2, 2: 0, 3: 1},
    "5-agencies": {1: 1, 2: 3, 3: 0, 4: 2, 5: 1},
}


@pytest.mark.parametrize("planted", PLANTED.values(), ids=PLANTED.keys())
def test_planted_winners(cluster, agency_data, planted):
    data = agency_data(agencies=len(planted), bets=40, winners=planted)
    with cluster(clients=len(planted), data=data) as c:
        c.wait_exit_all_clients(timeout=60)
        events = c.events()
        assert_winners(events, data.expected_winners)
        assert_server_answered_winners(events, data.expected_winners)
        draw = assert_one_draw_before_winners(events)
        assert draw.int_field("ganadores") == data.total_winners
        assert_all_bets_stored(c, data)
        assert_no_failures(events)  # no `result: fail` line at all, no traceback


def test_real_dataset(cluster, real_dataset):
    """The course's 5 agencies (78,697 bets): winners computed from the files with csv alone."""
    assert real_dataset.agencies == [1, 2, 3, 4, 5]
    with cluster(clients=5, data=real_dataset) as c:
        c.wait_exit_all_clients(timeout=240)
        events = c.events()
        assert_winners(events, real_dataset.expected_winners)
        assert_server_answered_winners(events, real_dataset.expected_winners)
        draw = assert_one_draw_before_winners(events)
        assert draw.int_field("ganadores") == real_dataset.total_winners
        assert_all_bets_stored(c, real_dataset)
        assert_no_failures(events)  # no `result: fail` line at all, no traceback


def test_agencies_that_start_before_the_server_log_no_failure(cluster, agency_data):
    """Compose starts every container at once, so agencies may knock before the server listens:
    those retries are the normal start (`connect | result: in_progress`), not failures."""
    data = agency_data(agencies=5, bets=40, winners={1: 1, 3: 2})
    with cluster(clients=5, data=data, deferred=["server"]) as c:
        for client in c.client_services:  # each has tried and is waiting to try again
            c.wait_for(where("connect", "in_progress", service=client), timeout=30)
        c.start("server")
        c.wait_exit_all_clients(timeout=90)
        events = c.events()
        assert_winners(events, data.expected_winners)
        assert_all_bets_stored(c, data)
        assert events.count("connect", "success") == 5
        assert_no_failures(events)  # no `result: fail` line at all, no traceback
