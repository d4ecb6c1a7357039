"""Folding the session-event stream into PostgreSQL.

Events may arrive twice (a folder died before acknowledging) or out of order (two folders in
parallel), so every change is idempotent and ordered by the event's own time: a session's state
takes the newest event only, and a message's status only ever moves forward.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from webapp.extensions import db
from webapp.models import STATUS_RANK, WhatsAppMessage, WhatsAppSession, as_utc
from webapp.services.sessions import recompute_primary

log = logging.getLogger(__name__)

# States whose reason is worth showing the operator.
_TROUBLE = {"disconnected", "logged_out", "banned", "failed"}


def apply(event: dict[str, Any]) -> None:
    """Apply one event and commit."""
    kind = event.get("kind")
    at = datetime.fromtimestamp(float(event.get("at", 0)), UTC)
    if kind == "receipt":
        _apply_receipt(event, at)
    elif kind in ("status", "qr", "paired"):
        _apply_session_change(kind, event, at)
    elif kind == "message":
        log.info("incoming message on %s from %s", event.get("session_id"), event.get("from_phone"))
    else:
        log.warning("ignored session event of unknown kind %r", kind)
    db.session.commit()


def _apply_session_change(kind: str, event: dict[str, Any], at: datetime) -> None:
    session = db.session.scalar(
        db.select(WhatsAppSession)
        .where(WhatsAppSession.session_id == event.get("session_id"))
        .with_for_update()
    )
    if session is None:
        return  # deleted since
    if kind == "paired" or event.get("phone"):
        session.phone_number = event.get("phone") or session.phone_number
    if kind == "paired":
        return
    last = as_utc(session.status_changed_at)
    if last is not None and at < last:
        return  # an older state than the one shown
    session.status_changed_at = at
    if kind == "qr":
        session.status = "qr"
        session.qr_code = event.get("code")
        session.qr_expires_at = datetime.fromtimestamp(float(event["expires_at"]), UTC)
    else:
        status = event.get("status", "disconnected")
        session.status = status
        if status != "qr":
            session.qr_code = None
            session.qr_expires_at = None
        if status == "connected":
            session.last_activity = at
            session.last_error = None
        elif status in _TROUBLE and event.get("reason"):
            session.last_error = event["reason"]
    db.session.flush()
    recompute_primary()


def _apply_receipt(event: dict[str, Any], at: datetime) -> None:
    query = db.select(WhatsAppMessage).with_for_update()
    if event.get("message_id") and str(event["message_id"]).isdigit():
        query = query.where(WhatsAppMessage.id == int(event["message_id"]))
    else:
        query = query.where(WhatsAppMessage.message_id == event.get("wa_message_id"))
    message = db.session.scalar(query)
    if message is None:
        log.info("receipt for unknown message %s", event.get("wa_message_id"))
        return
    status = event.get("status")
    if status not in ("delivered", "read"):
        return
    message.delivered_at = message.delivered_at or at
    if status == "read":
        message.read_at = message.read_at or at
    if STATUS_RANK.get(message.status, 0) < STATUS_RANK[status]:
        message.status = status
    if message.message_id is None:
        message.message_id = event.get("wa_message_id")
    if message.session_id is None and db.session.scalar(
        db.select(WhatsAppSession.id).where(WhatsAppSession.session_id == event.get("session_id"))
    ):
        message.session_id = event.get("session_id")
