"""Accepting a message: validate, render, write the row, and only then queue it.

A message exists as a row before it is ever queued, so nothing can be sent that PostgreSQL does
not know of; the queue is told after the commit, and the reconciler (later) re-queues rows a
lost queue forgot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from webapp.core import phone
from webapp.core.errors import KabarError, MessageTooLong, NotFound
from webapp.extensions import db
from webapp.intake import templates
from webapp.models import WhatsAppMessage, WhatsAppQueueJob, WhatsAppSession, preassign_ids, row_id
from workers.pipeline import attachments
from workers.queue import jobs
from workers.queue.contracts import Band, MessageStatus

# Attempts per send job (the seed's maxAttempts); the send actors retry this many times less one.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Accepted:
    message: WhatsAppMessage
    created: bool  # False when the idempotency key matched an earlier message


def queue_message(
    to: str,
    *,
    template: str | int | None = None,
    data: Mapping[str, Any] | None = None,
    text: str | None = None,
    idempotency_key: str | None = None,
    priority: int = 1,
    band: str = Band.URGENT,
    routing: str | None = None,
    session_id: str | None = None,
    email: str | None = None,
    before_commit: Callable[[WhatsAppMessage], None] | None = None,
    template_field: str = "template",
    media: Mapping[str, Any] | None = None,
) -> Accepted:
    """Validate and store one outgoing message, then queue it for sending.

    Exactly one of ``template`` (an active template's name or id, with ``data``; refused as
    ``template_field``) and ``text`` is given. A repeated
    ``idempotency_key`` returns the first message instead of creating a second. ``band`` picks
    the queue (urgent, normal, bulk), ``priority`` (1 highest .. 10) orders messages waiting for
    the same number, ``routing`` overrides the band's policy and ``session_id`` pins a number.
    A template of any type is rendered as ``templates.render_message`` says (media URL and
    render mode go on the row). ``email`` is kept on the row for the e-mail fallback.
    ``before_commit`` is called with the new row once it has its id, in the same transaction,
    so a caller can record what the message came from atomically with it.

    ``media`` (``{url | base64, type: image|document, fileName?, mimetype?}``) sends an image
    or a document with the text or template as its caption (which may then be empty); it is
    checked here (MediaInvalid naming ``media.<key>``) and fetched before sending. A template
    of type ``media`` brings its own attachment.
    """
    if idempotency_key:
        earlier = db.session.scalar(
            db.select(WhatsAppMessage).where(WhatsAppMessage.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            return Accepted(earlier, created=False)

    recipient = phone.normalize(to, current_app.config["DEFAULT_REGION"], field="to")
    if session_id is not None and not db.session.scalar(
        db.select(WhatsAppSession.id).where(WhatsAppSession.session_id == session_id)
    ):
        raise KabarError(f"no session {session_id!r}", field="sessionId")
    template_row = None
    rendered = None
    if template is not None:
        template_row = templates.find_active(template, template_field)
        rendered = templates.render_message(template_row, data or {})
        content, field = rendered.text, "template"
    elif text is not None or media is not None:
        content, field = text or "", "text"
    else:
        raise KabarError("give either template (with data) or text", field="text")
    attachment = attachments.accept(media) if media is not None else None
    if attachment is None and rendered is not None and rendered.media is not None:
        attachment = rendered.media
    limit = current_app.config["MAX_MESSAGE_LENGTH"]
    if not content.strip() and attachment is None:
        raise KabarError("the message is empty", field=field)
    if len(content) > limit:
        raise MessageTooLong(
            f"the message has {len(content)} characters; WhatsApp allows {limit}", field=field
        )

    message = WhatsAppMessage(
        to_number=recipient.phone,
        template_id=template_row.id if template_row else None,
        message_type=template_row.type if template_row else "media" if attachment else "text",
        content=content,
        status=MessageStatus.QUEUED,
        priority=priority,
        band=band,
        routing=routing,
        pinned_session_id=session_id,
        idempotency_key=idempotency_key,
        email=email,
        **(
            attachment.columns()
            if attachment
            else {"render_mode": rendered.render_mode if rendered else None}
        ),
    )
    db.session.add(message)
    try:
        (job,) = jobs.new_jobs([message], MAX_ATTEMPTS)  # inserts the row
        if before_commit is not None:
            before_commit(message)
        _commit_keeping_values()
    except IntegrityError:
        # Two requests with one idempotency key raced; the other one's row stands.
        db.session.rollback()
        earlier = db.session.scalar(
            db.select(WhatsAppMessage).where(WhatsAppMessage.idempotency_key == idempotency_key)
        )
        if earlier is None:
            raise
        return Accepted(earlier, created=False)
    jobs.enqueue_committed([job])
    return Accepted(message, created=True)


def _commit_keeping_values() -> None:
    """Commit without expiring the session's rows: the caller answers the saved row's id and
    fields without reading them back, so a database lost right after the commit costs no error
    for a message that is saved."""
    session = db.session()
    keep, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def queue_texts(
    messages: list[tuple[str, str]],
    *,
    band: str = Band.BULK,
    priority: int = 1,
    routing: str | None = None,
) -> list[int]:
    """Store and queue many ready (recipient, text) messages at once; return their ids.

    The building block of bulk sends: rows and ledger rows in one transaction, then the jobs.
    """
    region = current_app.config["DEFAULT_REGION"]
    rows = [
        WhatsAppMessage(
            to_number=phone.normalize(to, region).phone,
            content=text,
            status=MessageStatus.QUEUED,
            priority=priority,
            band=band,
            routing=routing,
        )
        for to, text in messages
    ]
    db.session.add_all(rows)
    preassign_ids(rows)
    queued = jobs.new_jobs(rows, MAX_ATTEMPTS)
    preassign_ids([o for o in db.session.new if isinstance(o, WhatsAppQueueJob)])
    ids = [row.id for row in rows]  # read before the commit expires the rows
    db.session.commit()
    jobs.enqueue_committed(queued)
    return ids


def get_message(message_id: int | str) -> WhatsAppMessage:
    number = row_id(message_id)
    message = db.session.get(WhatsAppMessage, number) if number is not None else None
    if message is None:
        raise NotFound(f"no message with id {message_id}", field="id")
    return message
