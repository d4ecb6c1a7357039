"""Billing events: the ``triggers`` table maps an event name to a template, or to a bulk send.

``fire(event, event_id, data)`` is what ``POST /api/events`` does:

- a trigger with a template sends it as an urgent single message to ``data.customer_whatsapp``
  (or ``data.to``), rendered with ``data``; ``data.email`` is kept on the message row;
- a trigger without a template (``bulk.send``) starts a bulk send whose request is ``data``,
  shaped as ``POST /api/whatsapp/send-bulk``'s body.

``(event, event_id)`` is unique in ``trigger_events``: the row is written in the same
transaction as the message (or bulk job) it produced, so a retried event finds it and gets the
first outcome back, however the two requests interleave. A skipped (disabled) or failed event is
recorded too, with its reason; a failure also counts on the trigger (``failure_count``,
``last_error``) and is raised again to the caller, never swallowed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.core import email_address
from webapp.core.errors import (
    Conflict,
    InvalidPhoneNumber,
    KabarError,
    NotFound,
    UnknownEvent,
)
from webapp.extensions import db
from webapp.intake import bulk, messages
from webapp.models import Trigger, TriggerEvent, WhatsAppTemplate, row_id
from workers.queue.contracts import Band, EventStatus

log = logging.getLogger(__name__)

EVENT_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
# Seeded by migration 0004.
BUILT_IN = (
    "invoice.created",
    "payment.completed",
    "service.expiring",
    "voucher.activated",
    "bulk.send",
)


class EventFailed(KabarError):
    """The first outcome of an event that failed, answered again to a retry."""

    def __init__(self, message: str, *, field: str | None, status: int, code: str) -> None:
        super().__init__(message, field=field)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Outcome:
    record: TriggerEvent
    duplicate: bool  # True when this (event, id) had been received before


def fire(event: str, event_id: str, data: Mapping[str, Any]) -> Outcome:
    """Turn one billing event into a message or a bulk send, once per (event, event_id).

    Raises UnknownEvent (no trigger; nothing is recorded, so the event can be sent again once
    the mapping exists), or the KabarError the send refused with (recorded first).
    """
    earlier = recorded(event, event_id)
    if earlier is not None:
        return _replay(earlier)
    trigger = db.session.scalar(sa.select(Trigger).where(Trigger.event == event))
    if trigger is None:
        raise UnknownEvent(
            f"no trigger for event {event!r}; known events: " + ", ".join(_events()),
            field="event",
        )
    trigger_id, is_bulk = trigger.id, trigger.template_id is None
    payload = _payload(data)
    if not trigger.enabled:
        return _record_alone(
            TriggerEvent(
                event=event,
                event_id=event_id,
                trigger_id=trigger_id,
                status=EventStatus.SKIPPED,
                error="the trigger is disabled",
                payload=payload,
            )
        )

    def record(row: Any) -> None:
        kind = "bulk_job_id" if is_bulk else "message_id"
        db.session.add(
            TriggerEvent(
                event=event,
                event_id=event_id,
                trigger_id=trigger_id,
                status=EventStatus.QUEUED,
                payload=payload,
                **{kind: row.id},
            )
        )
        db.session.execute(
            sa.update(Trigger)
            .where(Trigger.id == trigger_id)
            .values(fire_count=Trigger.fire_count + 1, last_fired_at=datetime.now(UTC))
        )

    try:
        if is_bulk:
            bulk.submit(bulk.parse_request(data, prefix="data."), before_commit=record)
            created = True
        else:
            created = _send(trigger, event, event_id, data, record)
    except IntegrityError:
        # The same event raced in twice; the other request's outcome stands.
        db.session.rollback()
        earlier = recorded(event, event_id)
        if earlier is None:
            raise
        return _replay(earlier)
    except KabarError as exc:
        db.session.rollback()
        _record_failure(trigger_id, event, event_id, payload, exc)
        raise
    return Outcome(recorded(event, event_id), duplicate=not created)


def _send(trigger: Trigger, event: str, event_id: str, data: Mapping[str, Any], record) -> bool:
    """Queue the trigger's template for the event's customer; False if another request with the
    same event had done so first."""
    to = data.get("customer_whatsapp") or data.get("to")
    if not to or not isinstance(to, str | int):
        raise InvalidPhoneNumber(
            "data.customer_whatsapp (or data.to) is required: the customer's WhatsApp number",
            field="data.customer_whatsapp",
        )
    field = "data.customer_whatsapp" if data.get("customer_whatsapp") else "data.to"
    template = db.session.get(WhatsAppTemplate, trigger.template_id)
    email = email_address.recipient_address(data.get("email"), "data.email")
    try:
        accepted = messages.queue_message(
            str(to),
            template=template.name,
            data=data,
            idempotency_key=_idempotency_key(event, event_id),
            priority=trigger.priority,
            band=Band.URGENT,
            email=email,
            before_commit=record,
        )
    except InvalidPhoneNumber as exc:
        raise InvalidPhoneNumber(exc.message, field=field, reason=exc.reason) from exc
    if not accepted.created and recorded(event, event_id) is None:
        # The message exists (its idempotency key) but its record does not: write it now.
        record(accepted.message)
        db.session.commit()
    return accepted.created


def _idempotency_key(event: str, event_id: str) -> str:
    key = f"event:{event}:{event_id}"
    if len(key) <= 200:
        return key
    return "event:" + hashlib.sha256(f"{event}\0{event_id}".encode()).hexdigest()


def _payload(data: Mapping[str, Any]) -> dict[str, Any]:
    """What is kept of the event: its data, less a bulk send's recipients (the job has them)."""
    kept = dict(data)
    if isinstance(kept.get("recipients"), list):
        kept["recipients"] = f"{len(kept['recipients'])} recipients (see the bulk job)"
    return {"data": kept}


