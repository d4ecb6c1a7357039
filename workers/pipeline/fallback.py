"""E-mail fallback: a message WhatsApp could not deliver goes to the customer by SMTP instead.

With the ``email_fallback_enabled`` setting on, a message that ends ``failed`` is handed (through
the outbox) to an actor that sends it to the recipient's address (the row's ``email``, else the
contact's) in the seed's layout, and records on the row how that went (``fallback_method``,
``fallback_result``, ``fallback_at``). Temporary SMTP trouble is retried by Dramatiq; a refusal
is final. The customer reads the e-mail's own words (subject prefix, heading, footer) in the
``email_language`` setting: Indonesian unless the operator chose English (or ``KABAR_LANGUAGE``
is ``en``). The SMTP server is whatever the settings say at that moment (see
``webapp.settings``); ``send_test`` proves them from the admin page.
"""

from __future__ import annotations

import html
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from marshmallow import ValidationError, validate

from webapp import settings
from webapp.core import email_address
from webapp.core.errors import KabarError
from webapp.extensions import db
from webapp.models import Contact, WhatsAppMessage, utcnow
from workers.queue import outbox
from workers.queue.contracts import Actor, Band, MessageStatus

log = logging.getLogger(__name__)

METHOD = "email"
TEST_CONTENT = (
    "Tes e-mail dari Kabar / Test e-mail from Kabar\n\n"
    "Pengaturan SMTP ini berfungsi. / These SMTP settings work."
)

_LAYOUT = (
    '<div style="font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto;">'
    "<h2>{heading}</h2>"
    "<p>{why}</p>"
    '<div style="background: #f5f5f5; padding: 20px; border-radius: 8px; margin: 20px 0;">'
    "{content}</div>"
    '<p style="color: #666; font-size: 14px;">'
    "{footer}</p></div>"
)


# A hand-over's failures short of an SMTP answer: the network, TLS, or a host name that cannot be
# encoded (IDNA's UnicodeError is a ValueError), such as one saved before hosts were checked.
_TROUBLE = (smtplib.SMTPException, OSError, ValueError)


class FallbackFailed(KabarError):
    """The SMTP server could not take the e-mail now; Dramatiq tries again later."""

    status = 502
    code = "email_fallback_failed"


def plan(message_id: int) -> None:
    """Called in the transaction that makes a message ``failed``: when the fallback is on, its
    e-mail goes into the outbox, so it is queued if and only if that failure commits."""
    if settings.get("email_fallback_enabled"):
        outbox.add(Actor.SEND_EMAIL_FALLBACK, Band.MAINTENANCE, message_id)


def subject_of(content: str) -> str:
    """The subject: the message's first line without its leading emoji, at most 78 chars."""
    for line in content.splitlines():
        line = re.sub(r"^[^\w]+", "", line.strip(), flags=re.UNICODE).strip()
        if line:
            return line[:78]
    return _("Message")


def html_body(content: str) -> str:
    """The seed's HTML layout around ``content``, escaped, with line breaks kept, in the
    current language."""
    escaped = html.escape(content).replace("\r\n", "\n").replace("\n", "<br>")
    return _LAYOUT.format(
        heading=html.escape(_("WhatsApp Service Unavailable")),
        why=html.escape(_("This message was sent via email due to WhatsApp service issues.")),
        content=escaped,
        footer=html.escape(_("Please contact support if you continue to experience issues.")),
    )


def build_email(
    to: str, content: str, sender: str, idstring: str, language: str | None = None
) -> EmailMessage:
    """The e-mail of ``content``, its own words in ``language`` (the ``email_language``
    setting when None)."""
    with force_locale(language or settings.get("email_language")):
        email = EmailMessage()
        email["Subject"] = _("[WhatsApp Backup] %(subject)s", subject=subject_of(content))
        email["From"] = email_address.mailable(sender)
        email["To"] = email_address.mailable(to)
        email["Message-ID"] = make_msgid(idstring=idstring)
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
    if (
        message is None
        or message.status != MessageStatus.FAILED
        or message.fallback_result == "sent"
    ):
        return "skipped"
    address = address_of(message)
    if not address:
        _record(message_id, "no_address")
        return "no_address"
    smtp = Smtp.saved()
    # The Message-ID names the Kabar message (make_msgid adds a time and a random part, so
    # each attempt's differs, but a reader can tell the copies of one message apart).
    email = build_email(address, message.content, smtp.sender, f"kabar-fallback-{message.id}")
    db.session.rollback()  # no connection held while the SMTP server answers
    try:
        _hand_over(email, smtp)
    except smtplib.SMTPRecipientsRefused as exc:
        _record(message_id, f"error: {_describe(exc)}")
        return "refused"
    except smtplib.SMTPResponseException as exc:
        _record(message_id, f"error: {_describe(exc)}")
        if exc.smtp_code >= 500:
            return "refused"
        raise FallbackFailed(f"SMTP {exc.smtp_code}") from exc
    except _TROUBLE as exc:
        _record(message_id, f"error: {_describe(exc)}"[:500])
        raise FallbackFailed(_describe(exc)) from exc
    _record(message_id, "sent")
    log.info("message %s failed on WhatsApp and was e-mailed instead", message_id)
    return "sent"


def send_test(to: str) -> None:
    """E-mail a test message to ``to`` now, through the SMTP settings saved at this moment, so
    an operator knows they work before a customer depends on them.

    Raises KabarError (field ``to``) for a malformed address, and FallbackFailed carrying what
    the server or the network answered.
    """
    to = to.strip()
    try:
        validate.Email()(to)
    except ValidationError:
        raise KabarError("must be an e-mail address, such as ops@isp.example", field="to") from None
    settings.forget()  # saved a moment ago, perhaps by another process
    smtp = Smtp.saved()
    try:
        _hand_over(build_email(to, TEST_CONTENT, smtp.sender, "kabar-test"), smtp)
    except _TROUBLE as exc:
        raise FallbackFailed(_describe(exc)) from exc


@dataclass(frozen=True)
class Smtp:
    """Where and how e-mail goes, read once per e-mail from the settings."""

    host: str
    port: int
    starttls: bool
    user: str
    password: str = field(repr=False)
    sender: str
    timeout: float

    @classmethod
    def saved(cls) -> Smtp:
        return cls(
            host=settings.get("smtp_host"),
            port=settings.get("smtp_port"),
            starttls=settings.get("smtp_starttls"),
            user=settings.get("smtp_user"),
            password=settings.get("smtp_password"),
            sender=settings.get("smtp_from"),
            timeout=current_app.config["SMTP_TIMEOUT_S"],
        )


def _hand_over(email: EmailMessage, smtp: Smtp) -> None:
    context = ssl.create_default_context()
    if smtp.port == 465:  # implicit TLS
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=context
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        client.ehlo()
        if smtp.port != 465 and smtp.starttls:
            client.starttls(context=context)
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password)
        client.send_message(email)


def _describe(exc: Exception) -> str:
    """An SMTP failure as an operator reads it (servers never echo the password back)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"recipient refused ({_codes(exc.recipients)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


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
