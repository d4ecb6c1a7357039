"""The MPWA-compatible /send-message: what billing apps send is queued as Kabar would queue it,
and what it refuses is answered in the shape those apps parse, naming the field, never a 500."""

from __future__ import annotations

import logging
from urllib.parse import quote_plus

import pytest

from webapp.compat.log_redaction import MASKED, REDACTED, RedactApiKeys, redact
from webapp.extensions import db
from webapp.models import ApiKey, WhatsAppMessage, WhatsAppSession

URGENT_QUEUE = "dramatiq:urgent.msgs"
SENDER = "6281111111111"
PNG_URL = "https://isp.example/a.png"


def php_urlencode(text: str) -> str:
    """PHP's urlencode, which PHPNuxBill applies to [number] and [text]."""
    return quote_plus(text, safe="").replace("~", "%7E")


def phpnuxbill_url(key: str, number: str, text: str, sender: str = "any") -> str:
    template = f"http://kabar.local:5000/send-message?api_key={key}&sender={sender}"
    template += "&number=[number]&message=[text]"
    return template.replace("[number]", php_urlencode(number)).replace(
        "[text]", php_urlencode(text)
    )


def _stored(app, message_id: int) -> WhatsAppMessage:
    with app.app_context():
        message = db.session.get(WhatsAppMessage, message_id)
        db.session.expunge(message)
        return message


def _ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] is True and body["msg"], body
    return body["data"]


def _refused(response, field: str | None) -> dict:
    """MPWA's refusal: HTTP 400 whatever the reason, the field named in the body."""
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] is False, body
    assert body.get("field") == field, body
    if field:
        assert body["msg"].startswith(f"{field}: "), body
    return body


@pytest.fixture
def sender_session(app):
    """A linked, connected number whose phone is SENDER (and a logged-out older link of it)."""
    with app.app_context():
        old = WhatsAppSession(
            session_id="session-old",
            device_id="WA-old",
            phone_number=SENDER,
            status="logged_out",
            priority=1,
        )
        live = WhatsAppSession(
            session_id="session-live",
            device_id="WA-live",
            phone_number=SENDER,
            status="connected",
            priority=5,
        )
        db.session.add_all([old, live])
        db.session.commit()
    return "session-live"


