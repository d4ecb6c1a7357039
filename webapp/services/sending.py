"""Sending one stored message through a session host: what the send actor does.

Routing here is the seed's failover: the connected sessions by priority, the primary first; a
session that refuses or fails is skipped and the next tried in the same attempt. With none left,
NoSessionAvailable makes the actor retry later. The session host refuses a second send of the
same message, so a retried or repeated attempt never reaches the customer twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from webapp.services import sessions
from webapp.services.errors import KabarError, NoSessionAvailable
from webapp.services.phone import Recipient

log = logging.getLogger(__name__)


def deliver(message_id: int) -> str:
    """Send message ``message_id`` unless it is no longer queued; return what happened."""
    message = db.session.get(WhatsAppMessage, message_id)
    if message is None:
        return "missing"
    if message.status != "queued":
        return f"already {message.status}"
    candidates = list(
        db.session.scalars(
            db.select(WhatsAppSession)
            .where(WhatsAppSession.status == "connected")
            .order_by(WhatsAppSession.is_primary.desc(), WhatsAppSession.priority)
        )
    )
    errors = []
    for session in candidates:
        try:
            result = sessions.host_call(
                session.session_id,
                "send",
                message_id=message.id,
                jid=Recipient(message.to_number).jid,
                text=message.content,
            )
        except KabarError as exc:
            log.warning(
                "session %s could not send message %s: %s",
                session.session_id,
                message.id,
                exc.message,
            )
            errors.append(f"{session.session_id}: {exc.message}")
            session.error_count += 1
            db.session.commit()
            continue
        _mark_sent(message, session, result)
        return "duplicate" if result.get("duplicate") else "sent"
    raise NoSessionAvailable(
        "no connected session could send" + (": " + "; ".join(errors) if errors else "")
    )


def _mark_sent(message: WhatsAppMessage, session: WhatsAppSession, result: dict) -> None:
    sent_at = datetime.fromtimestamp(float(result["sent_at"]), UTC)
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M)
        .where(M.id == message.id)
        .values(
            session_id=result.get("session_id", session.session_id),
            message_id=result["wa_message_id"],
            sent_at=sent_at,
            error_message=None,
        )
    )
    # A receipt may have been folded first; never move a status backwards.
    db.session.execute(
        sa.update(M).where(M.id == message.id, M.status == "queued").values(status="sent")
    )
    if not result.get("duplicate"):
        session.message_count += 1
        session.last_activity = sent_at
    db.session.commit()


def mark_failed(message_id: int, attempts: int) -> None:
    """Every attempt failed: the row becomes ``failed``, keeping the last attempt's reason."""
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M)
        .where(M.id == message_id, M.status == "queued")
        .values(
            status="failed",
            retry_count=attempts,
            error_message=sa.func.coalesce(M.error_message, "no session could send"),
        )
    )
    db.session.commit()


def record_retry(message_id: int, retries: int, reason: str) -> None:
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M).where(M.id == message_id).values(retry_count=retries, error_message=reason)
    )
    db.session.commit()
