"""The Swarm backend itself (one node: this engine): the replicated shape, exit codes from task
states, and a teardown that leaves nothing of the stack. The scenarios shared with compose run on
swarm with ``--harness-backend swarm`` (``make swarm-scenarios``)."""

import pytest

from harness.assertions import assert_all_bets_stored, assert_no_failures, assert_winners
from harness.labels import SWARM_STACK_LABEL

pytestmark = pytest.mark.scenario


def test_replicated_client_service_takes_agencies_from_task_slots(cluster, agency_data, harness_swarm):
    """One `client` service, 12 replicas: each task is the agency of its slot, events are named
    client1..client12, and every agency gets exactly its winners."""
    planted = {agency: agency % 3 for agency in range(1, 13)}
    data = agency_data(agencies=12, bets=30, winners=planted)
    with cluster(clients=12, data=data, backend="swarm", shape="replicated") as c:
        services = harness_swarm.manager.services.list(filters={"label": f"{SWARM_STACK_LABEL}={c.project}"})
        assert sorted(s.name for s in services) == [f"{c.project}_client", f"{c.project}_server"]
        for service in services:  # by ID: a task whose image is a tag tries a pull from its registry first
            image = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            tag = c.spec.server_image if service.name.endswith("_server") else c.spec.client_image
            assert image == harness_swarm.manager.images.get(tag).id, (service.name, image)
        codes = c.wait_exit_all_clients(timeout=120)
        assert codes == {f"client{agency}": 0 for agency in range(1, 13)}
        events = c.events()
        assert_winners(events, data.expected_winners)
        assert_all_bets_stored(c, data)
        assert_no_failures(events)
        assert {e.service for e in events.filter(action="finalizado")} == set(codes)
        assert events.count("finalizado", "success") == 12  # each line once: the catch-up deduplicates
        for service, container in c.containers().items():  # every line of every task, exactly once
            assert c.hub.lines(service) == container.logs().decode().splitlines(), service


def test_exit_codes_come_from_task_states(cluster, agency_data):
    """A client refusing its configuration ends its task `failed` with exit 2; the others `complete` 0."""
    data = agency_data(agencies=2, bets=5)
    with cluster(clients=2, data=data, backend="swarm", per_client_env={2: {"CLI_BATCH_MAXAMOUNT": "zero"}}) as c:
        assert c.wait_exit("client2", timeout=60) == 2
        assert c.events().first("config", "fail", service="client2") is not None
        assert c.status("client2") == "exited"


def test_teardown_removes_the_stack(cluster, agency_data, harness_swarm):
    data = agency_data(agencies=2, bets=5)
    c = cluster(clients=2, data=data, backend="swarm")
    with c:
        c.wait_exit_all_clients(timeout=60)
    selector = {"label": f"{SWARM_STACK_LABEL}={c.project}"}
    manager = harness_swarm.manager
    assert manager.services.list(filters=selector) == []
    assert manager.networks.list(filters=selector) == []
    assert manager.configs.list(filters=selector) == []
    assert manager.containers.list(ignore_removed=True, all=True, filters=selector) == []