class TestAccepted:
    def test_phpnuxbill_get_request_queues_an_urgent_text(self, app, client, api_key, redis_client):
        text = "Halo Budi & Sari,\nTagihan #12: Rp 150.000 (+PPN 11%) ~ lunas 🙏"
        data = _ok(client.get(phpnuxbill_url(api_key, "6281234567890", text)))
        assert data["status"] == "queued" and data["to"] == "6281234567890"
        assert data["id"] == data["message_id"]
        assert data["sender"] is None and data["session_id"] is None
        assert data["status_url"] == f"/api/whatsapp/message/{data['id']}/status"
        stored = _stored(app, data["id"])
        assert stored.content == text
        assert stored.band == "urgent" and stored.priority == 1
        assert stored.pinned_session_id is None
        assert redis_client.hlen(URGENT_QUEUE) == 1

    def test_sender_pins_the_connected_session_of_that_number(
        self, app, client, api_key, sender_session
    ):
        r = client.post(
            "/send-message",
            data={
                "api_key": api_key,
                "sender": "+62 811-1111-1111",
                "number": "0812-3456-7890",
                "message": "Halo",
            },
        )
        data = _ok(r)
        assert data["sender"] == SENDER and data["session_id"] == sender_session
        assert _stored(app, data["id"]).pinned_session_id == sender_session

    def test_php_curl_array_post_is_multipart(self, app, client, api_key):
        r = client.post(
            "/send-message",
            data={"api_key": api_key, "number": "081234567890", "message": "Halo"},
            content_type="multipart/form-data",
        )
        assert _stored(app, _ok(r)["id"]).content == "Halo"

    def test_post_json_with_footer_and_numbers_as_numbers(self, app, client, api_key):
        r = client.post(
            "/send-message",
            json={
                "api_key": api_key,
                "sender": "",
                "number": 6281234567890,
                "message": "Tagihan Anda",
                "footer": "Sent via Kabar",
            },
        )
        data = _ok(r)
        # As MPWA renders it: a blank line, then the footer quoted in italics.
        assert _stored(app, data["id"]).content == "Tagihan Anda\n\n> _Sent via Kabar_"

    def test_json_body_sent_without_a_json_content_type(self, app, client, api_key):
        body = '{"api_key": "%s", "sender": "any", "number": "081234567890", "message": "Hi"}'
        r = client.post(
            "/send-message", data=body % api_key, content_type="application/x-www-form-urlencoded"
        )
        assert _stored(app, _ok(r)["id"]).content == "Hi"

    def test_form_body_sent_under_a_json_content_type(self, app, client, api_key):
        body = f"api_key={api_key}&sender=any&number=081234567890&message=Hi+there"
        r = client.post("/send-message", data=body, content_type="application/json")
        assert _stored(app, _ok(r)["id"]).content == "Hi there"

    def test_wildcard_sender_is_configurable(self, app, client, api_key, monkeypatch):
        monkeypatch.setitem(app.config, "MPWA_ANY_SENDER", "semua")
        _ok(client.get(phpnuxbill_url(api_key, "081234567890", "Halo", sender="SEMUA")))
        # "any" is now a sender name like another, and not a phone number.
        _refused(client.get(phpnuxbill_url(api_key, "081234567890", "Halo")), "sender")

    def test_a_disconnected_sender_is_queued_and_said_so(self, app, client, api_key):
        with app.app_context():
            db.session.add(
                WhatsAppSession(
                    session_id="session-9",
                    device_id="WA-9",
                    phone_number=SENDER,
                    status="disconnected",
                )
            )
            db.session.commit()
        body = client.get(phpnuxbill_url(api_key, "081234567890", "Halo", sender=SENDER))
        assert "disconnected" in body.get_json()["msg"]
        assert _ok(body)["session_id"] == "session-9"

    def test_recipients_joined_by_a_bar_get_one_row_each_and_one_answer(
        self, app, client, api_key, redis_client
    ):
        # MikroTik scripts and MPWA's own clients join recipients with |; the same number
        # typed twice (0... and 62...) is sent once.
        numbers = "081234567890|6281234567891|081234567890|+62 812-3456-7892"
        data = _ok(client.get(phpnuxbill_url(api_key, numbers, "Gangguan jaringan")))
        sent = data["messages"]
        assert [m["to"] for m in sent] == ["6281234567890", "6281234567891", "6281234567892"]
        assert data["id"] == sent[0]["id"] and len({m["id"] for m in sent}) == 3
        for m in sent:
            stored = _stored(app, m["id"])
            assert stored.content == "Gangguan jaringan" and stored.to_number == m["to"]
            assert m["status_url"] == f"/api/whatsapp/message/{m['id']}/status"
        assert redis_client.hlen(URGENT_QUEUE) == 3

    def test_mikbill_names_its_fields_in_indonesian(self, app, client, api_key, sender_session):
        r = client.post(
            "/send-message",
            json={
                "api_key": api_key,
                "nomor_pengirim": SENDER,
                "nomor_penerima": "081234567890",
                "pesan": "Tagihan bulan ini Rp 150.000",
            },
        )
        data = _ok(r)
        assert data["session_id"] == sender_session and data["to"] == "6281234567890"
        assert _stored(app, data["id"]).content == "Tagihan bulan ini Rp 150.000"

    def test_the_mpwa_name_wins_over_mikbills(self, app, client, api_key):
        fields = {"api_key": api_key, "number": "081234567890", "nomor_penerima": "081234567891"}
        data = _ok(client.post("/send-message", data={**fields, "message": "a", "pesan": "b"}))
        assert data["to"] == "6281234567890" and _stored(app, data["id"]).content == "a"

    def test_the_key_is_recorded_as_used_via_mpwa_and_bearer_as_api(
        self, app, client, api_key, auth
    ):
        def via():
            with app.app_context():
                return db.session.scalar(db.select(ApiKey.last_used_via))

        _ok(client.get(phpnuxbill_url(api_key, "081234567890", "Halo")))
        assert via() == "mpwa"
        assert client.get("/api/whatsapp/sessions", headers=auth).status_code == 200
        assert via() == "api"
        _ok(
            client.post(
                "/send-message",
                json={"api_key": api_key, "number": "081234567890", "message": "Halo"},
            )
        )
        assert via() == "mpwa"


@pytest.fixture
def nothing_queued(app, redis_client):
    yield
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WhatsAppMessage.id))) == 0
    assert redis_client.hlen(URGENT_QUEUE) == 0


