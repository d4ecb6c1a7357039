"""Sending one stored message: route it, wait for the number's slot, call the session host.

Each attempt walks the routes of the message's policy (see ``routing``): for each number it
waits for a send slot from the pacer, then asks the session host to send. A number that fails is
put in back-off and the next one tried at once. With none left, NoSessionAvailable makes the
actor retry later; a slot too far away gives the message back to the queue (GiveBack). The
session host refuses a second send of the same message, so retries never reach a customer twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession, WhatsAppTemplate, as_utc
from webapp.redis_client import get_redis
from webapp.services import fallback, optout, quiet_hours, routing, sessions, webhooks
from webapp.services.errors import KabarError, NoSessionAvailable
from webapp.services.phone import Recipient
from workers.pacer import GiveBack, Pacer, ticket_score

log = logging.getLogger(__name__)

# What a message held by quiet hours waits for, in place of a number's slot.
QUIET_HOURS = "quiet-hours"


@dataclass(frozen=True)
class Outgoing:
    """What sending needs of a row, read once so no database connection is held while waiting."""

    id: int
    jid: str
    text: str
    band: str
    priority: int
    policy: str
    pinned_session_id: str | None
    created_ms: int
    phone: str = ""
    category: str | None = None  # of the template, for opt-out and quiet hours


def load(message_id: int) -> Outgoing | None:
    """The message if it still waits to be sent, else None."""
    message = db.session.get(WhatsAppMessage, message_id)
    if message is None or message.status != "queued":
        return None
    outgoing = Outgoing(
        id=message.id,
        jid=Recipient(message.to_number).jid,
        text=message.content,
        band=message.band,
        priority=message.priority,
        policy=message.routing or routing.default_policy(message.band),
        pinned_session_id=message.pinned_session_id,
        created_ms=int(as_utc(message.created_at).timestamp() * 1000),
        phone=message.to_number,
        category=db.session.scalar(
            sa.select(WhatsAppTemplate.category).where(WhatsAppTemplate.id == message.template_id)
        )
        if message.template_id
        else None,
    )
    db.session.rollback()  # release the connection before waiting for a slot
    return outgoing


def deliver(message_id: int) -> str:
    """Send message ``message_id`` unless it is no longer queued; return what happened.

    Raises NoSessionAvailable (retry later) or GiveBack (re-queue without counting an attempt).
    """
    message = load(message_id)
    if message is None:
        return "not queued"
    if optout.applies(message.band, message.category) and optout.is_opted_out(message.phone):
        optout.skip(message.id)
        return "skipped"
    if (hold_ms := quiet_hours.wait_ms(message.category)) > 0:
        db.session.rollback()
        raise GiveBack(QUIET_HOURS, hold_ms)
    routes = routing.routes(message.policy, message.pinned_session_id)
    db.session.rollback()
    if not routes:
        raise NoSessionAvailable("no connected session can send now")
    pacer = Pacer(get_redis())
    score = ticket_score(message.band, message.priority, message.created_ms)
    max_park = current_app.config["MAX_PARK_MS"].get(message.band, 30_000)
    errors = []
    for route in routes:
        # Under failover a busy primary is waited for; only an error moves to the next number.
        pacer.acquire(
            route.session_id,
            str(message.id),
            score,
            route.interval_ms,
            route.jitter_ms,
            max_park_ms=max_park,
        )
        try:
            result = sessions.host_call(
                route.session_id,
                "send",
                message_id=message.id,
                jid=message.jid,
                text=message.text,
                min_gap_ms=route.interval_ms,
            )
        except KabarError as exc:
            backoff = routing.record_failure(route.session_id)
            log.warning(
                "session %s could not send message %s (%s); resting it %d ms",
                route.session_id,
                message.id,
                exc.message,
                backoff,
            )
            errors.append(f"{route.session_id}: {exc.message}")
            _count_error(route.session_id)
            continue
        routing.record_success(route.session_id)
        _mark_sent(message.id, route.session_id, result)
        return "duplicate" if result.get("duplicate") else "sent"
    raise NoSessionAvailable("no connected session could send: " + "; ".join(errors))


def _count_error(session_id: str) -> None:
    S = WhatsAppSession
    db.session.execute(
        sa.update(S).where(S.session_id == session_id).values(error_count=S.error_count + 1)
    )
    db.session.commit()


def _mark_sent(message_id: int, session_id: str, result: dict) -> None:
    sent_at = datetime.fromtimestamp(float(result["sent_at"]), UTC)
    sender = result.get("session_id", session_id)
    M, S = WhatsAppMessage, WhatsAppSession
    db.session.execute(
        sa.update(M)
        .where(M.id == message_id)
        .values(
            session_id=sender,
            message_id=result["wa_message_id"],
            sent_at=sent_at,
            error_message=None,
            # A receipt may have been folded first; never move a status backwards.
            status=sa.case((M.status == "queued", "sent"), else_=M.status),
        )
    )
    webhooks.message_status(message_id, "sent")
    if not result.get("duplicate"):
        db.session.execute(
            sa.update(S)
            .where(S.session_id == sender)
            .values(message_count=S.message_count + 1, last_activity=sent_at)
        )
    db.session.commit()


def mark_failed(message_id: int, attempts: int) -> None:
    """Every attempt failed: the row becomes ``failed``, keeping the last attempt's reason."""
    M = WhatsAppMessage
    changed = db.session.execute(
        sa.update(M)
        .where(M.id == message_id, M.status == "queued")
        .values(
            status="failed",
            retry_count=attempts,
            error_message=sa.func.coalesce(M.error_message, "no session could send"),
        )
    ).rowcount
    if changed:
        webhooks.message_status(message_id, "failed")
    db.session.commit()
    if changed:
        fallback.after_failure(message_id)


def record_retry(message_id: int, retries: int, reason: str) -> None:
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M).where(M.id == message_id).values(retry_count=retries, error_message=reason)
    )
    db.session.commit()


__all__ = ["GiveBack", "NoSessionAvailable", "deliver", "mark_failed", "record_retry"]
