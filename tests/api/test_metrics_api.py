"""GET /api/whatsapp/metrics: the seed's figures of one day in the operator's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession


def utc(day, hour, minute=0, second=0):
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def day_of_traffic(app):
    """2026-12-10 in Jakarta runs from 2026-12-09 17:00 to 2026-12-10 17:00 UTC."""
    rows = [
        # created, sent, delivered, read, status
        (utc(10, 1), utc(10, 1, 0, 2), utc(10, 1, 0, 5), utc(10, 2), "read"),
        (utc(10, 10), utc(10, 10, 0, 1), utc(10, 10, 0, 8), None, "delivered"),
        # Sent the evening before (23:59:59 in Jakarta), delivered just after midnight.
        (utc(9, 16), utc(9, 16, 59, 59), utc(9, 17, 0, 1), None, "delivered"),
        (utc(10, 5), None, None, None, "failed"),
        (utc(10, 18), None, None, None, "failed"),  # 01:00 on the 11th in Jakarta
        (utc(10, 17, 30), utc(10, 17, 30, 1), None, None, "sent"),  # the 11th too
        (utc(10, 3), None, None, None, "queued"),
    ]
    with app.app_context():
        for created, sent, delivered, read, status in rows:
            db.session.add(
                WhatsAppMessage(
                    to_number="6281234567890",
                    content="x",
                    status=status,
                    created_at=created,
                    sent_at=sent,
                    delivered_at=delivered,
                    read_at=read,
                )
            )
        for n, status in enumerate(("connected", "connected", "disconnected", "banned")):
            db.session.add(WhatsAppSession(session_id=f"s{n}", device_id=f"s{n}", status=status))
        db.session.commit()


def test_the_figures_of_a_day_count_by_the_operators_calendar(client, auth, day_of_traffic):
    response = client.get("/api/whatsapp/metrics?date=2026-12-10", headers=auth)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "date": "2026-12-10",
        "messagesSent": 2,
        "messagesDelivered": 3,
        "messagesRead": 1,
        "averageDeliveryTime": 4.0,  # (3 + 7 + 2) / 3 seconds
        "errors": 1,
        "activeSessions": 2,
    }


def test_a_quiet_day_has_zeros(client, auth, day_of_traffic):
    body = client.get("/api/whatsapp/metrics?date=2026-01-01", headers=auth).get_json()
    assert body["messagesSent"] == body["messagesDelivered"] == body["errors"] == 0
    assert body["averageDeliveryTime"] == 0 and body["activeSessions"] == 2


def test_without_a_date_it_is_today_in_the_operators_timezone(client, auth):
    body = client.get("/api/whatsapp/metrics", headers=auth).get_json()
    assert body["date"] == datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()


@pytest.mark.parametrize("value", ["2026-13-01", "10-12-2026", "yesterday", ""])
def test_a_bad_date_is_a_400_naming_date(client, auth, value):
    response = client.get(f"/api/whatsapp/metrics?date={value}", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "date"


def test_metrics_need_an_api_key(client):
    assert client.get("/api/whatsapp/metrics").status_code == 401


def test_a_days_figures_outlive_its_messages(app, client, auth):
    """The scheduler's rollup keeps yesterday's figures; retention may then delete the rows."""
    from datetime import timedelta

    from workers.pipeline import metrics

    with app.app_context():
        yesterday = metrics.today() - timedelta(days=1)
        noon = datetime.combine(
            yesterday, datetime.min.time().replace(hour=12), tzinfo=ZoneInfo("Asia/Jakarta")
        )
        for status, delivered in (("delivered", noon + timedelta(seconds=4)), ("sent", None)):
            db.session.add(
                WhatsAppMessage(
                    to_number="6281234567890",
                    content="x",
                    status=status,
                    created_at=noon,
                    sent_at=noon,
                    delivered_at=delivered,
                )
            )
        db.session.commit()
        assert yesterday in metrics.rollup()
        db.session.execute(db.delete(WhatsAppMessage))  # as retention does, later
        db.session.commit()

    body = client.get(f"/api/whatsapp/metrics?date={yesterday}", headers=auth).get_json()
    assert body["messagesSent"] == 2 and body["messagesDelivered"] == 1
    assert body["averageDeliveryTime"] == 4.0
    # Today is always counted from the messages themselves.
    today = client.get("/api/whatsapp/metrics", headers=auth).get_json()
    assert today["messagesSent"] == 0


def test_a_rollup_after_retention_began_keeps_the_days_figures(app, client, auth):
    """Retention of a day or two deletes yesterday's messages while the rollup still counts
    that day: the stored figures grow with late receipts, and never shrink."""
    from datetime import timedelta

    from workers.pipeline import metrics

    with app.app_context():
        yesterday = metrics.today() - timedelta(days=1)
        noon = datetime.combine(
            yesterday, datetime.min.time().replace(hour=12), tzinfo=ZoneInfo("Asia/Jakarta")
        )
        first, late = (
            WhatsAppMessage(
                to_number="6281234567890", content="x", status="sent", created_at=noon, sent_at=noon
            )
            for _ in range(2)
        )
        first.status, first.delivered_at = "delivered", noon + timedelta(seconds=4)
        db.session.add_all([first, late])
        db.session.commit()
        metrics.rollup()
        late.status, late.delivered_at = "delivered", noon + timedelta(seconds=8)
        db.session.commit()
        metrics.rollup()  # the late receipt is counted
        db.session.delete(first)  # as retention does
        db.session.commit()
        assert yesterday in metrics.rollup()

    body = client.get(f"/api/whatsapp/metrics?date={yesterday}", headers=auth).get_json()
    assert body["messagesSent"] == 2 and body["messagesDelivered"] == 2
    assert body["averageDeliveryTime"] == 6.0
