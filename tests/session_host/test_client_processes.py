"""Each number's client in a process of its own: a crash costs that number only, for a while."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.polling import wait_for
from webapp.core.credentials import derive_key
from workers.queue import keys
from workers.session_host.host import SessionHost
from workers.session_host.rpc import SessionHostClient

KEY = derive_key("test key")
FAST_RESTART = {"backoff_base": 0.2, "backoff_cap": 1.0, "jitter": 0, "max_attempts": 3}


@pytest.fixture
def host(redis_client, tmp_path):
    host = SessionHost(redis_client, KEY, store_dir=tmp_path, lease_ms=3000, host_id="h1")
    thread = threading.Thread(target=host.run, daemon=True)
    thread.start()
    yield host
    host.shutdown()
    thread.join(timeout=15)


def desire(redis_client, session_id, transport="simulator", options=None):
    conf = {"transport": transport, "options": options or {}}
    redis_client.hset(keys.DESIRED_SESSIONS, session_id, json.dumps(conf))
    redis_client.publish(keys.SESSIONS_CHANGED, session_id)


def statuses(redis_client, session_id):
    found = [json.loads(f[b"data"]) for _, f in redis_client.xrange(keys.SESSION_EVENTS)]
    return [e for e in found if e["kind"] == "status" and e["session_id"] == session_id]


def pid_now(rpc, session_id):
    """The pid of the session's client process now, or None (not hosted yet, restarting)."""
    from workers.session_host.rpc import RpcError

    try:
        return rpc.call(session_id, "status").get("pid")
    except RpcError:
        return None


def pid_of(rpc, session_id, timeout=20):
    return wait_for(lambda: pid_now(rpc, session_id), timeout=timeout)


def linked(redis_client, host, rpc, *session_ids, options=None):
    for session_id in session_ids:
        desire(redis_client, session_id, options=options or FAST_RESTART)
    wait_for(lambda: sorted(host.held_sessions()) == sorted(session_ids))
    for n, session_id in enumerate(session_ids, 1):
        rpc.call(session_id, "simulate", action="scan", params={"phone": f"628990000010{n}"})
    return {sid: pid_of(rpc, sid) for sid in session_ids}


def send(rpc, session_id, message_id):
    return rpc.call(
        session_id, "send", message_id=message_id, jid="6281234567890@s.whatsapp.net", text="Halo"
    )


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone too: it only waits for its parent to read its exit code.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:  # reaped meanwhile
        return True


def test_each_number_runs_in_a_process_named_for_it(redis_client, host):
    rpc = SessionHostClient(redis_client, timeout=10)
    pids = linked(redis_client, host, rpc, "session-1", "session-2")
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    for session_id, pid in pids.items():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert session_id.encode() in argv, argv
        # Go reads NEONIZE_BOT_TAG when the library loads: it must be in the starting environment.
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert b"NEONIZE_BOT_TAG=off" in environ


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_a_crashed_client_costs_only_its_number_and_comes_back(redis_client, host, sig):
    rpc = SessionHostClient(redis_client, timeout=10)
    pids = linked(redis_client, host, rpc, "session-1", "session-2", "session-3")
    os.kill(pids["session-2"], sig)

    crashed = wait_for(
        lambda: [s for s in statuses(redis_client, "session-2") if "crashed" in s.get("reason", "")]
    )[0]
    assert crashed["status"] == "connecting" and crashed["attempt"] == 1
    expected = "SIGKILL" if sig == signal.SIGKILL else "Segmentation fault"
    assert expected in crashed["reason"], crashed["reason"]
    # The other numbers send while the crashed one restarts, from the same processes.
    assert send(rpc, "session-1", 1)["state"] == "sent"
    assert send(rpc, "session-3", 2)["state"] == "sent"
    assert pid_of(rpc, "session-1") == pids["session-1"]
    assert pid_of(rpc, "session-3") == pids["session-3"]
    # The stored login resumes in a new process: connected again without a scan.
    wait_for(lambda: statuses(redis_client, "session-2")[-1]["status"] == "connected")
    assert pid_of(rpc, "session-2") != pids["session-2"]
    assert send(rpc, "session-2", 3)["state"] == "sent"


def test_a_send_in_flight_when_its_client_dies_is_never_sent_again(redis_client, host):
    rpc = SessionHostClient(redis_client, timeout=10)
    pids = linked(redis_client, host, rpc, "session-1")
    rpc.call("session-1", "simulate", action="fault", params={"fault": "latency", "ms": 3000})
    answer = {}
    sender = threading.Thread(target=lambda: answer.update(r=_try_send(rpc, "session-1", 7)))
    sender.start()
    wait_for(lambda: redis_client.exists(keys.sent_record("7")))
    os.kill(pids["session-1"], signal.SIGKILL)
    sender.join(timeout=15)
    assert answer["r"] == "client_crashed"
    # It may have reached WhatsApp: the claim stays, so no retry anywhere sends it again.
    claim = json.loads(redis_client.get(keys.sent_record("7")))
    assert claim["state"] == "sending" and claim["outcome"] == "unknown"
    assert "host" not in claim  # no live host holds it: the operator may resend it
    wait_for(lambda: statuses(redis_client, "session-1")[-1]["status"] == "connected")
    assert _try_send(rpc, "session-1", 7) == "send_in_progress"


