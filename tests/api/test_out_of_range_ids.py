"""Ids no row can have (past PostgreSQL's integer, not plain digits) and rows removed while a
request changes them are 404s, never 500s (found by the schemathesis run)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.extensions import db

UNREACHABLE = [str(2**31), str(2**63), "94939412878218336665600", "0", "²", "١٢"]


def _not_found(response):
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("message_id", UNREACHABLE)
@pytest.mark.parametrize("action", ["get status", "post resend", "post cancel"])
def test_a_message_id_no_row_can_have_is_not_found(client, auth, message_id, action):
    method, name = action.split()
    response = client.open(
        f"/api/whatsapp/message/{message_id}/{name}", method=method.upper(), headers=auth
    )
    _not_found(response)


@pytest.mark.parametrize("webhook_id", UNREACHABLE)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_webhook_id_no_row_can_have_is_not_found(client, auth, webhook_id, method):
    _not_found(client.open(f"/api/whatsapp/webhooks/{webhook_id}", method=method, headers=auth))


@pytest.mark.parametrize("template_id", UNREACHABLE)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_template_id_no_row_can_have_is_not_found(client, auth, template_id, method):
    _not_found(client.open(f"/api/whatsapp/templates/{template_id}", method=method, headers=auth))


def test_a_session_removed_while_it_is_changed_is_not_found(app, client, auth):
    created = client.post("/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1"})
    session_id = created.get_json()["session"]["id"]

    deleted = []

    def removed_meanwhile(session, flush_context, instances):
        # Another request deletes the row between this one's read and its write.
        if deleted:
            return
        deleted.append(session_id)
        with db.engine.connect() as other:
            other.execute(
                sa.text("DELETE FROM whatsapp_sessions WHERE session_id = :id"), {"id": session_id}
            )
            other.commit()

    sa.event.listen(sa.orm.Session, "before_flush", removed_meanwhile)
    try:
        response = client.patch(
            f"/api/whatsapp/sessions/{session_id}", headers=auth, json={"priority": 5}
        )
    finally:
        sa.event.remove(sa.orm.Session, "before_flush", removed_meanwhile)
    assert deleted
    _not_found(response)


def test_a_session_removed_before_it_is_shown_is_not_found(app, client, auth):
    """The PATCH commits, another request deletes the row, then the answer reads it."""
    created = client.post("/api/whatsapp/sessions", headers=auth, json={"deviceId": "WA-1"})
    session_id = created.get_json()["session"]["id"]
    deleted = []

    def removed_meanwhile(session):
        if deleted:
            return
        deleted.append(session_id)
        with db.engine.connect() as other:
            other.execute(
                sa.text("DELETE FROM whatsapp_sessions WHERE session_id = :id"), {"id": session_id}
            )
            other.commit()

    sa.event.listen(sa.orm.Session, "after_commit", removed_meanwhile)
    try:
        response = client.patch(
            f"/api/whatsapp/sessions/{session_id}", headers=auth, json={"jitterMs": 0}
        )
    finally:
        sa.event.remove(sa.orm.Session, "after_commit", removed_meanwhile)
    assert deleted
    _not_found(response)
