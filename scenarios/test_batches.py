"""Exercise 6: bets travel in batches of `maxAmount` (the last one smaller), never in a frame over
8 kB, nothing is lost, and a batch the server refuses is a failure both ends report."""

import pytest

from harness.assertions import (
    MAX_FRAME_SIZE,
    assert_all_bets_stored,
    assert_batches_fit_frames,
    assert_full_batches,
    assert_no_failures,
    assert_winners,
    dataset_bets,
)
from harness.data import append_bets
from harness.logs import where

pytestmark = pytest.mark.scenario

TOTALS = {1: 1, 2: 64, 3: 99, 4: 1000}  # agency -> bets
MAX_AMOUNT = 32


def server_batches(events, agency):
    return [
        e.int_field("cantidad") for e in events.filter("apuesta_recibida", "success", service="server", agencia=agency)
    ]


def test_totals_and_batch_sizes(cluster, agency_data):
    data = agency_data(agencies=list(TOTALS), bets=TOTALS, winners={4: 3})
    with cluster(clients=len(TOTALS), data=data, client_env={"CLI_BATCH_MAXAMOUNT": str(MAX_AMOUNT)}) as c:
        c.wait_exit_all_clients(timeout=90)
        events = c.events()

        batches = assert_full_batches(events, MAX_AMOUNT)
        for agency, total in TOTALS.items():
            client = f"client{agency}"
            assert events.first("config", "success", service=client).int_field("batch_max_amount") == MAX_AMOUNT
            assert len(batches[agency]) == -(-total // MAX_AMOUNT), batches[agency]
            assert sum(batches[agency]) == total
            assert events.last("lote_confirmado", "success", service=client).int_field("total") == total
            finished = events.first("finalizado", "success", service=client)
            assert (finished.int_field("total"), finished.int_field("almacenadas")) == (total, total)
            assert server_batches(events, agency) == batches[agency]
        assert_all_bets_stored(c, data)
        assert_winners(events, data.expected_winners)
        assert_no_failures(events)


def test_long_utf8_names_make_smaller_batches_within_8_kb(cluster, agency_data):
    data = agency_data(agencies=2, bets=150, winners={1: 1, 2: 1}, long_names=True)
    with cluster(clients=2, data=data, client_env={"CLI_BATCH_MAXAMOUNT": "100"}) as c:
        c.wait_exit_all_clients(timeout=90)
        events = c.events()

        batches = events.batches_by_agency()
        for agency in data.agencies:
            assert len(batches[agency]) > 2, batches[agency]  # 150 bets of 100 would take 2
            assert all(count < 100 for count in batches[agency]), batches[agency]
            assert server_batches(events, agency) == batches[agency]
        sizes = assert_batches_fit_frames(events, data)
        assert max(max(per_agency) for per_agency in sizes.values()) > MAX_FRAME_SIZE // 2  # filled, not tiny
        assert_all_bets_stored(c, data)
        assert_winners(events, data.expected_winners)
        assert_no_failures(events)


def test_batch_refused_after_the_agency_finished(cluster, agency_data):
    """The agency ran to the end; its file then gets late bets and it runs again. The batches it had
    already sent are recognized (DUPLICATE); the first new one is refused, and both ends say so."""
    data = agency_data(agencies=1, bets=10, winners={1: 1})
    with cluster(clients=1, data=data, client_env={"CLI_BATCH_MAXAMOUNT": "5"}) as c:
        c.wait_exit_all_clients(timeout=60)
        on_time = dataset_bets(data, 1)

        append_bets(data, 1, bets=5)
        c.start("client1")
        assert c.wait_exit("client1", timeout=60) == 1
        events = c.events()

        refused = c.wait_for(where("lote_confirmado", "fail", service="client1"), timeout=5)
        assert (refused.int_field("lote"), refused.int_field("cantidad")) == (3, 5)
        assert refused.get("error").startswith("UNEXPECTED_MESSAGE")
        rejected = events.filter("apuesta_recibida", "fail", service="server")
        assert [(e.int_field("cantidad"), e.int_field("agencia")) for e in rejected] == [(5, 1)]
        assert "already finished" in rejected[0].get("error")
        assert [e.int_field("lote") for e in events.filter("lote_duplicado", "success", service="server")] == [1, 2]
        assert [
            (row.agency, row.first_name, row.last_name, row.document, row.birthdate, row.number)
            for row in c.read_store()
        ] == on_time
