"""The Redis RPC between workers and session hosts, against the real Redis."""

from __future__ import annotations

import json
import threading
import time

import pytest

from workers.queue import keys, signing
from workers.session_host.rpc import (
    HostGone,
    RpcError,
    RpcServer,
    RpcTimeout,
    SessionHostClient,
    SessionNotHosted,
)


class Refused(Exception):
    code = "not_connected"


def handler(session_id, method, params):
    if method == "echo":
        return {"session": session_id, **params}
    if method == "refuse":
        raise Refused("phone is offline")
    raise RuntimeError("boom")


@pytest.fixture
def server(redis_client):
    redis_client.set(keys.lease("s1"), "test-host")
    redis_client.set(keys.host("test-host"), "[]")
    srv = RpcServer(redis_client, handler, lambda: ["s1"], poll_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [srv.serve_once() for _ in iter(stop.is_set, True)])
    thread.start()
    yield srv
    stop.set()
    thread.join()
    srv.close()


def test_a_call_returns_the_handlers_result(server, redis_client):
    client = SessionHostClient(redis_client, timeout=5)
    assert client.call("s1", "echo", x=1) == {"session": "s1", "x": 1}


def test_an_error_comes_back_with_its_code(server, redis_client):
    with pytest.raises(RpcError) as caught:
        SessionHostClient(redis_client, timeout=5).call("s1", "refuse")
    assert caught.value.code == "not_connected"
    assert caught.value.message == "phone is offline"
    with pytest.raises(RpcError) as caught:
        SessionHostClient(redis_client, timeout=5).call("s1", "explode")
    assert caught.value.code == "internal"


def test_a_session_no_host_holds_fails_at_once(redis_client):
    started = time.monotonic()
    with pytest.raises(SessionNotHosted):
        SessionHostClient(redis_client, timeout=5).call("nobody", "echo")
    assert time.monotonic() - started < 1


def test_a_silent_host_times_out(redis_client):
    redis_client.set(keys.lease("s2"), "hung-host")
    redis_client.set(keys.host("hung-host"), "[]")
    with pytest.raises(RpcTimeout):
        SessionHostClient(redis_client, timeout=0.2).call("s2", "echo")


def test_a_lease_whose_host_has_no_heartbeat_is_not_waited_for(redis_client):
    """A host killed with -9 leaves its leases behind for a while: its heartbeat is gone."""
    redis_client.set(keys.lease("s2"), "dead-host", px=15_000)
    started = time.monotonic()
    with pytest.raises(SessionNotHosted):
        SessionHostClient(redis_client, timeout=15).call("s2", "echo")
    assert time.monotonic() - started < 1


def test_a_caller_stops_waiting_when_its_host_dies_mid_call(redis_client):
    redis_client.set(keys.lease("s2"), "dying-host", px=15_000)
    redis_client.set(keys.host("dying-host"), "[]", px=500)  # its last heartbeat
    started = time.monotonic()
    with pytest.raises(HostGone) as caught:
        SessionHostClient(redis_client, timeout=15).call("s2", "send")
    assert caught.value.code == "host_gone"
    assert time.monotonic() - started < 5  # one heartbeat check after the host died, not 15 s


def _request(request_id, session_id="s3", deadline_in=30.0):
    return {
        "id": request_id,
        "session": session_id,
        "method": "echo",
        "params": {},
        "reply_to": keys.rpc_reply(request_id),
        "at": time.time(),
        "deadline": time.time() + deadline_in,
    }


def _serve(redis_client, *raw_requests):
    """Calls the handler saw for ``raw_requests`` pushed straight onto s3's queue."""
    calls = []
    srv = RpcServer(redis_client, lambda *a: calls.append(a), lambda: ["s3"], poll_s=0.1)
    for raw in raw_requests:
        redis_client.rpush(keys.rpc_requests("s3"), raw)
        assert srv.serve_once() is True
    srv.close()
    return calls


