"""E-mail fallback: a message WhatsApp could not deliver goes to the customer by SMTP instead.

With ``ENABLE_EMAIL_FALLBACK`` on, a message that ends ``failed`` is handed to an actor that
sends it to the recipient's address (the row's ``email``, else the contact's) in the seed's
layout, and records on the row how that went (``fallback_method``, ``fallback_result``,
``fallback_at``). Temporary SMTP trouble is retried by Dramatiq; a refusal is final.
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import Contact, WhatsAppMessage, utcnow
from webapp.services.errors import KabarError
from workers import broker

log = logging.getLogger(__name__)

ACTOR = "send_email_fallback"
METHOD = "email"
SUBJECT_PREFIX = "[WhatsApp Backup] "
DEFAULT_SUBJECT = "Pesan / Message"

_LAYOUT = (
    '<div style="font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto;">'
    "<h2>WhatsApp Service Unavailable</h2>"
    "<p>This message was sent via email due to WhatsApp service issues.</p>"
    '<div style="background: #f5f5f5; padding: 20px; border-radius: 8px; margin: 20px 0;">'
    "{content}</div>"
    '<p style="color: #666; font-size: 14px;">'
    "Please contact support if you continue to experience issues.</p></div>"
)


class FallbackFailed(KabarError):
    """The SMTP server could not take the e-mail now; Dramatiq tries again later."""

    status = 502
    code = "email_fallback_failed"


def after_failure(message_id: int) -> None:
    """Called once a message became ``failed``: queue its e-mail when the fallback is on."""
    if not current_app.config["ENABLE_EMAIL_FALLBACK"]:
        return
    try:
        broker.enqueue(ACTOR, broker.MAINTENANCE, message_id)
    except Exception:  # the failure is recorded; the fallback must not undo that
        log.exception("could not queue the e-mail fallback of message %s", message_id)


def subject_of(content: str) -> str:
    """The subject: the message's first line without its leading emoji, at most 78 chars."""
    for line in content.splitlines():
        line = re.sub(r"^[^\w]+", "", line.strip(), flags=re.UNICODE).strip()
        if line:
            return line[:78]
    return DEFAULT_SUBJECT


def html_body(content: str) -> str:
    """The seed's HTML layout around ``content``, escaped, with line breaks kept."""
    escaped = html.escape(content).replace("\r\n", "\n").replace("\n", "<br>")
    return _LAYOUT.format(content=escaped)


def build_email(to: str, content: str, sender: str, message_id: int) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = SUBJECT_PREFIX + subject_of(content)
    email["From"] = sender
    email["To"] = to
    # One Message-ID per Kabar message: a retried SMTP hand-over is recognisable downstream.
    email["Message-ID"] = make_msgid(idstring=f"kabar-fallback-{message_id}")
    email.set_content(content)
    email.add_alternative(html_body(content), subtype="html")
    return email


def address_of(message: WhatsAppMessage) -> str | None:
    if message.email:
        return message.email
    return db.session.scalar(
        sa.select(Contact.email).where(
            Contact.phone == message.to_number, Contact.email.is_not(None)
        )
    )


def send_fallback(message_id: int) -> str:
    """E-mail failed message ``message_id`` to its recipient; return what happened.

    "sent", "no_address", "refused", or "skipped" when the message is not failed (any more) or
    was e-mailed already. Raises FallbackFailed when the SMTP server may take it later.
    """
    message = db.session.get(WhatsAppMessage, message_id)
    if message is None or message.status != "failed" or message.fallback_result == "sent":
        return "skipped"
    address = address_of(message)
    if not address:
        _record(message_id, "no_address")
        return "no_address"
    config = current_app.config
    email = build_email(address, message.content, config["SMTP_FROM"], message.id)
    db.session.rollback()  # no connection held while the SMTP server answers
    try:
        _hand_over(email)
    except smtplib.SMTPRecipientsRefused as exc:
        _record(message_id, f"error: recipient refused ({_codes(exc.recipients)})")
        return "refused"
    except smtplib.SMTPResponseException as exc:
        _record(message_id, f"error: SMTP {exc.smtp_code} {_text(exc.smtp_error)}")
        if exc.smtp_code >= 500:
            return "refused"
        raise FallbackFailed(f"SMTP {exc.smtp_code}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        _record(message_id, f"error: {type(exc).__name__}: {exc}"[:500])
        raise FallbackFailed(f"{type(exc).__name__}: {exc}") from exc
    _record(message_id, "sent")
    log.info("message %s failed on WhatsApp and was e-mailed instead", message_id)
    return "sent"


def _hand_over(email: EmailMessage) -> None:
    config = current_app.config
    host, port, timeout = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_TIMEOUT_S"]
    context = ssl.create_default_context()
    if port == 465:  # implicit TLS
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        smtp.ehlo()
        if port != 465 and config["SMTP_STARTTLS"]:
            smtp.starttls(context=context)
            smtp.ehlo()
        if config["SMTP_USER"]:
            smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
        smtp.send_message(email)


def _record(message_id: int, result: str) -> None:
    M = WhatsAppMessage
    db.session.execute(
        sa.update(M)
        .where(M.id == message_id)
        .values(fallback_method=METHOD, fallback_result=result, fallback_at=utcnow())
    )
    db.session.commit()


def _text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:300]


def _codes(recipients: dict) -> str:
    return ", ".join(f"{code}" for code, _ in recipients.values())
