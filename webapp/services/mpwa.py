"""Sending in the dialect of MPWA-style gateways, which Indonesian billing apps (PHPNuxBill,
Gembok Bill and others) already speak: a sender number, a recipient, a message, a footer.

``sender`` names one of the linked numbers by its phone number and pins the message to it; the
configured wildcard (``MPWA_ANY_SENDER``, "any") or no sender at all leaves the choice to the
normal routing, with its failover. The message is an urgent single send like
``POST /api/whatsapp/send``. Refusals name the MPWA field at fault, not Kabar's.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from webapp.services import messages, phone
from webapp.services.errors import InvalidPhoneNumber, KabarError, NotFound

# Kabar's names for what MPWA calls number, message and sender.
_FIELDS = {"to": "number", "text": "message", "sessionId": "sender"}


@dataclass(frozen=True)
class Queued:
    message: WhatsAppMessage
    session: WhatsAppSession | None  # the sender's session, or None when routing chooses


def is_any_sender(sender: str | None) -> bool:
    """True when ``sender`` leaves the choice of number to the routing."""
    text = (sender or "").strip().lower()
    return not text or text == current_app.config["MPWA_ANY_SENDER"].strip().lower()


def resolve_sender(sender: str | None) -> WhatsAppSession | None:
    """The session whose number is ``sender``, or None for the wildcard.

    Where one number was linked more than once (an old, logged-out session and its new one),
    the connected session wins, then the one with the best priority.
    """
    if is_any_sender(sender):
        return None
    number = phone.normalize(sender, current_app.config["DEFAULT_REGION"], field="sender").phone
    S = WhatsAppSession
    session = db.session.scalar(
        db.select(S)
        .where(S.phone_number == number)
        .order_by((S.status == "connected").desc(), S.priority, S.id)
        .limit(1)
    )
    if session is None:
        wildcard = current_app.config["MPWA_ANY_SENDER"]
        raise NotFound(
            f"no linked WhatsApp number {number} in Kabar; link it on the sessions page, "
            f"or send sender={wildcard} to let Kabar choose",
            field="sender",
        )
    return session


def compose(message: str, footer: str | None = None) -> str:
    """The text sent: the message, and the footer on its own line when there is one."""
    if not message.strip():
        raise KabarError("the message is empty", field="message")
    footer = (footer or "").strip()
    return f"{message}\n{footer}" if footer else message


def queue(number: str, message: str, *, footer: str | None = None, sender: str | None = None):
    """Queue ``message`` (with ``footer``) to ``number`` as an urgent send; return ``Queued``."""
    try:
        if "|" in number:
            raise InvalidPhoneNumber(
                "one recipient per request; Kabar does not split '|' lists", field="number"
            )
        phone.normalize(number, current_app.config["DEFAULT_REGION"], field="number")
        session = resolve_sender(sender)
        accepted = messages.queue_message(
            number,
            text=compose(message, footer),
            session_id=session.session_id if session else None,
        )
    except KabarError as exc:
        exc.field = _FIELDS.get(exc.field, exc.field)
        raise
    return Queued(accepted.message, session)
