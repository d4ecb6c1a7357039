"""kill -9 of Redis (AOF everysec, as the README asks) in the middle of a bulk with urgent sends
beside it, and Redis back: every recipient gets exactly one message and no row is left queued.

Every process runs on its own against a Redis of this test's, which it kills; the shared Redis
is never touched. The figure (how long after the restart the last message went) is printed."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

from tests.catalogue import catalogue  # noqa: F401 - fixture
from tests.e2e.conftest import Processes
from tests.e2e.helpers import link_numbers, phone, statuses
from tests.polling import wait_for
from webapp.extensions import db
from webapp.models import WhatsAppMessage
from workers.session_host.simulated_network import SimulatedNetwork

BIN = Path(sys.executable).parent
BULK, URGENT = 300, 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """The calls tests make on the Flask test client, made over HTTP to the web process."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _call(self, method, path, headers=None, json=None):
        response = requests.request(
            method, self.base + path, headers=headers, json=json, timeout=30
        )
        response.get_json = response.json
        return response

    def get(self, path, headers=None):
        return self._call("GET", path, headers)

    def post(self, path, headers=None, json=None):
        return self._call("POST", path, headers, json)

    def patch(self, path, headers=None, json=None):
        return self._call("PATCH", path, headers, json)


@pytest.fixture
def own_redis(tmp_path):
    port = free_port()
    data = tmp_path / "redis"
    data.mkdir()
    argv = (
        "redis-server",
        "--port",
        str(port),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--dir",
        str(data),
        "--maxmemory-policy",
        "noeviction",
    )
    procs = Processes(tmp_path)
    procs.env.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", KABAR_RECONCILE_AFTER="2")
    client = redis.Redis(port=port)

    def start():
        procs.start("redis", *argv)
        wait_for(lambda: _pings(client), timeout=20)

    start()
    yield procs, client, start
    procs.stop_all()


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


def test_redis_killed_mid_bulk_loses_and_doubles_nothing(app, auth, catalogue, own_redis):  # noqa: F811
    """Figure: how long after Redis is back the last row leaves ``queued``."""
    procs, client, start_redis = own_redis
    web_port = free_port()
    procs.start("session-host", str(BIN / "python"), "-m", "workers.session_host")
    procs.worker("worker", "normal", "bulk", "events", "maintenance", threads=4)
    procs.worker("worker-urgent", "urgent", threads=2)
    procs.start("scheduler", str(BIN / "python"), "-m", "workers.pipeline.scheduler")
    procs.start("web", str(BIN / "flask"), "--app", "webapp", "run", "--port", str(web_port))
    http = Http(f"http://127.0.0.1:{web_port}")
    wait_for(lambda: _answers(http), timeout=30)
    try:
        link_numbers(http, auth, 3, interval_ms=100)
        r = http.patch("/api/settings", auth, {"check_on_whatsapp": False})
        assert r.status_code == 200, r.text
        r = http.post(
            "/api/whatsapp/templates",
            auth,
            {"name": "pengumuman", "category": "notification", "content": "Info {{n}}"},
        )
        assert r.status_code == 201, r.text
        recipients = [{"whatsapp": phone(n), "data": {"n": str(n)}} for n in range(BULK)]
        r = http.post(
            "/api/whatsapp/send-bulk",
            auth,
            {"recipients": recipients, "template": "pengumuman", "templateData": {}},
        )
        assert r.status_code == 202, r.text

        def ids():
            with app.app_context():
                found = db.session.scalars(db.select(WhatsAppMessage.id)).all()
                db.session.rollback()
            return found

        def done():
            return sum(s in ("sent", "delivered", "read") for s in statuses(app, ids()).values())

        wait_for(lambda: done() >= 60, timeout=60)
        # Slow sends (80 ms on the simulated network), so that sends are in flight when Redis
        # dies, and Redis down for 2 s before it is back, so that what the session host writes
        # as those sends end fails too: the case that once left rows given back for ever.
        network = SimulatedNetwork(client)
        for sid in ("session-1", "session-2", "session-3"):
            network.set_fault(sid, "latency", {"ms": 80})
        for n in range(URGENT):
            r = http.post("/api/whatsapp/send", auth, {"to": phone(BULK + n), "text": f"OTP {n}"})
            assert r.status_code == 202, r.text
        procs.stop("redis", signal.SIGKILL)
        time.sleep(2.0)  # the outage itself, not a wait for anything
        start_redis()
        back = time.monotonic()

        # A row may end failed, not sent, only when its send was cut off mid-way (it may have
        # reached the customer; the session host's records, not this part, decide that case).
        def settled():
            final = statuses(app, ids())
            return len(final) == BULK + URGENT and "queued" not in final.values() and final

        wait_for(settled, timeout=150, interval=0.5)
        took = time.monotonic() - back
        with app.app_context():
            failed = db.session.scalars(
                db.select(WhatsAppMessage.error_message).where(WhatsAppMessage.status == "failed")
            ).all()
        counts = {n: len(network.inbox(phone(n))) for n in range(BULK + URGENT)}
        print(
            f"\nRedis kill -9 + AOF restart: no row queued {took:.1f} s after Redis was back, "
            f"{len(failed)} cut off mid-send"
        )
        assert all("may have reached the customer" in (e or "") for e in failed), failed
        assert all(c <= 1 for c in counts.values()), {k: c for k, c in counts.items() if c > 1}
    except BaseException:
        print(procs.logs())
        raise


def _answers(http: Http) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except requests.RequestException:
        return False