def test_a_request_whose_caller_gave_up_is_dropped(redis_client):
    expired = signing.seal(signing.RPC_REQUEST, _request("1", deadline_in=-1))
    assert _serve(redis_client, expired) == []
    assert redis_client.llen(keys.rpc_reply("1")) == 0


def test_a_signed_request_is_served_once_however_often_it_is_pushed(redis_client):
    signed = signing.seal(signing.RPC_REQUEST, _request("2"))
    assert len(_serve(redis_client, signed, signed)) == 1
    assert redis_client.llen(keys.rpc_reply("2")) == 1


def test_a_request_is_served_once_even_when_the_hosts_clock_lags_redis(redis_client, monkeypatch):
    """The host judges the deadline by its own clock: the record that the request was served
    must last as long by that clock, not by Redis' (a host 2 minutes behind Redis)."""
    from workers.session_host import rpc

    behind = time.time() - 120
    monkeypatch.setattr(rpc.time, "time", lambda: behind)
    signed = signing.seal(
        signing.RPC_REQUEST,
        {**_request("7"), "at": behind, "deadline": behind + 30},
    )
    assert len(_serve(redis_client, signed, signed)) == 1


def test_unsigned_forged_or_misdirected_requests_are_dropped(redis_client):
    body = json.dumps(_request("3"))
    wrong_key = signing.channel_key("another secret")
    requests = [
        json.dumps(_request("3")),  # unsigned, as every request was before
        json.dumps({"body": body, "sig": signing.sign(signing.RPC_REQUEST, body, wrong_key)}),
        json.dumps({"body": body, "sig": signing.sign(signing.RPC_REPLY, body)}),  # a reply's
        signing.seal(signing.RPC_REQUEST, _request("4", session_id="s1")),  # s1's, moved
        signing.seal(signing.RPC_REQUEST, _request("5", deadline_in=86_400)),  # far ahead
        b"not json",
    ]
    assert _serve(redis_client, *requests) == []
    assert not redis_client.keys(keys.rpc_reply("*"))


def test_a_reply_pushed_by_someone_else_is_ignored(server, redis_client):
    client = SessionHostClient(redis_client, timeout=5)
    real_push = redis_client.rpush

    def forge_first(key, *values):
        if key.startswith(keys.rpc_requests("")):
            request_id = json.loads(json.loads(values[0])["body"])["id"]
            forged = json.dumps({"body": json.dumps({"id": request_id, "result": "forged"})})
            real_push(keys.rpc_reply(request_id), forged)
        return real_push(key, *values)

    redis_client.rpush = forge_first
    assert client.call("s1", "echo", x=2) == {"session": "s1", "x": 2}


def test_a_caller_with_another_secret_is_told_so_at_once(server, redis_client, caplog):
    """Processes started with different KABAR_RPC_SECRETs: the call fails with an error naming
    the setting, not with a time-out, and the host logs the same."""
    other = SessionHostClient(redis_client, timeout=10, key=signing.channel_key("another secret"))
    started = time.monotonic()
    with pytest.raises(RpcError) as caught:
        other.call("s1", "echo", x=1)
    assert caught.value.code == "channel_key_mismatch"
    assert "KABAR_RPC_SECRET" in caught.value.message
    assert time.monotonic() - started < 5
    assert "refused an RPC request for s1: signed with another key" in caplog.text


def test_a_forged_request_with_a_made_up_key_id_is_still_only_dropped(server, redis_client):
    """Claiming another key gets a forger nothing: the request is not served."""
    body = json.dumps({"id": "f1", "session": "s1", "method": "echo", "params": {},
                       "reply_to": keys.rpc_reply("f1"), "deadline": time.time() + 5})  # fmt: skip
    redis_client.rpush(
        keys.rpc_requests("s1"), json.dumps({"body": body, "sig": "0" * 64, "kid": "x" * 16})
    )
    _, raw = redis_client.blpop([keys.rpc_reply("f1")], timeout=5)
    assert json.loads(raw) == {"other_key": True}
    assert not redis_client.exists(keys.rpc_seen("f1"))
