"""The webhooks page: login required, every webhook with its last delivery, never a secret."""

from __future__ import annotations

from datetime import UTC, datetime

from webapp.extensions import db
from webapp.models import Webhook
from workers.pipeline import webhooks


def test_the_page_needs_a_login(client):
    r = client.get("/admin/webhooks")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]


def test_webhooks_are_listed_with_their_last_delivery_and_no_secret(app, logged_in):
    with app.app_context():
        failing, failing_secret = webhooks.create_webhook("https://crm.example/hook")
        _, quiet_secret = webhooks.create_webhook(
            "https://billing.example/wa", ["message.incoming"]
        )
        row = db.session.get(Webhook, failing.id)
        row.last_event, row.last_error = "message.status", "ConnectionRefusedError: refused"
        row.last_attempt_at = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
        db.session.commit()
    page = logged_in.get("/admin/webhooks").get_data(as_text=True)
    assert "https://crm.example/hook" in page and "https://billing.example/wa" in page
    assert "ConnectionRefusedError: refused" in page and "10-12-2026 10:00:00 WIB" in page
    assert "message.incoming" in page
    assert failing_secret not in page and quiet_secret not in page
