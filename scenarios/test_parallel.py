"""Exercise 8: the server serves many agencies at once. One agency stalls in the middle of its
bets, its connection open; every other agency is still served to its FINISHED meanwhile. Then
one draw, every agency its own winners, every row stored once."""

import pytest

from harness.assertions import (
    assert_all_bets_stored,
    assert_no_failures,
    assert_one_draw_before_winners,
    assert_winners,
)
from harness.logs import where

pytestmark = pytest.mark.scenario

SLOW_BETS = 2000  # one bet per batch: thousands of exchanges, so it is surely mid-way when it stalls


@pytest.mark.parametrize("agencies", [10, 25])
def test_agencies_at_once_with_one_stalled(cluster, agency_data, agencies):
    slow, others = "client1", [f"client{i}" for i in range(2, agencies + 1)]
    data = agency_data(
        agencies=agencies,
        bets={1: SLOW_BETS, **{i: 50 for i in range(2, agencies + 1)}},
        winners={i: i % 3 for i in range(1, agencies + 1)},
    )
    with cluster(
        clients=agencies,
        data=data,
        client_env={"CLI_BATCH_MAXAMOUNT": "10"},
        per_client_env={1: {"CLI_BATCH_MAXAMOUNT": "1"}},
        server_env={"READ_TIMEOUT": "120"},  # the stalled connection must not be dropped as idle
        deferred=others,
    ) as c:
        c.wait_for(where("lote_confirmado", "success", service=slow), timeout=60)
        c.pause(slow)
        c.start(*others)
        for agency in range(2, agencies + 1):
            c.wait_for(where("agencia_finalizada", "success", service="server", agencia=agency), timeout=120)
        stalled_at = c.events().acknowledged_by_agency()[1]
        c.unpause(slow)
        c.wait_exit_all_clients(timeout=120)
        events = c.events()

        # The stalled agency was mid-way, its connection open, while all the others finished.
        assert 0 < stalled_at < SLOW_BETS
        server = events.filter(service="server")
        finished_order = [e.int_field("agencia") for e in server if e.matches("agencia_finalizada", "success")]
        assert finished_order[-1] == 1 and sorted(finished_order) == list(range(1, agencies + 1))
        slow_batches = [e.seq for e in server if e.matches("apuesta_recibida", "success", agencia=1)]
        for agency in range(2, agencies + 1):
            window = [e.seq for e in server if e.matches("apuesta_recibida", "success", agencia=agency)]
            assert slow_batches[0] < window[0] and window[-1] < slow_batches[-1], f"agency {agency}"
        assert events.count("connect", "success", service=slow) == 1  # the same connection throughout
        assert server.count("connection", "fail") == 0

        assert_one_draw_before_winners(events)
        assert_winners(events, data.expected_winners)
        assert_all_bets_stored(c, data)
        assert_no_failures(events)
