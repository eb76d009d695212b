"""SIGTERM at random points: every service exits 0 within its grace, no acknowledged bet is lost.

``--harness-trials N`` (or HARNESS_TRIALS) sets how many trials, 20 by default; each trial's
seed is ``--harness-seed`` (HARNESS_SEED, else a fresh one) plus its number, and a failing one
names the seed that replays it. All trials reuse one cluster: a trial empties the store and
starts every service again, so each costs seconds, not a compose up.
"""

import pytest

from harness.trials import sigterm_trial

pytestmark = [pytest.mark.scenario, pytest.mark.slow]

GRACE = 10


def test_sigterm_a_random_service_at_a_random_event(
    cluster, agency_data, harness_trials, harness_seed, harness_figures
):
    data = agency_data(agencies=3, bets={1: 20, 2: 40, 3: 40}, winners={1: 1, 2: 1, 3: 0})
    services = ["server", "client1", "client2", "client3"]
    print(f"\n{harness_trials} trials from seed {harness_seed}")
    with cluster(clients=3, data=data, client_env={"CLI_BATCH_MAXAMOUNT": "5"}, deferred=services) as c:
        for trial in range(harness_trials):
            result = sigterm_trial(c, data, trial, harness_seed + trial, grace=GRACE)
            print(result)
            harness_figures.add("randomized SIGTERM trials passed")
            harness_figures.add("randomized SIGTERMs delivered mid-run", int(result.delivered))
