"""The session host in-process with simulator transports, against the real Redis."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis.exceptions as redis_errors
import sqlalchemy as sa

from tests.polling import wait_for
from webapp import config
from webapp.core.credentials import CredentialStore, derive_key, engine_for, session_credentials
from workers.queue import keys
from workers.queue.contracts import Band
from workers.session_host.host import SessionHost, wa_message_id
from workers.session_host.rpc import RpcError, SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork

KEY = derive_key("test key")


@pytest.fixture
def make_host(redis_client, tmp_path):
    hosts = []

    def make(host_id, lease_ms=3000, store_dir=tmp_path, key=KEY):
        host = SessionHost(
            redis_client, key, store_dir=store_dir, lease_ms=lease_ms, host_id=host_id
        )
        thread = threading.Thread(target=host.run, daemon=True)
        thread.start()
        hosts.append((host, thread))
        return host

    yield make
    for host, thread in hosts:
        host.shutdown()
        thread.join(timeout=10)


def stored_row(session_id):
    with engine_for(config.DATABASE_URL).connect() as conn:
        return conn.execute(
            sa.select(session_credentials).where(session_credentials.c.session_id == session_id)
        ).first()


def desire(redis_client, session_id, transport="simulator"):
    redis_client.hset(keys.DESIRED_SESSIONS, session_id, json.dumps({"transport": transport}))
    redis_client.publish(keys.SESSIONS_CHANGED, session_id)


def events(redis_client, kind=None):
    found = [json.loads(f[b"data"]) for _, f in redis_client.xrange(keys.SESSION_EVENTS)]
    return [e for e in found if kind is None or e["kind"] == kind]


def test_a_listed_session_is_started_and_shows_a_qr(redis_client, make_host):
    make_host("h1")
    desire(redis_client, "session-1")
    qr = wait_for(lambda: events(redis_client, "qr"))[0]
    assert qr["session_id"] == "session-1" and qr["code"]
    assert redis_client.get(keys.lease("session-1")) == b"h1"
    # Every event wakes a folder through the queue.
    assert redis_client.hlen(f"dramatiq:{Band.EVENTS}.msgs") >= 1


def test_one_session_is_held_by_one_host_only(redis_client, make_host):
    desire(redis_client, "session-1")
    first = make_host("h1")
    wait_for(lambda: first.held_sessions())
    second = make_host("h2")
    second.reconcile()
    assert second.held_sessions() == []
    assert first.held_sessions() == ["session-1"]


def test_sends_are_idempotent_per_message(redis_client, make_host):
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    client.call("session-1", "simulate", action="scan", params={"phone": "6289900000001"})
    first = client.call(
        "session-1", "send", message_id=42, jid="6281234567890@s.whatsapp.net", text="Halo"
    )
    again = client.call(
        "session-1", "send", message_id=42, jid="6281234567890@s.whatsapp.net", text="Halo"
    )
    assert first["wa_message_id"] == wa_message_id("42") == again["wa_message_id"]
    assert again["duplicate"] is True
    inbox = SimulatedNetwork(redis_client).inbox("6281234567890")
    assert [m["messageId"] for m in inbox] == [wa_message_id("42")]
    receipts = wait_for(
        lambda: len(events(redis_client, "receipt")) >= 2 and events(redis_client, "receipt")
    )
    assert {r["status"] for r in receipts} == {"delivered", "read"}
    assert all(r["message_id"] == "42" for r in receipts)


def test_a_batch_stops_when_its_time_is_spent_and_leaves_the_rest_unclaimed(
    redis_client, make_host
):
    """A batch never goes on sending after its caller gave up: past ``budget_s`` the rest are
    answered ``later`` without being claimed, so the caller (or anyone) may send them next."""
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=10)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    client.call("session-1", "simulate", action="scan", params={"phone": "6289900000001"})
    client.call("session-1", "simulate", action="fault", params={"fault": "latency", "ms": 300})
    batch = [
        {"message_id": n, "jid": f"62812000000{n:02d}@s.whatsapp.net", "text": f"Info {n}"}
        for n in range(1, 6)
    ]
    answer = client.call("session-1", "send_batch", messages=batch, budget_s=0.5)

    states = [r["state"] if r["state"] == "sent" else r["code"] for r in answer["results"]]
    sent = states.count("sent")  # 300 ms each: about two fit in 0.5 s
    assert 1 <= sent < 5 and states == ["sent"] * sent + ["later"] * (5 - sent), states
    for n, state in enumerate(states, 1):
        record = redis_client.get(keys.sent_record(str(n)))
        assert (json.loads(record)["state"] if record else None) == (
            "sent" if state == "sent" else None
        )


def test_a_send_on_an_unpaired_session_is_refused_and_can_be_retried(redis_client, make_host):
    make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: redis_client.exists(keys.lease("session-1")))
    with pytest.raises(RpcError) as caught:
        client.call(
            "session-1", "send", message_id=7, jid="6281234567890@s.whatsapp.net", text="Halo"
        )
    assert caught.value.code == "not_connected"
    assert not redis_client.exists(keys.sent_record("7"))


def test_a_dead_hosts_sessions_are_taken_over(redis_client, make_host, tmp_path):
    desire(redis_client, "session-1")
    # A host that claimed the session and died without releasing it (kill -9): its lease
    # would live on for 15 s, but its heartbeat is gone, so the session is free at once.
    redis_client.set(keys.lease("session-1"), "dead-host", px=15_000)
    started = time.monotonic()
    survivor = make_host("h2")
    wait_for(lambda: survivor.held_sessions() == ["session-1"], timeout=10)
    assert redis_client.get(keys.lease("session-1")) == b"h2"
    assert time.monotonic() - started < 5


def test_a_live_hosts_sessions_are_not_taken(redis_client, make_host):
    desire(redis_client, "session-1")
    redis_client.set(keys.lease("session-1"), "busy-host", px=15_000)
    redis_client.set(keys.host("busy-host"), "[]", px=15_000)
    other = make_host("h2")
    other.reconcile()
    assert other.held_sessions() == []


def test_a_paired_session_resumes_after_a_restart_without_a_new_scan(redis_client, make_host):
    host = make_host("h1")
    desire(redis_client, "session-1")
    client = SessionHostClient(redis_client, timeout=5)
    wait_for(lambda: host.held_sessions())
    client.call("session-1", "simulate", action="scan", params={"phone": "6289900000002"})
    host.shutdown()
    wait_for(lambda: not redis_client.exists(keys.lease("session-1")))
    redis_client.delete(keys.SESSION_EVENTS)
    make_host("h2")
    connected = wait_for(
        lambda: [e for e in events(redis_client, "status") if e["status"] == "connected"]
    )
    assert connected[0]["phone"] == "6289900000002" and connected[0]["host"] == "h2"
    assert events(redis_client, "qr") == []


def test_removed_sessions_are_stopped_and_released(redis_client, make_host):
    host = make_host("h1")
    desire(redis_client, "session-1")
    wait_for(lambda: host.held_sessions())
    redis_client.hdel(keys.DESIRED_SESSIONS, "session-1")
    redis_client.publish(keys.SESSIONS_CHANGED, "session-1")
    wait_for(lambda: host.held_sessions() == [])
    # The lease goes only once the client has stopped, so no second client can overlap it.
    wait_for(lambda: not redis_client.exists(keys.lease("session-1")))


def test_credentials_in_the_database_are_encrypted(redis_client, make_host, tmp_path):
    host = make_host("h1")
    desire(redis_client, "session-1")
    wait_for(lambda: host.held_sessions())
    SessionHostClient(redis_client, timeout=5).call(
        "session-1", "simulate", action="scan", params={"phone": "6289900000003"}
    )
    row = wait_for(lambda: stored_row("session-1"))
    assert b"6289900000003" not in bytes(row.blob)
    assert list(tmp_path.iterdir()) == []  # nothing on the host's disk


def test_a_second_host_with_another_instance_dir_takes_the_number_over(
    redis_client, make_host, tmp_path, monkeypatch
):
    first_dir, second_dir = tmp_path / "machine-a", tmp_path / "machine-b"
    monkeypatch.setenv("KABAR_INSTANCE_DIR", str(first_dir))
    first = make_host("h1", store_dir=first_dir / "sessions")
    desire(redis_client, "session-1")
    wait_for(lambda: first.held_sessions())
    SessionHostClient(redis_client, timeout=5).call(
        "session-1", "simulate", action="scan", params={"phone": "6289900000004"}
    )
    wait_for(lambda: stored_row("session-1"))
    first.shutdown()
    wait_for(lambda: not redis_client.exists(keys.lease("session-1")))
    redis_client.delete(keys.SESSION_EVENTS)
    monkeypatch.setenv("KABAR_INSTANCE_DIR", str(second_dir))  # its client processes' too
    make_host("h2", store_dir=second_dir / "sessions")
    connected = wait_for(
        lambda: [e for e in events(redis_client, "status") if e["status"] == "connected"]
    )
    assert connected[0]["phone"] == "6289900000004" and connected[0]["host"] == "h2"
    assert events(redis_client, "qr") == []
    assert not (second_dir / "sessions").exists()  # nothing was read from a shared disk


def test_a_blob_of_another_key_costs_only_its_session(redis_client, make_host, tmp_path):
    CredentialStore(tmp_path, "session-9", derive_key("another installation")).save(b"{}")
    make_host("h1")
    desire(redis_client, "session-9")
    desire(redis_client, "session-1")
    failed = wait_for(
        lambda: [e for e in events(redis_client, "status") if e["status"] == "failed"]
    )
    assert failed[0]["session_id"] == "session-9"
    assert "session session-9" in failed[0]["reason"] and "another" in failed[0]["reason"]
    qr = wait_for(lambda: events(redis_client, "qr"))
    assert [e["session_id"] for e in qr] == ["session-1"]


class _CutOff:
    """A transport whose send fails as Redis goes down: the host cannot write what happened."""

    def __init__(self, host, error):
        self.host, self.error, self.sends = host, error, 0

    def send_text(self, jid, text, wa_id):
        self.sends += 1
        client = self.host.redis
        real = client.set, client.delete

        def down(*args, **kwargs):
            client.set, client.delete = real  # Redis is back for the next call
            raise redis_errors.ConnectionError("Redis went away")

        client.set = client.delete = down
        raise self.error

    def send_presence(self, jid, typing):
        pass


@pytest.mark.parametrize("error", [RuntimeError("client died"), None])
def test_a_send_cut_off_by_redis_is_settled_once_redis_answers(redis_client, error):
    """The host's claim outlived a Redis failure that kept it from writing the send's end: the
    next attempt must not read it as a send still in progress of this (live) host forever."""
    from workers.session_host.transports import TransportError

    host = SessionHost(redis_client, KEY, host_id="h-cut")
    try:
        failure = error or TransportError("not connected", code="not_connected")
        transport = _CutOff(host, failure)
        item = {"message_id": 77, "jid": "628123@s.whatsapp.net", "text": "Halo"}
        with pytest.raises(redis_errors.ConnectionError):
            host._send_batch("session-1", transport, {"messages": [item]})
        assert json.loads(redis_client.get(keys.sent_record("77")))["host"] == "h-cut"
        host._settle_leftovers()
        record = json.loads(redis_client.get(keys.sent_record("77")) or "{}")
        if error is None:  # nothing went out: claimable again
            assert record == {}
        else:  # it may have gone out: never again, and no live host is named
            assert record.get("outcome") == "unknown" and "host" not in record
    finally:
        host.shutdown()


class _Sends:
    """A transport that sends at once; ``during`` runs inside each send, as another thread
    of the host would meanwhile."""

    def __init__(self, during=None):
        self.sent, self.during = [], during

    def send_text(self, jid, text, wa_id):
        if self.during:
            self.during()
        self.sent.append(wa_id)
        return type("Sent", (), {"wa_message_id": wa_id, "sent_at": "2026-12-01T00:00:00Z"})()

    def send_presence(self, jid, typing):
        pass


def _items(*ids):
    return [{"message_id": i, "jid": "628123@s.whatsapp.net", "text": "Halo"} for i in ids]


def test_a_message_another_call_sends_does_not_keep_the_one_before_unrecorded(redis_client):
    host = SessionHost(redis_client, KEY, host_id="h-busy")
    try:
        with host._lock:
            host._claimed.add("2")  # another call of this host is sending message 2
        results = host._send_batch("session-1", _Sends(), {"messages": _items(1, 2)})["results"]
        assert results[0]["state"] == "sent"
        assert json.loads(redis_client.get(keys.sent_record("1")))["state"] == "sent"
        assert results[1]["code"] == "send_in_progress"
    finally:
        host.shutdown()


def test_settling_a_cut_off_send_never_deletes_the_claim_of_its_new_send(redis_client):
    """A stale "nothing went out" settled while this host sends the message again: the claim
    of the send in flight must stay, or another host could send it too."""
    from workers.session_host.host import _FORGET

    host = SessionHost(redis_client, KEY, host_id="h-stale")
    try:
        seen = {}

        def stale_settle():
            host._unsettled["9"] = _FORGET  # an outcome another thread still holds a copy of
            host._settle_leftovers()
            seen["claim"] = redis_client.get(keys.sent_record("9"))

        transport = _Sends(during=stale_settle)
        host._send_batch("session-1", transport, {"messages": _items(9)})
        assert seen["claim"] is not None, "the claim of the send in flight was deleted"
        assert transport.sent == [wa_message_id("9")]
    finally:
        host.shutdown()


def test_a_redis_blip_while_settling_a_cut_off_send_keeps_that_nothing_went_out(redis_client):
    """Writing a cut-off send's "nothing went out" fails once: the next attempt must still
    know it, and send the message, not take it for one that may have gone out."""
    from workers.session_host.host import _FORGET

    host = SessionHost(redis_client, KEY, host_id="h-blip")
    try:
        claim = {"state": "sending", "host": "h-blip", "session_id": "session-1"}
        redis_client.set(keys.sent_record("5"), json.dumps(claim))
        host._unsettled["5"] = _FORGET
        real, calls = host._write_outcome, []

        def blip(message_id, outcome):
            calls.append(message_id)
            if len(calls) == 1:
                raise redis_errors.ConnectionError("blip")
            return real(message_id, outcome)

        host._write_outcome = blip
        host._settle_leftovers = lambda: None  # the take itself meets the cut-off claim
        with pytest.raises(redis_errors.ConnectionError):
            host._send_batch("session-1", _Sends(), {"messages": _items(5)})
        transport = _Sends()
        host._send_batch("session-1", transport, {"messages": _items(5)})
        assert transport.sent == [wa_message_id("5")]
    finally:
        host.shutdown()
