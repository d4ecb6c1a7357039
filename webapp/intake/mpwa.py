"""Sending in the dialect of MPWA-style gateways, which Indonesian billing apps (PHPNuxBill,
MIKBILL, MikroTik scripts) already speak: a sender number, recipients, a message, a footer.

``sender`` names one of the linked numbers by its phone number and pins the message to it; the
configured wildcard (``MPWA_ANY_SENDER``, "any") or no sender at all leaves the choice to the
normal routing, with its failover. The message is an urgent single send like
``POST /api/whatsapp/send``. Refusals name the MPWA field at fault, not Kabar's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app

from webapp.core import phone
from webapp.core.errors import KabarError, MessageTooLong, NotFound, SessionUnavailable
from webapp.extensions import db
from webapp.intake import messages, reachability
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import routing
from workers.queue.contracts import SessionState

# Kabar's names for what MPWA calls number, message and sender.
_FIELDS = {"to": "number", "text": "message", "sessionId": "sender"}
# Recipients of one request (``number`` joined by ``|``); more is a bulk send's work.
MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class Queued:
    messages: list[WhatsAppMessage]  # one per recipient, in the order given
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
        .order_by((S.status == SessionState.CONNECTED).desc(), S.priority, S.id)
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
    """The text sent, as MPWA renders it: the message, then a blank line and the footer as an
    italic quote (``> _footer_``), which WhatsApp shows greyed under the message."""
    footer = (footer or "").strip()
    if not footer:
        return message
    return f"{message}\n\n> _{footer}_" if message.strip() else f"> _{footer}_"


def recipients(number: str) -> list[str]:
    """The numbers of MPWA's ``number``: one, or several joined by ``|``, each once (as typed
    twice, or once with 0 and once with 62). A bad one is refused as ``number.<index>``."""
    region = current_app.config["DEFAULT_REGION"]
    parts = [part for part in number.split("|") if part.strip()] or [number]
    if len(parts) > MAX_RECIPIENTS:
        raise KabarError(
            f"at most {MAX_RECIPIENTS} recipients per request; use a bulk send for more",
            field="number",
        )
    fields = ["number"] if len(parts) == 1 else [f"number.{n}" for n in range(len(parts))]
    phones = [
        phone.normalize(part, region, field=f).phone for part, f in zip(parts, fields, strict=True)
    ]
    return list(dict.fromkeys(phones))


def queue(
    number: str,
    message: str,
    *,
    footer: str | None = None,
    sender: str | None = None,
    media: Mapping[str, Any] | None = None,
) -> Queued:
    """Queue ``message`` (with ``footer``; the caption of ``media`` when given) to each
    recipient of ``number`` as an urgent send, one row each; return ``Queued``.

    Everything the recipients share (numbers, sender, text) is checked before the first row is
    written, so a refused request leaves no message behind.
    """
    try:
        phones = recipients(number)
        session = resolve_sender(sender)
        if media is None and not message.strip():
            raise KabarError("the message is empty", field="message")
        text = compose(message, footer)
        check_length(text, "message" if media is None else "caption")
        session_id = session.session_id if session else None
        extra = {} if media is None else {"media": media}
        sent = [
            messages.queue_message(f"+{to}", text=text, session_id=session_id, **extra).message
            for to in phones
        ]
    except KabarError as exc:
        names = _FIELDS if media is None else {**_FIELDS, "text": "caption"}
        exc.field = names.get(exc.field, exc.field)
        raise
    return Queued(sent, session)


def attachment(url: str, kind: str, file_name: str = "") -> dict[str, Any]:
    """The ``media`` of ``queue_message`` for the file at ``url``: ``kind`` image or document,
    a document named ``file_name`` or, as MPWA names it, after the URL's last segment. Only
    the address's form is checked here; fetching it is the sending's work."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KabarError("must be an http:// or https:// address of the file", field="url")
    found: dict[str, Any] = {"url": url, "type": kind}
    name = file_name.strip() or unquote(PurePosixPath(parts.path).name)
    if kind == "document" and name:
        found["fileName"] = name
    return found


def check_length(text: str, field: str) -> None:
    """Refuse ``text`` past WhatsApp's length before any of a request's rows is written."""
    limit = current_app.config["MAX_MESSAGE_LENGTH"]
    if len(text) > limit:
        raise MessageTooLong(
            f"the message has {len(text)} characters; WhatsApp allows {limit}", field=field
        )


def check_number(number: str, sender: str | None = None) -> bool:
    """Whether ``number`` is on WhatsApp, asked of ``sender`` (or any connected number) through
    its session host; an answer kept from an earlier check counts. Refused when no connected
    number can ask, or none answered."""
    recipient = phone.normalize(number, current_app.config["DEFAULT_REGION"], field="number")
    session = resolve_sender(sender)
    if session is not None and session.status != SessionState.CONNECTED:
        raise SessionUnavailable(
            f"sender {session.phone_number} is {session.status}; it cannot check numbers now",
            field="sender",
        )
    asked = [session.session_id] if session else None
    if session is None and not routing.connected_sessions():
        raise SessionUnavailable(
            "no linked WhatsApp number is connected to check numbers with", field="sender"
        )
    found = reachability.check([recipient.phone], asked)
    if recipient.phone in found.unknown:
        raise SessionUnavailable(
            "the number could not be checked now; the session host did not answer; retry later",
            field="number",
        )
    return recipient.phone in found.on


def devices(number: str | None = None) -> list[WhatsAppSession]:
    """The linked numbers (or the sessions of ``number``), in routing order."""
    S = WhatsAppSession
    query = db.select(S).order_by(S.is_primary.desc(), S.priority, S.id)
    if number and number.strip():
        region = current_app.config["DEFAULT_REGION"]
        query = query.where(S.phone_number == phone.normalize(number, region, field="number").phone)
    return list(db.session.scalars(query))
