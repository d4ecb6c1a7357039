"""GET /metrics: Prometheus exposition that the official parser (and promtool) accept, with the
figures read from PostgreSQL and Redis at scrape time."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.queue import broker
from workers.queue.contracts import SEND_ACTORS, Band


@pytest.fixture
def traffic(app):
    now = datetime.now(UTC)
    with app.app_context():
        db.session.add_all(
            [
                WhatsAppSession(
                    session_id="session-1",
                    device_id="WA-1",
                    status="connected",
                    message_count=3,
                    error_count=1,
                ),
                WhatsAppSession(session_id="session-2", device_id="WA-2", status="banned"),
            ]
        )
        db.session.flush()
        # Latencies (created -> sent): urgent 0.3 s and 4 s, bulk 40 s; plus an old one.
        for band, latency, status, session in [
            ("urgent", 0.3, "read", "session-1"),
            ("urgent", 4, "delivered", "session-1"),
            ("bulk", 40, "sent", "session-1"),
        ]:
            sent = now - timedelta(minutes=5)
            db.session.add(
                WhatsAppMessage(
                    to_number="6281234567890",
                    content="x",
                    band=band,
                    status=status,
                    session_id=session,
                    created_at=sent - timedelta(seconds=latency),
                    sent_at=sent,
                )
            )
        db.session.add(
            WhatsAppMessage(
                to_number="6281234567890",
                content="x",
                status="failed",
                created_at=now - timedelta(minutes=1),
            )
        )
        for _ in range(3):
            db.session.add(
                WhatsAppMessage(to_number="628123456789", content="x", status="queued", band="bulk")
            )
        db.session.add(
            WhatsAppMessage(
                to_number="6281234567890",
                content="x",
                status="read",
                session_id="session-1",
                created_at=now - timedelta(days=3),
                sent_at=now - timedelta(days=3),
            )
        )
        db.session.commit()
    for _ in range(2):
        broker.enqueue(SEND_ACTORS[Band.BULK], Band.BULK, 1)
    later = broker.message(SEND_ACTORS[Band.NORMAL], Band.NORMAL, 2)
    broker.broker.enqueue(later, delay=60_000)


def scrape(client, **kwargs):
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_the_exposition_parses_and_holds_the_figures(client, traffic):
    found = samples(scrape(client))

    def value(name, **labels):
        return found.get((name, tuple(sorted(labels.items()))))

    assert value("kabar_messages", status="read", session="session-1") == 1  # not the old one
    assert value("kabar_messages", status="delivered", session="session-1") == 1
    assert value("kabar_messages", status="failed", session="") == 1
    assert value("kabar_send_latency_seconds_bucket", band="urgent", le="0.5") == 1
    assert value("kabar_send_latency_seconds_bucket", band="urgent", le="5.0") == 2
    assert value("kabar_send_latency_seconds_bucket", band="bulk", le="30.0") == 0
    assert value("kabar_send_latency_seconds_bucket", band="bulk", le="60.0") == 1
    assert value("kabar_send_latency_seconds_count", band="urgent") == 2
    assert value("kabar_send_latency_seconds_sum", band="urgent") == pytest.approx(4.3, abs=0.01)
    assert value("kabar_queue_depth", queue="bulk", state="ready") == 2
    assert value("kabar_queue_depth", queue="normal", state="delayed") == 1
    assert value("kabar_queue_depth", queue="urgent", state="ready") == 0
    assert value("kabar_messages_queued", band="bulk") == 3
    assert value("kabar_messages_queued", band="urgent") == 0
    assert value("kabar_sessions", status="connected") == 1
    assert value("kabar_sessions", status="banned") == 1
    assert value("kabar_sessions", status="qr") == 0
    assert value("kabar_session_state", session="session-2", status="banned") == 1
    assert value("kabar_session_messages_sent_total", session="session-1") == 3
    assert value("kabar_session_errors_total", session="session-1") == 1
    assert value("kabar_metrics_source_up", source="database") == 1
    assert value("kabar_metrics_source_up", source="redis") == 1


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_exposition(client, traffic):
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=scrape(client), capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_without_a_token_only_this_machine_may_scrape(client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    away = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert away.status_code == 403


def test_with_a_token_every_scraper_must_send_it(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-me")
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    away = {"REMOTE_ADDR": "203.0.113.9"}
    scrape(client, headers={"Authorization": "Bearer scrape-me"}, environ_base=away)
