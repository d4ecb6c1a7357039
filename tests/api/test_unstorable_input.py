"""Input no database column can hold, JSON nested without end and amounts past Decimal's
precision are refused with a 4xx naming what is wrong, never a 500 (found by the schemathesis
run)."""

from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import BulkJob, WhatsAppMessage

DEEP = '{"to": "081234567890", "text": "x", "data": ' + "[" * 50_000 + "]" * 50_000 + "}"
JSON = {"Content-Type": "application/json"}


def _nothing_saved(app):
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(WhatsAppMessage.id))) == 0
        assert db.session.scalar(db.select(db.func.count(BulkJob.id))) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/whatsapp/send"),
        ("POST", "/api/whatsapp/send-bulk"),
        ("POST", "/api/events"),
        ("PATCH", "/api/settings"),
    ],
)
def test_json_nested_without_end_is_a_400(app, client, auth, method, path):
    response = client.open(path, method=method, headers={**auth, **JSON}, data=DEEP)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "nested deeper" in response.get_json()["error"]["message"]
    _nothing_saved(app)


def test_json_nested_a_little_too_deep_names_the_field(client, auth):
    data = {"a": 1}
    for _ in range(40):
        data = {"a": data}
    response = client.post(
        "/api/whatsapp/send", headers=auth, json={"to": "081234567890", "text": "x", "d": data}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["field"].startswith("d.a.a")


def test_mpwa_json_nested_without_end_is_refused_in_its_dialect(client, api_key):
    deep = "[" * 50_000 + "]" * 50_000
    body = f'{{"api_key": "{api_key}", "number": "081234567890", "message": {deep}}}'
    response = client.post("/send-message", headers=JSON, data=body)
    assert response.status_code == 400
    assert response.get_json() == {
        "status": False,
        "field": "body",
        "msg": "body: nested far too deeply",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"to": "081234567890", "text": "Halo\u0000"},
        {"to": "081234567890", "template": "payment_reminder", "data": {"amount\u0000": 1}},
    ],
)
def test_a_nul_character_in_the_body_is_a_400(app, client, auth, body):
    response = client.post("/api/whatsapp/send", headers=auth, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "NUL" in response.get_json()["error"]["message"]
    _nothing_saved(app)


def test_a_nul_character_in_a_bulk_recipient_is_a_400(app, client, auth):
    body = {
        "template": "payment_reminder",
        "recipients": [{"whatsapp": "081234567890", "data": {"name": "A\u0000"}}],
    }
    response = client.post("/api/whatsapp/send-bulk", headers=auth, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "recipients.0.data.name"
    _nothing_saved(app)


@pytest.mark.parametrize("path", ["/api/whatsapp/sessions/a%00b", "/api/whatsapp/bulk/a%00b"])
def test_a_nul_character_in_the_path_is_a_400(client, auth, path):
    response = client.get(path, headers=auth)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "invalid_value"


def test_a_nul_character_in_an_mpwa_message_is_refused_in_its_dialect(app, client, api_key):
    response = client.get(f"/send-message?api_key={api_key}&number=081234567890&message=a%00b")
    assert response.status_code == 400
    assert response.get_json()["status"] is False
    _nothing_saved(app)


@pytest.mark.parametrize("amount", ["1e28", "10000000000000000000000000000", 1e30, "9e999999"])
def test_an_amount_too_large_to_format_is_an_invalid_variable(client, auth, amount):
    response = client.post(
        "/api/whatsapp/templates/preview",
        headers=auth,
        json={"name": "payment_reminder", "data": {"amount": amount}},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    preview = response.get_json()
    assert "amount" in preview["invalid"]
    data = {name: "2026-12-25" if "date" in name else "A" for name in preview["variables"]}
    sent = client.post(
        "/api/whatsapp/send",
        headers=auth,
        json={
            "to": "081234567890",
            "template": "payment_reminder",
            "data": {**data, "amount": amount},
        },
    )
    assert sent.status_code == 422, sent.get_data(as_text=True)
    assert sent.get_json()["error"]["code"] == "invalid_variable"
    assert sent.get_json()["error"]["field"] == "data.amount"
