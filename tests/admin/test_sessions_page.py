"""The admin sessions page through the Flask test client (no session host running)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppSession
from workers.pipeline import sessions


@pytest.fixture
def two_sessions(app):
    with app.app_context():
        sessions.create_session("WA-1", 1, "simulator")
        sessions.create_session("WA-2", 2, "neonize")


def token(client, path="/admin/sessions"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def row(app, session_id):
    with app.app_context():
        return db.session.scalar(
            db.select(WhatsAppSession).where(WhatsAppSession.session_id == session_id)
        )


def test_the_page_needs_a_login(client):
    r = client.get("/admin/sessions")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    r = client.get("/admin/sessions/status.json")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_the_page_lists_sessions_and_is_linked_from_the_dashboard(logged_in, two_sessions):
    dashboard = logged_in.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/sessions"' in dashboard
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert 'data-session="session-1"' in page and 'data-session="session-2"' in page
    assert "WA-1" in page and "WA-2" in page and "Terputus" in page
    # Simulator controls only on the simulator session.
    simulator_card = page.split('data-session="session-1"')[1].split("</section>")[0]
    neonize_card = page.split('data-session="session-2"')[1].split("</section>")[0]
    assert "/admin/sessions/session-1/fault" in simulator_card
    assert "/fault" not in neonize_card and "/scan" not in neonize_card
    assert "<script src" not in page and "https://" not in page  # no external assets


def test_editing_priority_and_pacing_is_saved(app, logged_in, two_sessions):
    r = logged_in.post(
        "/admin/sessions/session-2/settings",
        data={
            "priority": "1",
            "intervalMs": "1500",
            "jitterMs": "0",
            "dailyCap": "",
            "csrf_token": token(logged_in),
        },
    )
    assert r.status_code == 302
    saved = row(app, "session-2")
    assert (saved.priority, saved.interval_ms, saved.jitter_ms, saved.daily_cap) == (
        1,
        1500,
        0,
        None,
    )
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert "Pengaturan session-2 disimpan" in page


@pytest.mark.parametrize(
    "field,bad", [("priority", "abc"), ("priority", "0"), ("intervalMs", "5"), ("dailyCap", "-1")]
)
def test_a_bad_value_is_a_form_error_on_the_page(app, logged_in, two_sessions, field, bad):
    data = {"priority": "2", "intervalMs": "1000", "jitterMs": "200", "dailyCap": ""}
    data[field] = bad
    r = logged_in.post(
        "/admin/sessions/session-2/settings", data={**data, "csrf_token": token(logged_in)}
    )
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    card = page.split('data-session="session-2"')[1].split("</section>")[0]
    assert 'role="alert"' in card and 'class="field-error"' in card
    assert f'name="{field}"' in card and f'value="{bad}"' in card  # what was typed stays
    assert row(app, "session-2").priority == 2


def test_a_post_without_csrf_token_is_refused(app, logged_in, two_sessions):
    r = logged_in.post("/admin/sessions/session-2/settings", data={"priority": "1"})
    assert r.status_code == 400
    assert row(app, "session-2").priority == 2
    r = logged_in.post("/admin/sessions", data={"deviceId": "WA-9"})
    assert r.status_code == 400
    assert row(app, "session-3") is None


def test_creating_a_session_from_the_page(app, logged_in):
    r = logged_in.post(
        "/admin/sessions",
        data={
            "deviceId": "WA-7",
            "priority": "3",
            "transport": "simulator",
            "csrf_token": token(logged_in),
        },
    )
    assert r.status_code == 302
    created = row(app, "session-1")
    assert (created.device_id, created.priority, created.transport) == ("WA-7", 3, "simulator")

    again = logged_in.post(
        "/admin/sessions", data={"deviceId": "WA-7", "csrf_token": token(logged_in)}
    )
    assert again.status_code == 409
    assert "sudah ada" in again.get_data(as_text=True)
    bad = logged_in.post(
        "/admin/sessions",
        data={"deviceId": "WA-8", "transport": "pigeon", "csrf_token": token(logged_in)},
    )
    assert bad.status_code == 400 and 'class="field-error"' in bad.get_data(as_text=True)


@pytest.mark.parametrize(
    "path,data,status",
    [
        ("/admin/sessions/session-1/reconnect", {}, 409),
        ("/admin/sessions/session-1/logout", {}, 409),
        ("/admin/sessions/session-1/scan", {}, 409),
        ("/admin/sessions/session-1/pair", {"phone": "081234567890"}, 409),
        ("/admin/sessions/session-1/pair", {"phone": "12"}, 400),
        ("/admin/sessions/session-1/fault", {"fault": "disconnect"}, 409),
        ("/admin/sessions/session-1/fault", {"fault": "send_errors"}, 400),
        ("/admin/sessions/session-1/fault", {"fault": "latency", "ms": "x"}, 400),
        ("/admin/sessions/session-2/fault", {"fault": "clear"}, 409),
        ("/admin/sessions/nope/reconnect", {}, 404),
        ("/admin/sessions/session-1/new-qr", {}, 409),
        ("/admin/sessions/nope/new-qr", {}, 404),
        ("/admin/sessions/session-1/fault", {"fault": "no_lid", "rate": "2"}, 400),
    ],
)
def test_refused_actions_render_the_reason_not_a_500(logged_in, two_sessions, path, data, status):
    r = logged_in.post(path, data={**data, "csrf_token": token(logged_in)})
    assert r.status_code == status
    assert 'role="alert"' in r.get_data(as_text=True)


def test_deleting_a_session(app, logged_in, two_sessions):
    r = logged_in.post("/admin/sessions/session-2/delete", data={"csrf_token": token(logged_in)})
    assert r.status_code == 302
    assert row(app, "session-2") is None


def test_the_status_json_carries_state_and_the_live_qr(app, logged_in, two_sessions):
    with app.app_context():
        session = db.session.scalar(
            db.select(WhatsAppSession).where(WhatsAppSession.session_id == "session-1")
        )
        session.status = "qr"
        session.qr_code = "KABAR-SIM:session-1:abc"
        session.qr_expires_at = datetime.now(UTC) + timedelta(seconds=30)
        db.session.commit()
    listed = logged_in.get("/admin/sessions/status.json").get_json()["sessions"]
    by_id = {s["id"]: s for s in listed}
    assert by_id["session-1"]["statusLabel"] == "Menunggu scan QR"
    assert by_id["session-1"]["qr"].startswith("data:image/png;base64,")
    assert 0 < by_id["session-1"]["qrExpires"] <= 30
    assert by_id["session-2"]["qr"] is None and by_id["session-2"]["status"] == "disconnected"
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    assert 'src="data:image/png;base64,' in page
    assert "setInterval(poll, 2000)" in page


def test_times_are_the_operators_on_the_page_and_in_its_poll(app, logged_in, two_sessions):
    with app.app_context():
        db.session.get(WhatsAppSession, 1).last_activity = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)
        db.session.commit()
    polled = logged_in.get("/admin/sessions/status.json").get_json()["sessions"]
    first = next(s for s in polled if s["id"] == "session-1")
    assert first["lastActivity"] == "25-11-2026 09:30:00 WIB"  # Asia/Jakarta, UTC+7
    assert "25-11-2026 09:30:00 WIB" in logged_in.get("/admin/sessions").get_data(as_text=True)


def test_a_raw_dial_error_is_shown_as_advice_with_the_error_as_detail(app, logged_in, two_sessions):
    raw = (
        "failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com on "
        "127.0.0.53:53: no such host"
    )
    with app.app_context():
        session = db.session.scalar(
            db.select(WhatsAppSession).where(WhatsAppSession.session_id == "session-2")
        )
        session.status, session.last_error = "disconnected", raw
        db.session.commit()
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    card = page.split('data-session="session-2"')[1].split("</section>")[0]
    advice = card.split('data-field="advice"')[1].split("</p>")[0]
    assert "hidden" not in advice.split(">")[0]
    assert "Server ini tidak bisa menjangkau WhatsApp (DNS)." in advice
    assert "flask --app webapp doctor" in advice
    assert raw in card.split('data-field="lastErrorDetail"')[1]  # the raw error, as the detail
    polled = logged_in.get("/admin/sessions/status.json").get_json()["sessions"]
    by_id = {s["id"]: s for s in polled}
    assert by_id["session-2"]["advice"].startswith("Server ini tidak bisa menjangkau WhatsApp")
    assert by_id["session-2"]["lastError"].startswith("kesalahan yang dilaporkan WhatsApp")
    assert by_id["session-2"]["lastErrorDetail"] == raw
    assert by_id["session-1"]["advice"] is None
    other = page.split('data-session="session-1"')[1].split("</section>")[0]
    assert "menjangkau WhatsApp" not in other


def test_an_expired_qr_login_offers_a_new_qr_and_reasons_read_in_indonesian(
    app, logged_in, two_sessions
):
    from workers.session_host.transports.base import PASSKEY_REASON, QR_EXPIRED_REASON

    with app.app_context():
        S = WhatsAppSession
        db.session.execute(
            db.update(S)
            .where(S.session_id == "session-2")
            .values(status="qr_expired", last_error=QR_EXPIRED_REASON)
        )
        db.session.execute(
            db.update(S)
            .where(S.session_id == "session-1")
            .values(status="failed", last_error=PASSKEY_REASON)
        )
        db.session.commit()
    page = logged_in.get("/admin/sessions").get_data(as_text=True)
    expired = page.split('data-session="session-2"')[1].split("</section>")[0]
    failed = page.split('data-session="session-1"')[1].split("</section>")[0]
    assert "QR kedaluwarsa" in expired and "Tampilkan QR baru" in expired
    assert "kode QR tidak dipindai tepat waktu" in expired
    assert 'data-field="newQrBox" hidden' in failed  # only an expired login offers it
    assert "akun WhatsApp ini meminta passkey" in failed
    assert "Akun meminta passkey" in failed  # the simulator's fault button
    status = logged_in.get("/admin/sessions/status.json").get_json()
    shown = {s["id"]: s for s in status["sessions"]}
    assert shown["session-2"]["status"] == "qr_expired"