@pytest.mark.usefixtures("nothing_queued")
class TestRefused:
    def test_wrong_key(self, client, api_key):
        r = client.get(phpnuxbill_url("kbr_not-a-key", "081234567890", "Halo"))
        assert "wrong or revoked" in _refused(r, "api_key")["msg"]

    def test_missing_key(self, client):
        r = client.post("/send-message", data={"number": "081234567890", "message": "Halo"})
        _refused(r, "api_key")

    def test_revoked_key(self, app, client, api_key):
        with app.app_context():
            db.session.execute(db.update(ApiKey).values(revoked_at=db.func.now()))
            db.session.commit()
        _refused(client.get(phpnuxbill_url(api_key, "081234567890", "Halo")), "api_key")

    def test_unknown_sender(self, client, api_key, sender_session):
        r = client.get(phpnuxbill_url(api_key, "081234567890", "Halo", sender="6281299999999"))
        body = _refused(r, "sender")
        assert "6281299999999" in body["msg"] and "sender=any" in body["msg"]

    def test_sender_that_is_not_a_number(self, client, api_key):
        r = client.get(phpnuxbill_url(api_key, "081234567890", "Halo", sender="device-1"))
        _refused(r, "sender")

    @pytest.mark.parametrize("number", ["12", "0812", "hello", "62@g.us", "|"])
    def test_bad_number(self, client, api_key, number):
        _refused(client.get(phpnuxbill_url(api_key, number, "Halo")), "number")

    def test_one_bad_recipient_of_several_refuses_them_all_naming_it(self, client, api_key):
        r = client.get(phpnuxbill_url(api_key, "081234567890|0812|081234567891", "Halo"))
        _refused(r, "number.1")

    def test_more_recipients_than_a_request_takes(self, client, api_key):
        many = "|".join(f"0812345{n:05d}" for n in range(101))
        r = client.post("/send-message", data={"api_key": api_key, "number": many, "message": "x"})
        assert "at most 100" in _refused(r, "number")["msg"]

    def test_missing_number(self, client, api_key):
        r = client.post("/send-message", json={"api_key": api_key, "message": "Halo"})
        _refused(r, "number")

    def test_missing_message(self, client, api_key):
        r = client.post("/send-message", json={"api_key": api_key, "number": "081234567890"})
        _refused(r, "message")

    def test_blank_message_with_a_footer(self, client, api_key):
        r = client.post(
            "/send-message",
            json={"api_key": api_key, "number": "081234567890", "message": "  ", "footer": "Kabar"},
        )
        _refused(r, "message")

    def test_message_too_long(self, client, api_key):
        r = client.post(
            "/send-message",
            json={"api_key": api_key, "number": "081234567890", "message": "a" * 4097},
        )
        assert "4097" in _refused(r, "message")["msg"]

    def test_field_of_the_wrong_type(self, client, api_key):
        r = client.post(
            "/send-message",
            json={"api_key": api_key, "number": ["081234567890"], "message": "Halo"},
        )
        _refused(r, "number")

    def test_malformed_json(self, client, api_key):
        r = client.post("/send-message", data='{"api_key": "x",', content_type="application/json")
        _refused(r, "body")

    @pytest.mark.parametrize("escaped", ["\\u0000", "\\ud800"])
    def test_text_no_database_column_holds_is_refused_naming_the_field(
        self, client, api_key, escaped
    ):
        body = f'{{"api_key": "{api_key}", "number": "081234567890", "message": "Halo {escaped}"}}'
        _refused(
            client.post("/send-message", data=body, content_type="application/json"), "message"
        )

    def test_json_that_is_not_an_object(self, client):
        _refused(client.post("/send-message", json=["a", "b"]), "body")

    def test_spent_budget_is_429_with_retry_after(self, app, client, api_key, monkeypatch):
        monkeypatch.setitem(app.config, "API_RATE_PER_S", 0.01)
        monkeypatch.setitem(app.config, "API_RATE_BURST", 1)
        url = phpnuxbill_url(api_key, "12", "Halo")  # refused after auth: nothing queued
        _refused(client.get(url), "number")
        r = client.get(url)
        _refused(r, "api_key")
        assert int(r.headers["Retry-After"]) >= 1

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"media_type": "image"}, "url"),
            ({"url": "https://isp.example/qris.png"}, "media_type"),
            ({"media_type": "sticker", "url": "https://isp.example/a.webp"}, "media_type"),
            ({"media_type": "image", "url": "file:///etc/passwd"}, "url"),
            ({"media_type": "document", "url": "invoice.pdf"}, "url"),
            ({"media_type": "image", "url": PNG_URL, "number": "0812"}, "number"),
            ({"media_type": "image", "url": PNG_URL, "caption": "a" * 4097}, "caption"),
        ],
    )  # fmt: skip
    def test_media_that_cannot_be_sent_is_refused_naming_the_field(
        self, client, api_key, fields, field
    ):
        r = client.post(
            "/send-media", data={"api_key": api_key, "number": "081234567890", **fields}
        )
        _refused(r, field)

    def test_media_needs_a_key_with_the_send_scope(self, client):
        r = client.get(
            "/send-media?number=081234567890&media_type=image&url=https://x.example/a.png"
        )
        _refused(r, "api_key")

    @pytest.mark.parametrize(
        "path", ["/send-message", "/send-media", "/check-number", "/info-devices"]
    )
    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    def test_other_methods_are_refused_in_the_same_shape(self, client, path, method):
        body = _refused(client.open(path, method=method), None)
        assert body["msg"] == f"use GET or POST for {path}, not {method}"


