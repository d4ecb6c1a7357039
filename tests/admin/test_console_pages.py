"""Dashboard, message log and queue pages, through the Flask test client."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage, WhatsAppSession


@pytest.fixture
def some_messages(app):
    with app.app_context():
        db.session.add(
            WhatsAppSession(
                session_id="session-1",
                device_id="WA-1",
                priority=1,
                transport="simulator",
                status="connected",
            )
        )
        db.session.commit()
        ids = messages.queue_texts(
            [
                ("081234567890", "Halo satu"),
                ("081234567891", "Halo dua"),
                ("081234567892", "Halo tiga"),
            ]
        )
        now = datetime.now(UTC)
        first, second, third = (db.session.get(WhatsAppMessage, i) for i in ids)
        first.status, first.session_id, first.sent_at, first.delivered_at = (
            "delivered",
            "session-1",
            now,
            now,
        )
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
    r = logged_in.post(f"/admin/messages/{failed_id}/resend", data={"csrf_token": logged_in.csrf})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.get(WhatsAppMessage, failed_id).status == "queued"
    r = logged_in.post(
        f"/admin/messages/{failed_id}/resend",
        data={"csrf_token": logged_in.csrf},
        follow_redirects=True,
    )
    assert "bukan gagal" in r.get_data(as_text=True)


def test_a_resend_while_a_live_session_host_sends_is_refused_with_a_message(
    app, logged_in, some_messages, redis_client
):
    import json

    from workers.queue import keys

    failed_id = some_messages[1]
    claim = {"state": "sending", "host": "h1", "session_id": "session-1"}
    redis_client.set(keys.sent_record(failed_id), json.dumps(claim))
    redis_client.set(keys.host("h1"), "[]", px=3000)
    r = logged_in.post(
        f"/admin/messages/{failed_id}/resend",
        data={"csrf_token": logged_in.csrf},
        follow_redirects=True,
    )
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


# the send form -----------------------------------------------------------------------------


def send(client, **fields):
    return client.post("/admin/messages/send", data={"csrf_token": client.csrf, **fields})


def test_a_bad_number_keeps_the_typed_text_and_says_nothing_about_dates(logged_in):
    text = "Halo Budi,\nTagihan Anda Rp150.000 jatuh tempo 10-12-2026."
    r = send(logged_in, to="0812", text=text)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f'<textarea name="text" rows="4" maxlength="4096">{text}</textarea>' in page
    assert 'value="0812"' in page
    assert "bukan tanggal" not in page and "is not a date" not in page
    assert re.search(r'name="to"[^>]*>\s*<span class="field-error" role="alert">', page)


def test_a_template_is_sent_with_its_data_from_the_chosen_number(app, logged_in, some_messages):
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert '<option value="session-1"' in page and "voucher_activated" in page
    data = '{"voucher_code": "HS-7781", "duration": "30 hari", "expiry_time": "25-12-2026"}'
    r = send(logged_in, to="081234567899", send_template="voucher_activated", send_data=data,
             sender="session-1", text="ignored")  # fmt: skip
    assert r.status_code == 302
    with app.app_context():
        message = db.session.scalar(
            db.select(WhatsAppMessage).where(WhatsAppMessage.to_number == "6281234567899")
        )
        assert "HS-7781" in message.content and message.pinned_session_id == "session-1"


@pytest.mark.parametrize(
    ("data", "reason"),
    [("{voucher", "bukan JSON yang sah"), ('["HS"]', "sebuah objek JSON"),
     ('{"voucher_code": "HS"}', "template membutuhkan duration, expiry_time")],
)  # fmt: skip
def test_bad_template_data_is_shown_at_the_json_box_as_typed(
    logged_in, some_messages, data, reason
):
    r = send(logged_in, to="081234567899", send_template="voucher_activated", send_data=data)
    assert r.status_code in (400, 422)
    page = r.get_data(as_text=True)
    box = re.search(r'<textarea name="send_data"[^>]*>(.*?)</textarea>\s*<span class="field-error"'
                    r' role="alert">([^<]*)</span>', page, re.S)  # fmt: skip
    assert box, page
    assert html.unescape(box.group(1)) == data and reason in box.group(2)
    assert '<option value="voucher_activated" selected>' in page


def test_an_unknown_sender_is_shown_at_the_sender(logged_in, some_messages):
    r = send(logged_in, to="081234567899", text="Halo", sender="session-9")
    assert r.status_code == 400
    assert re.search(r"</select>\s*<span class=\"field-error\" role=\"alert\">tidak ada sesi",
                     r.get_data(as_text=True))  # fmt: skip


# dates -------------------------------------------------------------------------------------


def test_the_day_filter_reads_dd_mm_yyyy_and_old_links(app, logged_in, some_messages):
    from webapp.intake import reports

    with app.app_context():
        today = reports.today()
    typed = today.strftime("%d-%m-%Y")
    page = logged_in.get(f"/admin/messages?since={typed}&until={typed}").get_data(as_text=True)
    assert "6281234567890" in page and 'name="since" inputmode="numeric"' in page
    assert f'value="{typed}"' in page
    old = logged_in.get(f"/admin/messages?from={today.isoformat()}&to={today.isoformat()}")
    assert old.status_code == 200 and "6281234567890" in old.get_data(as_text=True)
    r = logged_in.get("/admin/messages?until=12/31/2026")
    assert r.status_code == 400 and "bukan tanggal (hh-bb-tttt)" in r.get_data(as_text=True)
    page = logged_in.get(f"/admin/overview?date={typed}").get_data(as_text=True)
    assert f'value="{typed}"' in page


def test_no_page_shows_utc_and_times_carry_the_zone(app, logged_in, some_messages):
    from webapp.intake import api_keys
    from workers.pipeline import webhooks

    with app.app_context():
        api_keys.create_api_key("billing")
        webhooks.create_webhook("https://crm.example/hook")
    pages = ["/admin/", "/admin/messages", f"/admin/messages/{some_messages[0]}", "/admin/queue",
             "/admin/sessions", "/admin/api-keys", "/admin/webhooks", "/admin/templates",
             "/admin/triggers", "/admin/bulk", "/admin/settings"]  # fmt: skip
    for path in pages:
        page = logged_in.get(path).get_data(as_text=True)
        assert "UTC" not in page, path
    page = logged_in.get("/admin/messages").get_data(as_text=True)
    assert re.search(r"<td>\d\d-\d\d-\d{4} \d\d:\d\d:\d\d WIB</td>", page)
    page = logged_in.get("/admin/api-keys").get_data(as_text=True)
    assert re.search(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d WIB", page)


@pytest.mark.parametrize(
    ("zone", "label"),
    [("Asia/Jakarta", "WIB"), ("Asia/Makassar", "WITA"), ("Asia/Jayapura", "WIT"),
     ("Europe/Amsterdam", "Europe/Amsterdam")],
)  # fmt: skip
def test_the_zone_label_is_the_one_operators_say(app, monkeypatch, zone, label):
    from webapp.admin import local_time

    monkeypatch.setitem(app.config, "TIMEZONE", zone)
    with app.app_context():
        assert local_time.zone_label() == label
        shown = local_time.format_time(datetime(2026, 12, 10, 3, 0, tzinfo=UTC))
        assert shown.endswith(f" {label}") and shown.startswith("10-12-2026 ")


@pytest.mark.parametrize(
    "fields",
    [
        {"to": "081234567890", "text": "Halo\x00Budi"},
        {"to": "081234567890", "text": "Halo", "sender": "session\x00"},
        {"to": "081234567890", "send_template": "invoice\x00"},
    ],
)
def test_a_nul_character_is_refused_on_the_form_keeping_the_text(logged_in, fields):
    r = send(logged_in, **fields)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "karakter NUL" in page and 'value="081234567890"' in page


@pytest.mark.parametrize(
    "query",
    ["page=99999999999999999999", "template=99999999999999999999", "session=%00", "bulk=%00"],
)
def test_any_filter_of_the_message_log_is_answered_without_a_500(logged_in, query):
    r = logged_in.get(f"/admin/messages?{query}")
    assert r.status_code in (200, 400)
    assert "Pesan" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/bulk/%00/resend-failed",
        "/admin/bulk/%00/pause",
        "/admin/sessions/%00/warmup",
    ],
)
def test_a_value_the_database_cannot_store_is_refused_on_a_page(logged_in, path):
    r = logged_in.post(path, data={"csrf_token": logged_in.csrf, "warmup": "1"})
    assert r.status_code == 400
    assert "tidak dapat disimpan" in r.get_data(as_text=True)
