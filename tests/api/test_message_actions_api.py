"""Resend and cancel over the API: only from the states they make sense in."""

from __future__ import annotations

from webapp.extensions import db
from webapp.intake import messages
from webapp.models import WhatsAppMessage
from workers.queue.contracts import Band


def _queued(app) -> int:
    with app.app_context():
        (message_id,) = messages.queue_texts([("081234567890", "hi")], band=Band.NORMAL)
    return message_id


def test_a_queued_message_is_cancelled_and_then_cannot_be_resent(app, client, auth):
    message_id = _queued(app)
    r = client.post(f"/api/whatsapp/message/{message_id}/cancel", headers=auth)
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    r = client.post(f"/api/whatsapp/message/{message_id}/resend", headers=auth)
    assert r.status_code == 409
    assert "not failed" in r.get_json()["error"]["message"]


def test_a_failed_message_is_queued_again(app, client, auth):
    message_id = _queued(app)
    with app.app_context():
        db.session.get(WhatsAppMessage, message_id).status = "failed"
        db.session.commit()
    r = client.post(f"/api/whatsapp/message/{message_id}/resend", headers=auth)
    assert r.status_code == 202 and r.get_json()["status"] == "queued"
    r = client.post(f"/api/whatsapp/message/{message_id}/cancel", headers=auth)
    assert r.status_code == 200


def test_unknown_messages_and_missing_keys_are_refused(client, auth):
    assert client.post("/api/whatsapp/message/999/resend", headers=auth).status_code == 404
    assert client.post("/api/whatsapp/message/abc/cancel", headers=auth).status_code == 404
    assert client.post("/api/whatsapp/message/1/cancel").status_code == 401


def test_a_resend_while_a_live_session_host_sends_is_refused(app, client, auth, redis_client):
    import json

    from workers.queue import keys

    message_id = _queued(app)
    with app.app_context():
        db.session.get(WhatsAppMessage, message_id).status = "failed"
        db.session.commit()
    claim = {"state": "sending", "host": "h1", "session_id": "session-1"}
    redis_client.set(keys.sent_record(message_id), json.dumps(claim))
    redis_client.set(keys.host("h1"), "[]", px=3000)
    r = client.post(f"/api/whatsapp/message/{message_id}/resend", headers=auth)
    assert r.status_code == 409
    assert "still being sent by a live session host" in r.get_json()["error"]["message"]
    assert (
        client.get(f"/api/whatsapp/message/{message_id}/status", headers=auth).get_json()["status"]
        == "failed"
    )
