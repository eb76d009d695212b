"""Exercise 5: an agency without a file sends the one bet of its NOMBRE..NUMERO environment; the
server stores exactly that bet and the agency learns whether it won."""

import pytest

from harness.assertions import assert_no_failures, assert_winners
from harness.store import StoredBet

pytestmark = pytest.mark.scenario

# Agency 1's bet wins (7574), agency 2's does not; accents must survive env -> frame -> store.
BETS = {
    1: {
        "NOMBRE": "María José",
        "APELLIDO": "Núñez",
        "DOCUMENTO": "30904465",
        "NACIMIENTO": "1999-03-17",
        "NUMERO": "7574",
    },
    2: {
        "NOMBRE": "Søren",
        "APELLIDO": "D'Alessandro",
        "DOCUMENTO": "27123456",
        "NACIMIENTO": "1985-11-02",
        "NUMERO": "42",
    },
}


def test_env_bet_is_sent_and_stored(cluster, agency_data):
    no_files = agency_data(agencies=0, bets=0)
    env = {agency: {"CLI_DATA_PATH": "/data/no-such-agency-file.csv", **bet} for agency, bet in BETS.items()}
    with cluster(clients=2, data=no_files, per_client_env=env) as c:
        c.wait_exit_all_clients(timeout=60)
        events = c.events()

        for agency, bet in BETS.items():
            assert events.first("config", "success", service=f"client{agency}").get("bets") == "env NOMBRE..NUMERO"
            sent = events.first("apuesta_enviada", "success", service=f"client{agency}")
            assert sent is not None, f"client{agency} logged no apuesta_enviada"
            assert (sent.get("dni"), sent.get("numero")) == (bet["DOCUMENTO"], bet["NUMERO"])
            stored = events.filter("apuesta_almacenada", "success", service="server", dni=bet["DOCUMENTO"])
            assert [(e.get("dni"), e.get("numero")) for e in stored] == [(bet["DOCUMENTO"], bet["NUMERO"])]

        assert sorted(c.read_store(), key=lambda row: row.agency) == [
            StoredBet(agency, bet["NOMBRE"], bet["APELLIDO"], bet["DOCUMENTO"], bet["NACIMIENTO"], int(bet["NUMERO"]))
            for agency, bet in BETS.items()
        ]
        assert events.count("apuesta_recibida", service="server") == 0  # single bets, no batches
        assert_winners(events, {1: [BETS[1]["DOCUMENTO"]], 2: []})
        assert_no_failures(events)
