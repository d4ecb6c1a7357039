"""Folding the session-event stream into PostgreSQL.

Events may arrive twice (a folder died before acknowledging) or out of order (two folders in
parallel), so every change is idempotent and ordered by the event's own time: a session's state
takes the newest event only, and a message's status only ever moves forward.

Besides state, QR codes and receipts, the stream carries the session host's ``health`` events
(error count and last error), incoming ``message`` events (stored once per WhatsApp message id,
and the sender kept as a contact) and ``contacts`` events (an address-book sync).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import (
    STATUS_RANK,
    Contact,
    IncomingMessage,
    WhatsAppMessage,
    WhatsAppSession,
    as_utc,
    iso,
    utcnow,
)
from webapp.redis_client import get_redis
from workers.pipeline import optout, sending, warmup, webhooks
from workers.pipeline.sessions import recompute_primary
from workers.queue.contracts import MEDIA_TYPES, EventKind, MessageStatus, SessionState

log = logging.getLogger(__name__)

# States whose reason is worth showing the operator.
_TROUBLE = {
    SessionState.DISCONNECTED,
    SessionState.QR_EXPIRED,
    SessionState.LOGGED_OUT,
    SessionState.BANNED,
    SessionState.FAILED,
}
# PostgreSQL advisory lock that serialises session state changes between parallel folders, so
# that each recomputation of the primary sees the others' committed states (never two primaries).
_STATE_LOCK = 0x4B61626172
_PHONE = re.compile(r"^\d{5,20}$")


def apply(event: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply one event and commit; a receipt whose message is not known yet is returned."""
    return apply_all([event])