class TestLogRedaction:
    def test_werkzeug_request_line_loses_the_key(self, app):
        # werkzeug's own call; the logger's filters run as they do for every record it logs.
        record = logging.LogRecord(
            "werkzeug",
            logging.INFO,
            __file__,
            1,
            '%s - - [%s] "%s" %s %s',
            (
                "127.0.0.1",
                "now",
                "GET /send-message?sender=any&api_key=kbr_SECRET-1&number=1 HTTP/1.1",
                "200",
                "-",
            ),
            None,
        )
        assert logging.getLogger("werkzeug").filter(record)
        assert "kbr_SECRET-1" not in record.getMessage()
        assert f"sender={MASKED}&api_key={REDACTED}&number={MASKED} HTTP/1.1" in record.getMessage()

    def test_a_percent_encoded_key_name_is_redacted_too(self):
        for name in (
            "%61pi_key",
            "api%5Fkey",
            "API%5fKEY",
            "%2561pi_key",
            "api+key".replace("+", "_"),
        ):
            text = redact(f"GET /send-message?{name}=kbr_SECRET-2&sender=any HTTP/1.1")
            assert "kbr_SECRET-2" not in text and f"{name}={REDACTED}" in text

    def test_the_number_and_text_of_a_get_send_message_are_not_kept(self):
        url = phpnuxbill_url("kbr_SECRET-3", "0812-3456-7890", "Tagihan Anda Rp150.000 jatuh tempo")
        text = redact(f"GET {url.split('kabar.local:5000')[1]} HTTP/1.1")
        assert "kbr_SECRET-3" not in text and "3456" not in text and "Tagihan" not in text
        assert text == (
            f"GET /send-message?api_key={REDACTED}&sender={MASKED}&number={MASKED}"
            f"&message={MASKED} HTTP/1.1"
        )

    def test_the_admin_pages_filters_stay_readable(self):
        text = redact("GET /admin/messages?status=failed&page=2&number=0812345678 HTTP/1.1")
        assert text == f"GET /admin/messages?status=failed&page=2&number={MASKED} HTTP/1.1"

    def test_gunicorn_access_record_with_atoms_loses_the_key(self):
        record = logging.LogRecord(
            "gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(r)s" %(q)s', None, None
        )
        record.args = {
            "h": "10.0.0.1",
            "r": "GET /send-message?API_KEY=kbr_S2 HTTP/1.0",
            "q": "api%5Fkey=kbr_S3&x=1",
        }
        assert RedactApiKeys().filter(record)
        assert record.getMessage() == (
            f'10.0.0.1 "GET /send-message?API_KEY={REDACTED} HTTP/1.0" api%5Fkey={REDACTED}&x=1'
        )

    def test_other_records_are_left_alone(self):
        record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s%%", ("50",), None)
        assert RedactApiKeys().filter(record)
        assert record.args == ("50",) and record.getMessage() == "50%"

    def test_the_filter_sits_on_both_request_loggers(self, app):
        for name in ("werkzeug", "gunicorn.access"):
            filters = logging.getLogger(name).filters
            assert sum(isinstance(f, RedactApiKeys) for f in filters) == 1
