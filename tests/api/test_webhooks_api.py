"""/api/whatsapp/webhooks: create (secret shown once), list, get, delete, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime

from webapp.extensions import db
from webapp.models import Webhook


def create(client, auth, **body):
    return client.post("/api/whatsapp/webhooks", headers=auth, json=body)


def test_a_created_webhook_shows_its_secret_once(client, auth):
    created = create(client, auth, url="https://billing.example/kabar", events=["message.status"])
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    secret = body["secret"]
    assert len(secret) == 64
    assert body["webhook"]["url"] == "https://billing.example/kabar"
    assert body["webhook"]["events"] == ["message.status"]
    assert body["webhook"]["active"] is True and body["webhook"]["lastDelivery"] is None

    listed = client.get("/api/whatsapp/webhooks", headers=auth)
    one = client.get(f"/api/whatsapp/webhooks/{body['webhook']['id']}", headers=auth)
    assert listed.status_code == 200 and one.status_code == 200
    assert [w["id"] for w in listed.get_json()["webhooks"]] == [body["webhook"]["id"]]
    for response in (listed, one):
        assert secret not in response.get_data(as_text=True)
        assert "secret" not in response.get_data(as_text=True)


def test_both_events_are_the_default(client, auth, private_webhooks):
    created = create(client, auth, url="http://127.0.0.1:9000/hook")
    assert created.get_json()["webhook"]["events"] == ["message.status", "message.incoming"]


def test_the_last_delivery_is_shown(app, client, auth):
    webhook_id = create(client, auth, url="https://x.example/").get_json()["webhook"]["id"]
    with app.app_context():
        row = db.session.get(Webhook, webhook_id)
        row.last_event, row.last_status_code, row.last_error = "message.status", 500, "HTTP 500"
        row.last_attempt_at = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
        row.failure_count = 2
        db.session.commit()
    shown = client.get(f"/api/whatsapp/webhooks/{webhook_id}", headers=auth).get_json()["webhook"]
    assert shown["lastDelivery"] == {
        "event": "message.status",
        "statusCode": 500,
        "error": "HTTP 500",
        "at": "2026-12-10T03:00:00.000Z",
        "ok": False,
    }
    assert shown["failures"] == 2 and shown["deliveries"] == 0


def test_a_deleted_webhook_is_gone(client, auth):
    webhook_id = create(client, auth, url="https://x.example/").get_json()["webhook"]["id"]
    deleted = client.delete(f"/api/whatsapp/webhooks/{webhook_id}", headers=auth)
    assert deleted.status_code == 200 and deleted.get_json() == {"deleted": webhook_id}
    again = client.delete(f"/api/whatsapp/webhooks/{webhook_id}", headers=auth)
    assert again.status_code == 404 and again.get_json()["error"]["field"] == "id"
    assert client.get("/api/whatsapp/webhooks/abc", headers=auth).status_code == 404


def test_bad_input_names_the_field(client, auth):
    cases = [
        ({}, "url"),
        ({"url": "ftp://x.example/"}, "url"),
        ({"url": "https://x.example/", "events": []}, "events"),
        ({"url": "https://x.example/", "events": ["message.deleted"]}, "events.0"),
        ({"url": "https://x.example/", "events": "message.status"}, "events"),
    ]
    for body, field in cases:
        response = create(client, auth, **body)
        assert response.status_code == 400, (body, response.get_json())
        assert response.get_json()["error"]["field"] == field, body
    not_json = client.post("/api/whatsapp/webhooks", headers=auth, data="{", content_type="x")
    assert not_json.status_code == 400 and not_json.get_json()["error"]["field"] == "body"


def test_webhooks_need_an_api_key(client):
    assert client.get("/api/whatsapp/webhooks").status_code == 401
    anonymous = client.post("/api/whatsapp/webhooks", json={"url": "https://x.example/"})
    assert anonymous.status_code == 401
