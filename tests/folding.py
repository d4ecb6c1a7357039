"""Session events as a session host writes them, and the rows they fold into, for fold tests."""

from __future__ import annotations

import time

from webapp.extensions import db
from webapp.models import WhatsAppMessage


def sent_message(wa_id: str) -> int:
    """A message row the worker marked sent with WhatsApp id ``wa_id``; its id."""
    message = WhatsAppMessage(
        to_number="6281234567890", content="hi", status="sent", message_id=wa_id, band="urgent"
    )
    db.session.add(message)
    db.session.commit()
    return message.id


def receipt(wa_id: str, status: str) -> dict:
    return {
        "session_id": "s-1",
        "kind": "receipt",
        "at": time.time(),
        "status": status,
        "wa_message_id": wa_id,
    }


def status_of(app, message_id: int) -> str:
    with app.app_context():
        return db.session.get(WhatsAppMessage, message_id).status