def _record_alone(row: TriggerEvent) -> Outcome:
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _replay(recorded(row.event, row.event_id))
    return Outcome(row, duplicate=False)


def _record_failure(
    trigger_id: int, event: str, event_id: str, payload: dict, exc: KabarError
) -> None:
    row = TriggerEvent(
        event=event,
        event_id=event_id,
        trigger_id=trigger_id,
        status=EventStatus.FAILED,
        error=exc.message,
        payload={
            **payload,
            "error": {"status": exc.status, "code": exc.code, "field": exc.field},
        },
    )
    db.session.add(row)
    db.session.execute(
        sa.update(Trigger)
        .where(Trigger.id == trigger_id)
        .values(
            failure_count=Trigger.failure_count + 1,
            last_error=f"{exc.code}: {exc.message} (event id {event_id})"[:2000],
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a twin request recorded this event first
    log.warning("event %s %s failed: %s", event, event_id, exc.message)


def _replay(earlier: TriggerEvent) -> Outcome:
    if earlier.status == EventStatus.FAILED:
        error = (earlier.payload or {}).get("error") or {}
        raise EventFailed(
            earlier.error or "the event failed",
            field=error.get("field"),
            status=error.get("status", 422),
            code=error.get("code", "event_failed"),
        )
    return Outcome(earlier, duplicate=True)


def recorded(event: str, event_id: str) -> TriggerEvent | None:
    return db.session.scalar(
        sa.select(TriggerEvent).where(
            TriggerEvent.event == event, TriggerEvent.event_id == event_id
        )
    )


def _events() -> list[str]:
    return list(db.session.scalars(sa.select(Trigger.event).order_by(Trigger.event)))


# the mappings, as the admin page edits them ----------------------------------------------------


def list_triggers() -> list[Trigger]:
    return list(db.session.scalars(sa.select(Trigger).order_by(Trigger.id)))


def get_trigger(trigger_id: int | str) -> Trigger:
    number = row_id(trigger_id)
    trigger = db.session.get(Trigger, number) if number is not None else None
    if trigger is None:
        raise NotFound(f"no trigger with id {trigger_id}", field="id")
    return trigger


def create_trigger(
    event: str, template_id: int | None, enabled: bool = True, priority: int = 1
) -> Trigger:
    trigger = Trigger(fire_count=0, failure_count=0)
    _apply(trigger, event=event, template_id=template_id, enabled=enabled, priority=priority)
    db.session.add(trigger)
    _commit(event)
    return trigger


def update_trigger(trigger_id: int | str, **changes: Any) -> Trigger:
    """Change a mapping's ``event``, ``template_id`` (None: a bulk send), ``enabled``,
    ``priority`` (1 highest .. 10: the priority of the messages it sends)."""
    trigger = get_trigger(trigger_id)
    _apply(trigger, **changes)
    _commit(trigger.event)
    return trigger


def delete_trigger(trigger_id: int | str) -> None:
    db.session.delete(get_trigger(trigger_id))
    db.session.commit()


def _apply(trigger: Trigger, **changes: Any) -> None:
    unknown = sorted(set(changes) - {"event", "template_id", "enabled", "priority"})
    if unknown:
        raise KabarError(f"{unknown[0]} cannot be changed", field=unknown[0])
    if "event" in changes:
        event = (changes["event"] or "").strip()
        if not EVENT_NAME.match(event):
            raise KabarError(
                "an event name is 1-100 letters, digits, '.', '_', ':' or '-' "
                "(e.g. invoice.created)",
                field="event",
            )
        trigger.event = event
    if "template_id" in changes:
        template_id = changes["template_id"]
        if template_id is not None and db.session.get(WhatsAppTemplate, template_id) is None:
            raise NotFound(f"no template with id {template_id}", field="template_id")
        trigger.template_id = template_id
    if "enabled" in changes:
        trigger.enabled = bool(changes["enabled"])
    if "priority" in changes:
        priority = changes["priority"]
        if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 10:
            raise KabarError("priority is a whole number from 1 (highest) to 10", field="priority")
        trigger.priority = priority


def _commit(event: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"a trigger for event {event!r} exists already", field="event") from None


def recent_events(limit: int = 30) -> list[TriggerEvent]:
    return list(
        db.session.scalars(sa.select(TriggerEvent).order_by(TriggerEvent.id.desc()).limit(limit))
    )
