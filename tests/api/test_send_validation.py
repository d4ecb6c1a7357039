"""Bad input to POST /api/whatsapp/send: a JSON error naming the field, and nothing queued."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage

QUEUE_MESSAGES = "dramatiq:urgent.msgs"


@pytest.fixture
def nothing_queued(app, redis_client):
    yield
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WhatsAppMessage.id))) == 0
    assert redis_client.hlen(QUEUE_MESSAGES) == 0


def _error(response, status, field):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"]["field"] == field, body
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.usefixtures("nothing_queued")
class TestRefusedSends:
    def test_unknown_template(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": "081234567890", "template": "no_such", "data": {}},
        )
        assert _error(r, 422, "template")["code"] == "unknown_template"

    def test_missing_variable_names_every_missing_one(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={
                "to": "081234567890",
                "template": "voucher_activated",
                "data": {"voucher_code": "X"},
            },
        )
        error = _error(r, 422, "data.duration")
        assert error["code"] == "missing_variable"
        assert "duration" in error["message"] and "expiry_time" in error["message"]

    @pytest.mark.parametrize("number", ["12", "0812", "+99 123", "hello", "62@g.us"])
    def test_impossible_number(self, client, auth, number):
        r = client.post("/api/whatsapp/send", headers=auth, json={"to": number, "text": "Halo"})
        assert r.status_code in (400, 422)
        assert r.get_json()["error"]["field"] == "to"

    def test_body_over_4096_characters(self, client, auth):
        r = client.post(
            "/api/whatsapp/send", headers=auth, json={"to": "081234567890", "text": "a" * 4097}
        )
        error = _error(r, 422, "text")
        assert error["code"] == "message_too_long" and "4097" in error["message"]

    def test_rendered_template_over_4096_characters(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={
                "to": "081234567890",
                "template": "voucher_activated",
                "data": {"voucher_code": "x" * 5000, "duration": "1", "expiry_time": "2"},
            },
        )
        assert _error(r, 422, "template")["code"] == "message_too_long"

    def test_malformed_json(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers={**auth, "Content-Type": "application/json"},
            data='{"to": "0812",',
        )
        _error(r, 400, "body")

    def test_json_that_is_not_an_object(self, client, auth):
        r = client.post("/api/whatsapp/send", headers=auth, json=["to", "text"])
        _error(r, 400, "body")

    def test_missing_recipient(self, client, auth):
        r = client.post("/api/whatsapp/send", headers=auth, json={"text": "Halo"})
        _error(r, 400, "to")

    def test_neither_template_nor_text(self, client, auth):
        r = client.post("/api/whatsapp/send", headers=auth, json={"to": "081234567890"})
        _error(r, 400, "template")

    def test_both_template_and_text(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": "081234567890", "text": "x", "template": "new_invoice"},
        )
        _error(r, 400, "template")

    def test_data_of_the_wrong_type(self, client, auth):
        r = client.post(
            "/api/whatsapp/send",
            headers=auth,
            json={"to": "081234567890", "template": "new_invoice", "data": "x"},
        )
        _error(r, 400, "data")

    def test_empty_text(self, client, auth):
        r = client.post(
            "/api/whatsapp/send", headers=auth, json={"to": "081234567890", "text": " "}
        )
        _error(r, 400, "text")

    def test_missing_api_key(self, client):
        r = client.post("/api/whatsapp/send", json={"to": "081234567890", "text": "Halo"})
        assert _error(r, 401, "Authorization")["code"] == "unauthorized"

    def test_wrong_api_key(self, client, api_key):
        r = client.post(
            "/api/whatsapp/send",
            json={"to": "081234567890", "text": "Halo"},
            headers={"Authorization": f"Bearer {api_key}x"},
        )
        _error(r, 401, "Authorization")


def test_accepted_send_is_stored_then_queued(app, client, auth, redis_client):
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={
            "to": "0812-3456-7890",
            "template": "expiry_warning",
            "data": {
                "customer_name": "Budi",
                "remaining_time": "3 hari",
                "renewal_url": "https://x.id/r",
            },
        },
    )
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["to"] == "6281234567890" and body["status"] == "queued"
    with app.app_context():
        row = db.session.get(WhatsAppMessage, body["id"])
        assert row.status == "queued"
        assert "Halo Budi," in row.content and "⏰ 3 hari" in row.content
    assert redis_client.hlen(QUEUE_MESSAGES) == 1


def test_repeated_idempotency_key_returns_the_first_message(client, auth, redis_client):
    payload = {"to": "081234567890", "text": "Tagihan", "idempotencyKey": "inv-001"}
    first = client.post("/api/whatsapp/send", headers=auth, json=payload)
    second = client.post("/api/whatsapp/send", headers=auth, json=payload)
    assert first.status_code == 202 and second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.get_json()["duplicate"] is True
    assert redis_client.hlen(QUEUE_MESSAGES) == 1


def test_status_of_unknown_message_is_404(client, auth):
    for message_id in ("999", "abc"):
        r = client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth)
        _error(r, 404, "id")


def test_a_send_with_a_priority_waits_in_the_normal_band(client, auth, redis_client):
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "text": "Info", "priority": 4},
    )
    assert r.status_code == 202
    status = client.get(r.get_json()["statusUrl"], headers=auth).get_json()
    assert (status["band"], status["priority"]) == ("normal", 4)
    assert redis_client.hlen("dramatiq:normal.msgs") == 1


def test_bad_priority_routing_and_session(client, auth):
    for body, field in [
        ({"priority": 11}, "priority"),
        ({"routing": "random"}, "routing"),
        ({"sessionId": "session-404"}, "sessionId"),
    ]:
        r = client.post(
            "/api/whatsapp/send", headers=auth, json={"to": "081234567890", "text": "x", **body}
        )
        assert r.status_code in (400, 422) and r.get_json()["error"]["field"] == field


def test_a_flooding_client_gets_429_with_retry_after(app, client, auth):
    app.config["API_RATE_BURST"], app.config["API_RATE_PER_S"] = 3, 0.5
    try:
        codes = [client.get("/api/whatsapp/sessions", headers=auth).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = client.get("/api/whatsapp/sessions", headers=auth)
        assert r.get_json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["Retry-After"]) <= 2
    finally:
        app.config["API_RATE_BURST"], app.config["API_RATE_PER_S"] = 200, 50.0


def test_an_email_for_the_fallback_is_kept_and_a_bad_one_refused(app, client, auth):
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "text": "x", "email": "budi@example.co.id"},
    )
    assert r.status_code == 202
    with app.app_context():
        assert db.session.get(WhatsAppMessage, r.get_json()["id"]).email == "budi@example.co.id"
    r = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={"to": "081234567890", "text": "x", "email": "not-an-address"},
    )
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "email"
