"""Exercise 4: SIGTERM ends a client, the server or everything gracefully at any moment of the
lottery: exit 0 within the grace period, a `shutdown` line, no traceback, no acknowledged bet
lost; and when only a client stops, the server goes on serving the other agencies.

Each moment is reached by waiting for log events, never by sleeping. Agency 3 (client3) is the
one that gets signalled; agencies 1 and 2 are held back (created, not started) until after the
signal, except "after the draw", where they are the ones who bring the draw about. When only
client3 was stopped, agencies 1 and 2 are then served to their FINISHED while it is away, and
client3 comes back and completes: one draw, every winner right, every bet stored exactly once.
"""

import pytest

from harness.assertions import (
    assert_acknowledged_bets_stored,
    assert_all_bets_stored,
    assert_graceful_exit,
    assert_one_draw_before_winners,
    assert_winners,
)
from harness.logs import where

pytestmark = pytest.mark.scenario

GRACE = 10  # seconds: compose's default stop grace period
SIGNALLED = "client3"
OTHERS = ["client1", "client2"]
BETS = {1: 20, 2: 20, 3: 2000}
WINNERS = {1: 2, 2: 1, 3: 1}
K = 3


def before_first_batch(c):
    """The server listens but is out of reach: client3 has its first batch ready and keeps retrying."""
    c.wait_for(where("listen", "success", service="server"), timeout=30)
    c.disconnect("server")
    c.start(SIGNALLED)
    c.wait_for(where("connect", "in_progress", service=SIGNALLED), timeout=30)


def after_k_batches(c):
    """client3 (one bet per batch, 2000 of them) has K batches acknowledged and is still sending."""
    c.wait_for(where("lote_confirmado", "success", service=SIGNALLED, lote=K), timeout=60)


def polling_for_winners(c):
    """client3 finished its bets and was told NOT_READY: no draw until agencies 1 and 2 finish."""
    c.wait_for(where("consulta_ganadores", "in_progress", service=SIGNALLED), timeout=60)


def after_the_draw(c):
    """client3 polled once and sleeps a minute before asking again; the others finish, the draw is done."""
    polling_for_winners(c)
    c.start(*OTHERS)
    c.wait_for(where("sorteo", "success", service="server"), timeout=60)
    for other in OTHERS:
        assert c.wait_exit(other, timeout=60) == 0


# moment -> (how to reach it, the services held back at the start, client3's environment)
MOMENTS = {
    "before-first-batch": (before_first_batch, [SIGNALLED, *OTHERS], {}),
    "after-k-batches": (after_k_batches, OTHERS, {"CLI_BATCH_MAXAMOUNT": "1"}),
    "while-polling": (polling_for_winners, OTHERS, {}),
    "after-the-draw": (after_the_draw, OTHERS, {"CLI_BACKOFF_INITIAL": "60", "CLI_BACKOFF_MAX": "60"}),
}
TARGETS = {"client": [SIGNALLED], "server": ["server"], "everything": ["server", SIGNALLED]}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("moment", MOMENTS)
def test_sigterm(cluster, agency_data, moment, target):
    reach, held_back, client3_env = MOMENTS[moment]
    data = agency_data(agencies=3, bets=BETS, winners=WINNERS)
    with cluster(
        clients=3,
        data=data,
        server_env={"WINNERS_HOLD": "0.2"},
        client_env={"CLI_LOG_LEVEL": "DEBUG"},  # the `consulta_ganadores | in_progress` lines
        per_client_env={3: client3_env},
        deferred=held_back,
    ) as c:
        reach(c)
        running = {service for service, container in c.containers().items() if container.status == "running"}
        assert running == {"server", SIGNALLED}  # so "everything" is everything
        for service in TARGETS[target]:
            c.signal(service, "SIGTERM")

        for service in TARGETS[target]:
            assert_graceful_exit(c, service, grace=GRACE)
        events = c.events()
        if SIGNALLED in TARGETS[target]:
            assert events.last("shutdown", "success", service=SIGNALLED).get("reason") == "SIGTERM"
        if "server" in TARGETS[target]:
            workers = events.first("config", "success", service="server").int_field("workers")
            assert events.count("worker_stop", "success", service="server") == workers
        assert_acknowledged_bets_stored(c, data)

        if target == "client":
            if moment == "before-first-batch":
                c.reconnect("server")
            if moment != "after-the-draw":
                c.start(*OTHERS)
            for agency, other in enumerate(OTHERS, start=1):  # served to the end, client3 or no client3
                finished = c.wait_for(where("finalizado", "success", service=other), timeout=60)
                assert finished.int_field("total") == BETS[agency]
            assert c.status(SIGNALLED) == "exited"

            c.start(SIGNALLED)  # agency 3 comes back and completes
            c.wait_exit_all_clients(timeout=90)
            events = c.events()
            assert_one_draw_before_winners(events)
            assert_winners(events, data.expected_winners)
            assert_all_bets_stored(c, data)
