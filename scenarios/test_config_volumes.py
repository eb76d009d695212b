"""Exercise 2: the config files are mounted, not baked in: new values take effect on the next run
with the very same images."""

import pytest

from harness.assertions import assert_all_bets_stored, assert_full_batches, assert_no_failures, assert_winners

pytestmark = pytest.mark.scenario

FIRST = {"log_level": "INFO", "batch": 100, "backlog": 5}
SECOND = {"log_level": "DEBUG", "batch": 7, "backlog": 50}


def test_changed_config_files_take_effect_without_rebuild(cluster, agency_data, server_config_file, client_config_file):
    data = agency_data(agencies=2, bets=30, winners={1: 1, 2: 2})
    image_ids = []
    for values in (FIRST, SECOND):
        server_config = server_config_file(LOGGING_LEVEL=values["log_level"], SERVER_LISTEN_BACKLOG=values["backlog"])
        client_config = client_config_file({"log.level": values["log_level"], "batch.maxAmount": values["batch"]})
        with cluster(clients=2, data=data, server_config=server_config, client_config=client_config) as c:
            c.wait_exit_all_clients(timeout=60)
            events = c.events()

            server = events.first("config", "success", service="server")
            assert server.get("logging_level") == values["log_level"]
            assert server.int_field("listen_backlog") == values["backlog"]
            for client in ("client1", "client2"):
                config = events.first("config", "success", service=client)
                assert config.get("log_level") == values["log_level"]
                assert config.int_field("batch_max_amount") == values["batch"]

            # The values are not only echoed: they act.
            assert_full_batches(events, values["batch"])
            per_bet_lines = events.count("apuesta_almacenada", "success", service="server")
            assert per_bet_lines == (data.total_bets if values["log_level"] == "DEBUG" else 0)
            assert_winners(events, data.expected_winners)
            assert_all_bets_stored(c, data)
            assert_no_failures(events)

            image_ids.append({service: container.image.id for service, container in c.containers().items()})

    assert image_ids[0] == image_ids[1]
