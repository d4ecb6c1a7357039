"""The neonize transport's health-check ping, on the stand-in client of the transport tests."""

from __future__ import annotations

import pytest
from neonize.events import ConnectedEv

from tests.session_host.transports.test_neonize_transport import (  # noqa: F401 - fixtures
    FakeClient,
    Recorder,
    connecting,
    make,
    store,
    workdir,
)
from workers.session_host.transports.base import NotConnected


def test_ping_needs_a_started_connected_and_logged_in_client(make):  # noqa: F811
    clients: list[FakeClient] = []
    recorder = Recorder()
    transport = make(recorder, clients)
    with pytest.raises(NotConnected):
        transport.ping()  # not started
    transport.start()
    client = connecting(clients)
    client.is_connected, client.is_logged_in = True, True
    with pytest.raises(NotConnected):
        transport.ping()  # still connecting: the Go client is not asked
    client.fire(ConnectedEv(status=True))
    recorder.wait_status("connected")
    transport.ping()

    client.is_connected = False
    with pytest.raises(NotConnected, match="closed"):
        transport.ping()
    client.is_connected, client.is_logged_in = True, False
    with pytest.raises(NotConnected, match="logged in"):
        transport.ping()

    transport.stop()
    with pytest.raises(NotConnected):
        transport.ping()
