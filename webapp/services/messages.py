"""Accepting a message: validate, render, write the row, and only then queue it.

A message exists as a row before it is ever queued, so nothing can be sent that PostgreSQL does
not know of; the queue is told after the commit, and the reconciler (later) re-queues rows a
lost queue forgot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import WhatsAppMessage
from webapp.services import phone, templates
from webapp.services.errors import KabarError, MessageTooLong, NotFound
from workers import broker

SEND_ACTOR = "send_message"


@dataclass(frozen=True)
class Accepted:
    message: WhatsAppMessage
    created: bool  # False when the idempotency key matched an earlier message


def queue_message(
    to: str,
    *,
    template: str | None = None,
    data: Mapping[str, Any] | None = None,
    text: str | None = None,
    idempotency_key: str | None = None,
    priority: int = 1,
) -> Accepted:
    """Validate and store one outgoing message, then queue it for sending.

    Exactly one of ``template`` (with ``data``) and ``text`` is given. A repeated
    ``idempotency_key`` returns the first message instead of creating a second.
    """
    if idempotency_key:
        earlier = db.session.scalar(
            db.select(WhatsAppMessage).where(WhatsAppMessage.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            return Accepted(earlier, created=False)

    recipient = phone.normalize(to, current_app.config["DEFAULT_REGION"], field="to")
    template_row = None
    if template is not None:
        template_row = templates.get_by_name(template)
        content = templates.render(template_row.content, data or {})
        field = "template"
    elif text is not None:
        content, field = text, "text"
    else:
        raise KabarError("give either template (with data) or text", field="text")
    limit = current_app.config["MAX_MESSAGE_LENGTH"]
    if not content.strip():
        raise KabarError("the message is empty", field=field)
    if len(content) > limit:
        raise MessageTooLong(
            f"the message has {len(content)} characters; WhatsApp allows {limit}", field=field
        )

    message = WhatsAppMessage(
        to_number=recipient.phone,
        template_id=template_row.id if template_row else None,
        message_type=template_row.type if template_row else "text",
        content=content,
        status="queued",
        priority=priority,
        idempotency_key=idempotency_key,
    )
    db.session.add(message)
    try:
        db.session.commit()
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one's row stands.
        db.session.rollback()
        earlier = db.session.scalar(
            db.select(WhatsAppMessage).where(WhatsAppMessage.idempotency_key == idempotency_key)
        )
        if earlier is None:
            raise
        return Accepted(earlier, created=False)
    broker.enqueue(SEND_ACTOR, broker.URGENT, message.id)
    return Accepted(message, created=True)


def get_message(message_id: int | str) -> WhatsAppMessage:
    message = None
    if str(message_id).isdigit():
        message = db.session.get(WhatsAppMessage, int(message_id))
    if message is None:
        raise NotFound(f"no message with id {message_id}", field="id")
    return message
