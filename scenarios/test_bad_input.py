"""Malformed input against the server in its container, while real agencies play.

Hundreds of malformed streams (harness.badinput, seeded) go to the server's address on the
cluster's own network while agencies 1 and 2 wait for the draw; agency 3 starts afterwards.
Every stream gets the ERROR the model predicts and a ``result: fail`` line naming its reason;
the agencies are unaffected: their bets are stored once, each gets its winners, and the
server shuts down cleanly afterwards.
"""

import pytest

from harness.assertions import (
    assert_acknowledged_bets_stored,
    assert_all_bets_stored,
    assert_graceful_exit,
    assert_no_failures,
    assert_winners,
)
from harness.badinput import LiveChecker, ServerModel, StoreFollower, random_probes
from harness.logs import where

pytestmark = pytest.mark.scenario

PROBES = 1500
SERVER_PORT = 12345


def test_malformed_input_while_the_agencies_play(cluster, agency_data, harness_seed, harness_figures):
    data = agency_data(agencies=3, bets=200, winners={1: 1, 2: 2, 3: 0})
    with cluster(clients=3, data=data, client_env={"CLI_BATCH_MAXAMOUNT": "10"}, deferred=["client3"]) as c:
        for agency in (1, 2):
            c.wait_for(where("finalizado", "success", service=f"client{agency}"), timeout=60)

        checker = LiveChecker(
            c.address("server"), SERVER_PORT, c.event_reader("server"), StoreFollower(c.store_path), ServerModel(3)
        )
        checker.new_events()  # what the agencies logged so far is theirs
        checker.store.new_rows()
        probes = random_probes(seed=harness_seed, count=PROBES, first_agency=1_000_000)
        checker.send_many(probes, wave=4)  # the course's listen backlog is 5
        checker.check_log_and_store()
        print(f"\n{checker.malformed} malformed streams (seed {harness_seed}): {dict(checker.by_code)}")
        harness_figures.add("malformed inputs tried (container scenario)", checker.malformed)
        assert checker.malformed > PROBES * 0.9

        c.start("client3")
        c.wait_exit_all_clients(timeout=60)
        events = c.events()
        assert_winners(events, data.expected_winners)
        assert_acknowledged_bets_stored(c, data)
        assert_all_bets_stored(c, data)
        assert_no_failures(events, allow=("connection", "apuesta_recibida"))  # the probes' own, counted above
        c.signal("server", "SIGTERM")
        assert_graceful_exit(c, "server")
