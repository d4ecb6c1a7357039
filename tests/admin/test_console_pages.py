"""Dashboard, message log and queue pages, through the Flask test client."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from webapp.services import messages


@pytest.fixture
def some_messages(app):
    with app.app_context():
        db.session.add(WhatsAppSession(session_id="session-1", device_id="WA-1", priority=1,
                                       transport="simulator", status="connected"))
        db.session.commit()
        ids = messages.queue_texts([("081234567890", "Halo satu"), ("081234567891", "Halo dua"),
                                    ("081234567892", "Halo tiga")])
        now = datetime.now(UTC)
        first, second, third = (db.session.get(WhatsAppMessage, i) for i in ids)
        first.status, first.session_id, first.sent_at, first.delivered_at = (
            "delivered", "session-1", now, now)
        second.status, second.error_message = "failed", "no connected session could send"
        db.session.commit()
        return ids


def test_pages_need_a_login(client):
    for path in ("/admin/", "/admin/messages", "/admin/queue", "/admin/messages/1"):
        assert client.get(path).status_code == 302


def test_dashboard_shows_todays_figures_and_charts(logged_in, some_messages):
    page = logged_in.get("/admin/").get_data(as_text=True)
    assert "<title>Ringkasan · Kabar</title>" in page
    assert "<svg" in page and "Pesan per jam" in page
    figures = dict(re.findall(r"<strong>([^<]+)</strong><span>([^<]+)</span>", page))
    assert figures["1"] in ("terkirim", "diterima", "gagal", "antre", "sesi aktif")
    assert "session-1" in page  # share per session and the sessions table


def test_a_bad_date_is_a_form_error_not_a_500(logged_in):
    r = logged_in.get("/admin/overview?date=kemarin")
    assert r.status_code == 200 and "bukan tanggal" in r.get_data(as_text=True)
    r = logged_in.get("/admin/messages?from=2026-13-45&status=nonsense&page=-3")
    assert r.status_code == 400
    assert "bukan tanggal" in r.get_data(as_text=True)


def test_messages_are_filtered_by_status_and_number(logged_in, some_messages):
    page = logged_in.get("/admin/messages?status=failed").get_data(as_text=True)
    assert "6281234567891" in page and "6281234567890" not in page
    page = logged_in.get("/admin/messages?number=0812-3456-7892").get_data(as_text=True)
    assert "6281234567892" in page and "6281234567891" not in page


def test_a_failed_message_is_resent_from_its_page(app, logged_in, some_messages):
    failed_id = some_messages[1]
    page = logged_in.get(f"/admin/messages/{failed_id}").get_data(as_text=True)
    assert "no connected session could send" in page and "Kirim ulang" in page
    r = logged_in.post(f"/admin/messages/{failed_id}/resend",
                          data={"csrf_token": logged_in.csrf})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(WhatsAppMessage, failed_id).status == "queued"
    r = logged_in.post(f"/admin/messages/{failed_id}/resend",
                          data={"csrf_token": logged_in.csrf}, follow_redirects=True)
    assert "bukan gagal" in r.get_data(as_text=True)


def test_a_resend_while_a_live_session_host_sends_is_refused_with_a_message(
        app, logged_in, some_messages, redis_client):
    import json

    from workers import keys

    failed_id = some_messages[1]
    claim = {"state": "sending", "host": "h1", "session_id": "session-1"}
    redis_client.set(keys.sent_record(failed_id), json.dumps(claim))
    redis_client.set(keys.host("h1"), "[]", px=3000)
    r = logged_in.post(f"/admin/messages/{failed_id}/resend",
                       data={"csrf_token": logged_in.csrf}, follow_redirects=True)
    assert r.status_code == 200
    assert "masih dikirim oleh host sesi yang aktif" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(WhatsAppMessage, failed_id).status == "failed"


def test_a_queued_message_can_be_cancelled_but_not_without_csrf(app, logged_in, some_messages):
    queued_id = some_messages[2]
    assert logged_in.post(f"/admin/messages/{queued_id}/cancel").status_code == 400
    logged_in.post(f"/admin/messages/{queued_id}/cancel", data={"csrf_token": logged_in.csrf})
    with app.app_context():
        assert db.session.get(WhatsAppMessage, queued_id).status == "cancelled"


def test_queue_page_shows_bands_numbers_and_failures(logged_in, some_messages):
    page = logged_in.get("/admin/queue").get_data(as_text=True)
    assert all(band in page for band in ("mendesak", "normal", "massal"))
    assert "session-1" in page and "no connected session could send" in page
    # One bulk job carries the three rows; one of them is still queued.
    assert re.search(r"<td>massal</td><td>1</td><td>1</td>", page), page


def test_unknown_message_is_404(logged_in):
    assert logged_in.get("/admin/messages/999999").status_code == 404
