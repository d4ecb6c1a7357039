"""Opt-out: a customer who answers with a stop word gets no more bulk or promotion messages.

An incoming message that is exactly one of the ``opt_out_keywords`` setting (any case,
surrounding spaces ignored) marks the sender's contact opted out. Sending then skips bulk
messages and messages of the "promotion" category to that number (status ``skipped``);
notifications such as invoices and payment confirmations still go, because the customer needs
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, WhatsAppMessage, utcnow
from workers.pipeline import webhooks
from workers.queue.contracts import Band, MessageStatus

SKIPPED_REASON = "recipient opted out"


def is_keyword(text: str | None) -> bool:
    """Whether ``text`` as a whole is one of the configured opt-out words."""
    if not text:
        return False
    words = {word.casefold() for word in settings.get("opt_out_keywords")}
    return text.strip().casefold() in words


def record_incoming(phone: str | None, text: str | None, at: datetime | None = None) -> bool:
    """Opt ``phone`` out if ``text`` is an opt-out word; return whether it was one.

    The contact exists already (incoming messages keep their sender as a contact); its first
    opt-out time is kept when the customer says it again.
    """
    if not phone or not is_keyword(text):
        return False
    db.session.execute(
        sa.update(Contact)
        .where(Contact.phone == phone, Contact.opted_out.is_(False))
        .values(opted_out=True, opted_out_at=at or utcnow())
    )
    return True


def is_opted_out(phone: str) -> bool:
    """Whether the customer of ``phone`` (E.164 digits, no plus) asked for no more messages."""
    return bool(
        db.session.scalar(
            sa.select(Contact.id).where(Contact.phone == phone, Contact.opted_out.is_(True))
        )
    )


def opted_out_among(phones: Iterable[str]) -> set[str]:
    """The numbers among ``phones`` that opted out: one query for a whole batch of a bulk."""
    wanted = list(dict.fromkeys(phones))
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.update(
            db.session.scalars(
                sa.select(Contact.phone).where(
                    Contact.phone.in_(chunk), Contact.opted_out.is_(True)
                )
            )
        )
    return found


def applies(band: str, category: str | None) -> bool:
    """Opt-out covers bulk messages and promotions, never single notifications."""
    return band == Band.BULK or category == "promotion"


def skip(message_id: int) -> bool:
    """Mark a still-queued message ``skipped`` because its recipient opted out."""
    M = WhatsAppMessage
    changed = db.session.execute(
        sa.update(M)
        .where(M.id == message_id, M.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.SKIPPED,
            error_message=SKIPPED_REASON,
            held_reason=None,
            held_until=None,
        )
    ).rowcount
    if changed:
        webhooks.message_status(message_id, MessageStatus.SKIPPED)
    db.session.commit()
    return bool(changed)
