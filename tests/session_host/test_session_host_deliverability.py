"""The session host's "typing..." before a send and its check of numbers, in-process with
simulator transports against the real Redis."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.polling import wait_for
from tests.session_host.test_session_host import desire, make_host  # noqa: F401 - fixture
from workers.queue import keys
from workers.session_host.rpc import RpcError, SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork

CUSTOMER = "6281234567890"
NO_WHATSAPP = "6281200000002"


@pytest.fixture
def linked(redis_client, make_host):  # noqa: F811
    """An RPC client to "session-1", a simulator session linked to a number."""
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    wait_for(lambda: _scanned(client))
    return client


def _scanned(client: SessionHostClient) -> bool:
    try:
        client.call("session-1", "simulate", action="scan", params={"phone": "6289900000001"})
    except RpcError:
        return False  # started, but not showing its QR yet
    return True


def _moment(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_typing_is_shown_for_typing_ms_before_the_message(redis_client, linked):
    jid = f"{CUSTOMER}@s.whatsapp.net"
    linked.call("session-1", "send", message_id=1, jid=jid, text="Halo", typing_ms=300)
    network = SimulatedNetwork(redis_client)
    (typing,) = network.presence(CUSTOMER)
    (message,) = network.inbox(CUSTOMER)
    assert typing["state"] == "typing" and typing["sessionId"] == "session-1"
    # Both times are the simulator's clock, kept to the millisecond.
    assert _moment(message["receivedAt"]) - _moment(typing["at"]) >= 0.299

    linked.call("session-1", "send", message_id=2, jid=jid, text="Tanpa mengetik")
    assert len(network.presence(CUSTOMER)) == 1 and len(network.inbox(CUSTOMER)) == 2


def test_numbers_are_checked_against_the_simulated_network(redis_client, linked):
    network = SimulatedNetwork(redis_client)
    marked = linked.call(
        "session-1", "simulate", action="not_on_whatsapp", params={"phones": [f"+{NO_WHATSAPP}"]}
    )
    assert marked == {"phones": [NO_WHATSAPP], "onWhatsApp": False}

    answer = linked.call("session-1", "check_numbers", phones=[CUSTOMER, NO_WHATSAPP])
    assert answer == {CUSTOMER: True, NO_WHATSAPP: False}
    assert network.checks() == 1

    linked.call("session-1", "simulate", action="on_whatsapp", params={"phones": [NO_WHATSAPP]})
    assert linked.call("session-1", "check_numbers", phones=[NO_WHATSAPP]) == {NO_WHATSAPP: True}


@pytest.mark.parametrize("phones", [[], "6281200000002", ["not a number"]])
def test_marking_numbers_needs_a_list_of_numbers(linked, phones):
    with pytest.raises(RpcError) as caught:
        linked.call("session-1", "simulate", action="not_on_whatsapp", params={"phones": phones})
    assert caught.value.code == "bad_request"


def test_a_session_that_is_not_linked_cannot_check(redis_client, make_host):  # noqa: F811
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    with pytest.raises(RpcError) as caught:
        client.call("session-1", "check_numbers", phones=[CUSTOMER])
    assert caught.value.code == "not_connected"