def _try_send(rpc, session_id, message_id):
    from workers.session_host.rpc import RpcError

    try:
        return send(rpc, session_id, message_id)["state"]
    except RpcError as exc:
        return exc.code


def test_a_client_that_keeps_crashing_ends_failed_with_its_last_words(redis_client, host):
    rpc = SessionHostClient(redis_client, timeout=10)
    pid = linked(redis_client, host, rpc, "session-1")["session-1"]
    for _ in range(FAST_RESTART["max_attempts"] + 1):
        seen = len(statuses(redis_client, "session-1"))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda p=pid: gone(p))
        # The host's word on this crash, not the status from before it.
        last = wait_for(
            lambda n=seen: (
                (found := statuses(redis_client, "session-1")[n:])
                and [s for s in found if "crashed" in s.get("reason", "")]
            )
        )[-1]
        if last["status"] == "failed":
            break
        pid = wait_for(lambda p=pid: (new := pid_now(rpc, "session-1")) not in (None, p) and new)
    failed = wait_for(lambda: statuses(redis_client, "session-1")[-1])
    assert failed["status"] == "failed"
    assert "crashed" in failed["reason"] and "SIGKILL" in failed["reason"]


def test_stopping_the_host_ends_every_client_within_seconds(redis_client, tmp_path):
    host = SessionHost(redis_client, KEY, store_dir=tmp_path, lease_ms=3000, host_id="h1")
    thread = threading.Thread(target=host.run, daemon=True)
    thread.start()
    rpc = SessionHostClient(redis_client, timeout=10)
    pids = linked(redis_client, host, rpc, "session-1", "session-2")
    started = time.monotonic()
    host.shutdown()
    thread.join(timeout=15)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert all(gone(pid) for pid in pids.values())


def test_a_real_neonize_client_offline_is_killed_mid_connect_and_restarted(redis_client, host):
    """neonize started with no route to WhatsApp: it fails to dial and retries; killed in the
    middle of that, its process is replaced, and the host still stops within seconds."""
    pytest.importorskip("neonize")
    rpc = SessionHostClient(redis_client, timeout=30)
    desire(redis_client, "session-9", transport="neonize", options=FAST_RESTART)
    first = pid_of(rpc, "session-9", timeout=30)
    wait_for(lambda: statuses(redis_client, "session-9"), timeout=30)
    os.kill(first, signal.SIGKILL)
    crashed = wait_for(
        lambda: [
            s for s in statuses(redis_client, "session-9") if "crashed" in s.get("reason", "")
        ],
        timeout=30,
    )
    assert "SIGKILL" in crashed[0]["reason"]
    second = wait_for(
        lambda: (pid := pid_now(rpc, "session-9")) not in (None, first) and pid, timeout=30
    )
    environ = Path(f"/proc/{second}/environ").read_bytes().split(b"\0")
    assert b"NEONIZE_BOT_TAG=off" in environ
    started = time.monotonic()
    host.shutdown()
    wait_for(lambda: gone(second), timeout=10)
    assert time.monotonic() - started < 10


def test_simulated_numbers_may_share_a_process_but_neonize_ones_never(redis_client, tmp_path):
    host = SessionHost(
        redis_client, KEY, store_dir=tmp_path, host_id="h1", sim_sessions_per_process=2
    )
    thread = threading.Thread(target=host.run, daemon=True)
    thread.start()
    try:
        rpc = SessionHostClient(redis_client, timeout=10)
        pids = linked(redis_client, host, rpc, "session-1", "session-2", "session-3")
        # Two share a process, the third has one of its own (which two depends on start order).
        assert sorted(list(pids.values()).count(p) for p in set(pids.values())) == [1, 2]
        desire(redis_client, "session-8", transport="neonize")
        desire(redis_client, "session-9", transport="neonize")
        neonize = {pid_of(rpc, "session-8", timeout=30), pid_of(rpc, "session-9", timeout=30)}
        assert len(neonize) == 2 and not neonize & set(pids.values())
    finally:
        host.shutdown()
        thread.join(timeout=15)


def test_receipts_owed_when_a_client_dies_arrive_after_it_comes_back(redis_client, host):
    """A real phone keeps its delivered/read receipts for a device that was offline."""
    rpc = SessionHostClient(redis_client, timeout=10)
    options = {**FAST_RESTART, "delivered_after": 1.5, "read_after": 2.0}
    pid = linked(redis_client, host, rpc, "session-1", options=options)["session-1"]
    sent = send(rpc, "session-1", 11)
    os.kill(pid, signal.SIGKILL)  # before either receipt is due

    def receipts():
        found = [json.loads(f[b"data"]) for _, f in redis_client.xrange(keys.SESSION_EVENTS)]
        return sorted(
            e["status"]
            for e in found
            if e["kind"] == "receipt" and e["wa_message_id"] == sent["wa_message_id"]
        )

    wait_for(lambda: receipts() == ["delivered", "read"], timeout=20)
    assert pid_of(rpc, "session-1") != pid
