"""The session host's health checks and reconnects, in-process with simulator sessions and the
real Redis. Periods are shortened through the host's constructor; the rules are the same."""

from __future__ import annotations

import json
import threading

import pytest

from tests.polling import wait_for
from webapp.core.credentials import derive_key
from workers.queue import keys
from workers.session_host.host import SessionHost
from workers.session_host.rpc import SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork

KEY = derive_key("health test key")


@pytest.fixture
def make_host(redis_client, tmp_path):
    hosts = []

    def make(**health):
        host = SessionHost(
            redis_client, KEY, store_dir=tmp_path, lease_ms=3000, host_id="h1", **health
        )
        thread = threading.Thread(target=host.run, daemon=True)
        thread.start()
        hosts.append((host, thread))
        return host

    yield make
    for host, thread in hosts:
        host.shutdown()
        thread.join(timeout=10)


def events(redis_client, kind=None):
    found = [json.loads(f[b"data"]) for _, f in redis_client.xrange(keys.SESSION_EVENTS)]
    return [e for e in found if kind is None or e["kind"] == kind]


def linked_session(redis_client, session_id="session-1"):
    """List a simulator session, wait for its host, scan it; return an RPC client."""
    options = {"backoff_base": 0.05, "jitter": 0}
    redis_client.hset(
        keys.DESIRED_SESSIONS,
        session_id,
        json.dumps({"transport": "simulator", "options": options}),
    )
    redis_client.publish(keys.SESSIONS_CHANGED, session_id)
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: redis_client.exists(keys.lease(session_id)))
    client.call(session_id, "simulate", action="scan", params={"phone": "6289900000009"})
    return client


def fault(client, name, session_id="session-1", **params):
    return client.call(session_id, "simulate", action="fault", params={"fault": name, **params})


def test_a_slow_round_trip_is_published_as_a_warning(redis_client, make_host):
    make_host(health_interval_s=0.1, health_slow_s=0.2)
    client = linked_session(redis_client)
    fault(client, "latency", ms=300)
    slow = wait_for(lambda: [e for e in events(redis_client, "health") if e["slow"]])[0]
    assert slow["ok"] is True and slow["latency_ms"] >= 300
    assert "slow" in slow["warning"] and slow["failures"] == 0

    fault(client, "clear")
    recovered = wait_for(
        lambda: [e for e in events(redis_client, "health") if e["ok"] and not e["warning"]]
    )[0]
    assert recovered["latency_ms"] < 200


def test_failures_in_a_row_make_the_host_reconnect(redis_client, make_host):
    make_host(health_interval_s=0.1, health_max_failures=2)
    client = linked_session(redis_client)
    fault(client, "send_errors", rate=1.0)
    reconnect = wait_for(
        lambda: [e for e in events(redis_client, "health") if e.get("action") == "reconnect"]
    )[0]
    assert reconnect["failures"] == 3 and reconnect["ok"] is False
    failures = [e["failures"] for e in events(redis_client, "health")]
    assert failures[:3] == [1, 2, 3]
    # The reconnect stopped and started the transport: it resumed its login without a scan.
    after = wait_for(
        lambda: [
            e
            for e in events(redis_client, "status")
            if e["at"] > reconnect["at"] and e["status"] == "connected"
        ]
    )
    assert after[0]["phone"] == "6289900000009"
    assert [e for e in events(redis_client, "qr") if e["at"] > reconnect["at"]] == []
    fault(client, "clear")


def test_a_session_without_traffic_is_flagged_idle_until_it_sends(redis_client, make_host):
    make_host(health_interval_s=0.1, idle_after_s=0.3)
    client = linked_session(redis_client)
    idle = wait_for(lambda: [e for e in events(redis_client, "health") if e["idle"]])[0]
    assert idle["ok"] is True and idle["idle_s"] >= 0 and idle["warning"].startswith("idle")
    client.call("session-1", "send", message_id=1, jid="6281234567890@s.whatsapp.net", text="Halo")
    wait_for(
        lambda: [
            e for e in events(redis_client, "health") if not e["idle"] and e["at"] > idle["at"]
        ]
    )


def test_healthy_sessions_publish_nothing(redis_client, make_host):
    host = make_host(health_interval_s=3600)
    linked_session(redis_client)
    wait_for(lambda: host.state.get("session-1", {}).get("status") == "connected")
    for _ in range(3):
        host.check_health()
    assert events(redis_client, "health") == []
    assert host._health["session-1"].failures == 0


def test_the_reconnect_call_stops_and_starts_the_transport(redis_client, make_host):
    make_host(health_interval_s=3600)
    client = linked_session(redis_client)
    fault(client, "ban")
    wait_for(lambda: [e for e in events(redis_client, "status") if e["status"] == "banned"])
    before = len(events(redis_client, "status"))
    # Still banned after a reconnect: the ban belongs to the network, not to the connection.
    answer = client.call("session-1", "reconnect")
    assert answer["status"] == "banned" and answer["host"] == "h1"
    assert [e["status"] for e in events(redis_client, "status")[before:]] == [
        "connecting",
        "banned",
    ]
    SimulatedNetwork(redis_client).clear_faults("session-1")
    assert client.call("session-1", "reconnect")["status"] == "connected"