def apply_all(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply a batch of events: one commit for the session events, one for the receipts,
    instead of one per event. Returns the receipts whose message is not known (yet).

    Receipts only touch message rows, so they go together (one query finds all their rows) and
    in a transaction of their own: the send path locks message rows then the session's, and a
    folder holding a session row while it waits for message rows could deadlock with it.
    Raises whatever one event raised; the caller then applies the events one by one (they are
    idempotent) to find and set aside the bad one.
    """
    for event in events:
        if event.get("kind") not in (EventKind.RECEIPT, EventKind.SEND_RESULT):
            _apply(event)
    db.session.commit()
    if results := [event for event in events if event.get("kind") == EventKind.SEND_RESULT]:
        sending.settle_results(results)
    unknown = _apply_receipts([event for event in events if event.get("kind") == EventKind.RECEIPT])
    db.session.commit()
    return unknown


def dead_letters(limit: int = 200) -> list[dict[str, Any]]:
    """The session events set aside (they failed twice with the database up), newest first,
    each with ``at``, when it was set aside."""
    from workers.queue import session_events as stream

    return [
        {**dead, "at": datetime.fromtimestamp(dead["at"], UTC)}
        for dead in stream.dead_letters(get_redis(), limit)
    ]


def replay_dead(entry_ids: list[str] | None = None) -> int:
    """Send dead letters (all when ``entry_ids`` is None) back to be folded; return how many."""
    from workers.queue import session_events as stream

    return stream.replay_dead(get_redis(), entry_ids)


def _apply(event: dict[str, Any]) -> None:
    kind = event.get("kind")
    at = datetime.fromtimestamp(float(event.get("at", 0)), UTC)
    if kind in (EventKind.STATUS, EventKind.QR, EventKind.PAIRED):
        _apply_session_change(kind, event, at)
    elif kind == EventKind.HEALTH:
        _apply_health(event, at)
    elif kind == EventKind.MESSAGE:
        _apply_incoming(event, at)
    elif kind == EventKind.CONTACTS:
        _apply_contacts(event)
    else:
        log.warning("ignored session event of unknown kind %r", kind)


def _locked_session(session_id: Any) -> WhatsAppSession | None:
    return db.session.scalar(
        db.select(WhatsAppSession).where(WhatsAppSession.session_id == session_id).with_for_update()
    )


def _serialise_state_changes() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STATE_LOCK})


def _apply_session_change(kind: str, event: dict[str, Any], at: datetime) -> None:
    if kind != EventKind.PAIRED:
        _serialise_state_changes()
    session = _locked_session(event.get("session_id"))
    if session is None:
        return  # deleted since
    if kind == EventKind.PAIRED or event.get("phone"):
        session.phone_number = event.get("phone") or session.phone_number
    if kind == EventKind.PAIRED:
        warmup.start_if_new(session, at)
        return
    last = as_utc(session.status_changed_at)
    if last is not None and at < last:
        return  # an older state than the one shown
    session.status_changed_at = at
    if kind == EventKind.QR:
        session.status = SessionState.QR
        session.qr_code = event.get("code")
        session.qr_expires_at = datetime.fromtimestamp(float(event["expires_at"]), UTC)
    else:
        status = event.get("status", SessionState.DISCONNECTED)
        session.status = status
        if status != SessionState.QR:
            session.qr_code = None
            session.qr_expires_at = None
        if status == SessionState.CONNECTED:
            session.last_activity = at
            session.last_error = None
            session.ban_expires_at = None
        elif status in _TROUBLE and event.get("reason"):
            session.last_error = event["reason"]
        if status == SessionState.BANNED:
            expires_at = event.get("expires_at")
            session.ban_expires_at = (
                datetime.fromtimestamp(float(expires_at), UTC) if expires_at else None
            )
    db.session.flush()
    recompute_primary()


def _apply_health(event: dict[str, Any], at: datetime) -> None:
    """A failed round trip counts as an error; a warning (failed, slow, idle) becomes the last
    error, and a recovery clears it, unless a newer state change has said more since."""
    session = _locked_session(event.get("session_id"))
    if session is None:
        return
    if not event.get("ok"):
        session.error_count = (session.error_count or 0) + 1
    last = as_utc(session.status_changed_at)
    if last is not None and at < last:
        return
    if event.get("warning"):
        session.last_error = str(event["warning"])
    elif event.get("ok") and session.status == SessionState.CONNECTED:
        # While connected, only health checks leave a last error (connecting clears it).
        session.last_error = None


def _apply_incoming(event: dict[str, Any], at: datetime) -> None:
    """Store an incoming message once per WhatsApp id and keep its sender as a contact."""
    session_id = event.get("session_id")
    from_phone = _phone(event.get("from_phone"))
    from_jid = str(event["from_jid"])[:100] if event.get("from_jid") else None
    wa_message_id = str(event.get("wa_message_id") or "") or _derived_id(event)
    media_type = event.get("media_type") if event.get("media_type") in MEDIA_TYPES else None
    values = {
        "session_id": session_id,
        "from_phone": from_phone,
        "from_jid": from_jid,
        "wa_message_id": wa_message_id[:100],
        "text": event.get("text"),
        "media_type": media_type,
        "received_at": at,
        "created_at": utcnow(),
    }
    inserted = db.session.execute(
        _insert(IncomingMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["wa_message_id"])
    ).rowcount
    if from_phone:
        lid = None
        if from_jid and from_jid.endswith("@lid"):
            lid = from_jid.split("@", 1)[0].split(":", 1)[0]
        _upsert_contact(from_phone, session_id, event.get("push_name"), lid)
    if inserted:  # a message folded twice is told once
        optout.record_incoming(from_phone, values["text"], at)
        webhooks.incoming(
            {
                "sessionId": session_id,
                "from": from_phone,
                "fromJid": from_jid,
                "pushName": event.get("push_name"),
                "text": values["text"],
                "mediaType": media_type,
                "waMessageId": values["wa_message_id"],
                "receivedAt": iso(at),
            }
        )
    S = WhatsAppSession
    db.session.execute(
        sa.update(S)
        .where(S.session_id == session_id, sa.or_(S.last_activity.is_(None), S.last_activity < at))
        .values(last_activity=at)
    )


def _apply_contacts(event: dict[str, Any]) -> None:
    """An address-book sync: upsert every listed contact with its push name."""
    contacts = event.get("contacts")
    if not isinstance(contacts, list):
        log.warning("contacts event of %s without a list of contacts", event.get("session_id"))
        return
    for entry in contacts:
        if not isinstance(entry, dict):
            continue
        phone = _phone(entry.get("phone"))
        if phone:
            _upsert_contact(
                phone, event.get("session_id"), entry.get("push_name"), entry.get("lid")
            )


def _upsert_contact(phone: str, session_id: Any, push_name: Any = None, lid: Any = None) -> None:
    """Create or update the contact of ``phone``; a missing push name or LID keeps the old one."""
    now = utcnow()
    values: dict[str, Any] = {
        "phone": phone,
        "session_id": session_id,
        "created_at": now,
        "updated_at": now,
    }
    if push_name:
        values["push_name"] = str(push_name)[:255]
    if lid:
        values["lid"] = str(lid)[:64]
    stmt = _insert(Contact).values(**values)
    changes = {name: stmt.excluded[name] for name in values if name not in ("phone", "created_at")}
    db.session.execute(stmt.on_conflict_do_update(index_elements=["phone"], set_=changes))


def _insert(model: type) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (PostgreSQL, and SQLite for dev)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


def _phone(value: Any) -> str | None:
    digits = re.sub(r"\D", "", str(value or ""))
    return digits if _PHONE.match(digits) else None


def _derived_id(event: dict[str, Any]) -> str:
    """A stable id for an incoming message that came without one, so a re-fold is a no-op."""
    basis = f"{event.get('session_id')}|{event.get('from_jid') or event.get('from_phone')}|"
    basis += f"{event.get('at')}|{event.get('text')}"
    return "KABAR-" + hashlib.sha256(basis.encode()).hexdigest()[:32].upper()


def _own_id(event: dict[str, Any]) -> int | None:
    value = event.get("message_id")
    return int(value) if value and str(value).isdigit() else None


def _apply_receipts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move messages forward on their receipts; rows are locked in id order (no deadlock with
    another folder) and found by our id, else by WhatsApp's. Returns the receipts of messages
    not found: a receipt may overtake the record of its send."""
    if not events:
        return []
    M = WhatsAppMessage
    ids = {own for event in events if (own := _own_id(event)) is not None}
    wa_ids = {event.get("wa_message_id") for event in events if _own_id(event) is None}
    wa_ids.discard(None)
    rows = db.session.scalars(
        db.select(M)
        .where(sa.or_(M.id.in_(ids), M.message_id.in_(wa_ids)))
        .order_by(M.id)
        .with_for_update()
    ).all()
    by_id = {row.id: row for row in rows}
    by_wa = {row.message_id: row for row in rows if row.message_id}
    named = {event.get("session_id") for event in events} - {None}
    sessions = set(
        db.session.scalars(
            db.select(WhatsAppSession.session_id).where(WhatsAppSession.session_id.in_(named))
        )
    )
    unknown = []
    for event in events:
        own = _own_id(event)
        message = by_id.get(own) if own is not None else by_wa.get(event.get("wa_message_id"))
        if message is None:
            unknown.append(event)
            continue
        at = datetime.fromtimestamp(float(event.get("at", 0)), UTC)
        _receipt_on(message, event, at, sessions)
    return unknown


def _receipt_on(
    message: WhatsAppMessage, event: dict[str, Any], at: datetime, sessions: set[str]
) -> None:
    """``sessions``: which of the receipts' sessions exist (the row may name only those)."""
    status = event.get("status")
    if status not in (MessageStatus.DELIVERED, MessageStatus.READ):
        return
    message.delivered_at = message.delivered_at or at
    if status == MessageStatus.READ:
        message.read_at = message.read_at or at
    moved = STATUS_RANK.get(message.status, 0) < STATUS_RANK[status]
    if moved:
        message.status = status
    if message.message_id is None:
        message.message_id = event.get("wa_message_id")
    if message.session_id is None and event.get("session_id") in sessions:
        message.session_id = event.get("session_id")
    if moved:
        webhooks.message_status(message.id, status)
