"""Kabar against a Redis that asks for a password, reached with ``redis://:pass@host:port/db``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from tests.polling import wait_for
from tests.receivers import free_port
from workers.queue import keys
from workers.session_host.rpc import SessionHostClient
from workers.session_host.simulated_network import SimulatedNetwork

PASSWORD = "s3cret/pass@word"  # characters a URL must escape


@pytest.fixture
def locked_redis(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            PASSWORD,
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://:{PASSWORD.replace('/', '%2F').replace('@', '%40')}@127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    wait_for(lambda: _pings(client))
    yield url, client, port
    server.terminate()
    server.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def test_the_session_host_sends_through_a_redis_with_a_password(locked_redis, tmp_path):
    url, client, port = locked_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).set("kabar:probe", 1)
    env = {**os.environ, "REDIS_URL": url, "KABAR_SESSION_STORE": str(tmp_path / "sessions")}
    log = open(tmp_path / "host.log", "wb")  # noqa: SIM115 - closed below
    host = subprocess.Popen(
        [sys.executable, "-m", "workers.session_host"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client.hset(keys.DESIRED_SESSIONS, "s-pw", json.dumps({"transport": "simulator"}))
        client.publish(keys.SESSIONS_CHANGED, "s-pw")
        wait_for(lambda: client.exists(keys.lease("s-pw")), timeout=30)
        rpc = SessionHostClient(client, timeout=10)
        rpc.call("s-pw", "simulate", action="scan", params={"phone": "6289900000001"})
        rpc.call("s-pw", "send", message_id=7, jid="6281234567890@s.whatsapp.net", text="Halo")
        inbox = SimulatedNetwork(client).inbox("6281234567890")
        assert [m["text"] for m in inbox] == ["Halo"]
    finally:
        host.terminate()
        host.wait(timeout=20)
        log.close()
