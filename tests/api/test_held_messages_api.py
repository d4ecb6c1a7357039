"""A held message through the API: heldReason and heldUntil, and the operator's words for
them (which the pages show)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.limits import JAKARTA, connected
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing, sending


@pytest.fixture
def capped(app):
    """session-1 connected with its daily cap of 1 spent today."""
    with app.app_context():
        connected("session-1", daily_cap=1)
        routing.record_success("session-1")
    yield
    with app.app_context():
        routing.forget_sessions()


def held_send(app, client, auth) -> int:
    r = client.post("/api/whatsapp/send", headers=auth, json={"to": "081234567801", "text": "Hi"})
    assert r.status_code == 202
    message_id = r.get_json()["id"]
    with app.app_context():
        sending.deliver_batch([message_id])
    return message_id


def test_the_status_says_why_a_message_waits_and_until_when(app, client, auth, capped):
    message_id = held_send(app, client, auth)
    shown = client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()
    assert shown["status"] == "queued" and shown["heldReason"] == "daily_cap"
    tomorrow = datetime.now(JAKARTA).date() + timedelta(days=1)
    until = datetime.fromisoformat(shown["heldUntil"].replace("Z", "+00:00"))
    assert until.astimezone(JAKARTA) == datetime.combine(
        tomorrow, datetime.min.time(), tzinfo=JAKARTA
    )


def test_a_message_that_is_not_held_says_so(app, client, auth):
    r = client.post("/api/whatsapp/send", headers=auth, json={"to": "081234567801", "text": "Hi"})
    shown = client.get(r.get_json()["statusUrl"], headers=auth).get_json()
    assert shown["heldReason"] is None and shown["heldUntil"] is None


@pytest.mark.parametrize(
    ("reason", "until", "said"),
    [
        ("quiet_hours", (10, 0, 0), "menunggu jam tenang sampai 07:00 WIB"),
        ("warmup", (11, 17, 0), "menunggu batas pemanasan, besok 00:00 WIB"),
        ("daily_cap", (13, 17, 0), "menunggu kuota harian, 14-12-2026 00:00 WIB"),
        ("no_number", None, "menunggu nomor yang bisa mengirim"),
        (None, None, ""),
    ],
)
def test_every_hold_reads_in_the_operators_words_and_timezone(app, reason, until, said):
    from webapp.admin import holds

    now = datetime(2026, 12, 10, 23, 0, tzinfo=UTC)  # 11 December, 06:00 in Jakarta
    at = datetime(2026, 12, *until, tzinfo=UTC) if until else None
    with app.test_request_context(headers={"Accept-Language": "id"}):
        assert holds.describe(reason, at, now) == said


def test_a_message_no_longer_queued_shows_no_hold(app):
    from webapp.admin import holds

    message = WhatsAppMessage(status="sent", held_reason="warmup")
    with app.test_request_context():
        assert holds.held(message) == ""


def test_the_bulk_answer_says_how_many_go_today_and_how_many_wait(app, client, auth, capped):
    with app.app_context():
        db.session.execute(db.update(WhatsAppSession).values(daily_cap=11))
        db.session.commit()
        routing.forget_sessions()
    r = client.post(
        "/api/whatsapp/send-bulk",
        headers=auth,
        json={
            "recipients": [{"whatsapp": f"0812345678{n:02d}"} for n in range(20)],
            "template": "voucher_activated",
            "templateData": {
                "duration": "30 hari",
                "expiry_time": "31-12-2026",
                "voucher_code": "X",
            },
        },
    )
    assert r.status_code == 202, r.get_json()
    expected = r.get_json()["forecast"]
    # A cap of 11 keeps 2 (10 %, rounded up) from bulk sends; 1 was sent: 8 go today.
    assert expected["today"] == 8 and expected["waiting"] == 12
    assert expected["heldReason"] == {"daily_cap": 12}
    assert expected["heldUntil"]["daily_cap"].endswith("T17:00:00Z")  # 00:00 WIB


@pytest.mark.usefixtures("capped")
def test_a_session_shows_todays_limit_and_whether_it_is_reached(client, auth):
    shown = client.get("/api/whatsapp/sessions/session-1", headers=auth).get_json()["session"]
    assert shown["dailyLimit"] == {"cap": 1, "sent": 1, "reached": True, "cause": "daily_cap"}
