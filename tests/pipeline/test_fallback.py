"""E-mail fallback over real SMTP: a message that failed on WhatsApp reaches the customer's inbox
on an aiosmtpd server on localhost."""

from __future__ import annotations

import re

import pytest

from tests.receivers import dramatiq_messages, free_port, smtp_inbox
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp import settings
from webapp.extensions import db
from webapp.intake import messages
from webapp.models import Contact, Setting, WhatsAppMessage
from workers.pipeline import fallback, sending
from workers.queue.contracts import Actor

CUSTOMER = "6281234567890"
CONTENT = "🧾 Tagihan <Baru> & Lunas\n\nHalo Budi,\nJumlah: Rp150.000"
EXPECTED_HTML = (
    '<div style="font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto;">'
    "<h2>Layanan WhatsApp Tidak Tersedia</h2>"
    "<p>Pesan ini dikirim lewat e-mail karena layanan WhatsApp sedang bermasalah.</p>"
    '<div style="background: #f5f5f5; padding: 20px; border-radius: 8px; margin: 20px 0;">'
    "🧾 Tagihan &lt;Baru&gt; &amp; Lunas<br><br>Halo Budi,<br>Jumlah: Rp150.000"
    "</div>"
    '<p style="color: #666; font-size: 14px;">'
    "Silakan hubungi layanan pelanggan jika masalah ini terus berlanjut.</p></div>"
)
# The seed's own words, when the operator chose English.
EXPECTED_HTML_EN = (
    '<div style="font-family: Arial, sans-serif; max-width: 600px; margin: 0 auto;">'
    "<h2>WhatsApp Service Unavailable</h2>"
    "<p>This message was sent via email due to WhatsApp service issues.</p>"
    '<div style="background: #f5f5f5; padding: 20px; border-radius: 8px; margin: 20px 0;">'
    "🧾 Tagihan &lt;Baru&gt; &amp; Lunas<br><br>Halo Budi,<br>Jumlah: Rp150.000"
    "</div>"
    '<p style="color: #666; font-size: 14px;">'
    "Please contact support if you continue to experience issues.</p></div>"
)


@pytest.fixture
def inbox(app, monkeypatch):
    with smtp_inbox() as inbox:
        for name, value in {
            "ENABLE_EMAIL_FALLBACK": True,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": inbox.port,
            "SMTP_STARTTLS": False,
            "SMTP_USER": "",
            "SMTP_FROM": "Kabar ISP <noreply@isp.example>",
        }.items():
            monkeypatch.setitem(app.config, name, value)
        with app.app_context():
            yield inbox
            db.session.rollback()


def failed_message(email: str | None = "budi@example.com", content: str = CONTENT) -> int:
    (message_id,) = messages.queue_texts([(CUSTOMER, content)], band="urgent")
    if email:
        db.session.get(WhatsAppMessage, message_id).email = email
        db.session.commit()
    sending.mark_failed(message_id, 3)
    return message_id


def row(message_id: int) -> WhatsAppMessage:
    db.session.expire_all()
    return db.session.get(WhatsAppMessage, message_id)


def test_a_failed_message_is_emailed_in_the_seeds_layout_in_indonesian(inbox):
    message_id = failed_message()
    assert fallback.send_fallback(message_id) == "sent"

    (mail,) = inbox.mails
    assert mail.recipients == ["budi@example.com"]
    assert mail.message["To"] == "budi@example.com"
    assert mail.message["From"] == "Kabar ISP <noreply@isp.example>"
    assert mail.message["Subject"] == "[Cadangan WhatsApp] Tagihan <Baru> & Lunas"
    assert mail.part("html").rstrip("\n") == EXPECTED_HTML
    assert mail.part("plain").rstrip("\n") == CONTENT
    stored = row(message_id)
    assert (stored.fallback_method, stored.fallback_result) == ("email", "sent")
    assert stored.fallback_at is not None


@pytest.mark.parametrize("configured", ["setting", "KABAR_LANGUAGE"])
def test_the_email_is_in_english_only_when_the_operator_chose_it(
    app, inbox, monkeypatch, configured
):
    if configured == "setting":
        settings.save({"email_language": "en"})
    else:
        monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")
    assert fallback.send_fallback(failed_message()) == "sent"
    (mail,) = inbox.mails
    assert mail.message["Subject"] == "[WhatsApp Backup] Tagihan <Baru> & Lunas"
    assert mail.part("html").rstrip("\n") == EXPECTED_HTML_EN


def test_the_email_follows_the_setting_not_the_language_of_the_request(app, inbox):
    """An operator reading the console in English still e-mails customers in Indonesian."""
    with app.test_request_context("/admin/"):
        from flask import session

        session["language"] = "en"
        email = fallback.build_email("budi@example.com", CONTENT, "kabar@isp.example", "t")
    assert email["Subject"] == "[Cadangan WhatsApp] Tagihan <Baru> & Lunas"


def test_marking_a_message_failed_queues_its_fallback_once(inbox, redis_client):
    message_id = failed_message()
    sending.mark_failed(message_id, 3)  # a repeated exhaustion notice changes nothing
    queued = dramatiq_messages(redis_client, "maintenance", Actor.SEND_EMAIL_FALLBACK)
    assert [m["args"] for m in queued] == [[message_id]]


def test_nothing_is_queued_when_the_fallback_is_off(app, inbox, redis_client, monkeypatch):
    monkeypatch.setitem(app.config, "ENABLE_EMAIL_FALLBACK", False)
    failed_message()
    assert dramatiq_messages(redis_client, "maintenance", Actor.SEND_EMAIL_FALLBACK) == []


def test_the_contacts_address_is_used_when_the_message_has_none(inbox):
    db.session.add(Contact(phone=CUSTOMER, email="budi.contact@example.com"))
    db.session.commit()
    message_id = failed_message(email=None)
    assert fallback.send_fallback(message_id) == "sent"
    assert inbox.mails[0].recipients == ["budi.contact@example.com"]


def test_without_an_address_nothing_is_sent_and_that_is_recorded(inbox):
    message_id = failed_message(email=None)
    assert fallback.send_fallback(message_id) == "no_address"
    assert inbox.mails == []
    assert row(message_id).fallback_result == "no_address"


def test_the_smtp_login_is_used_when_configured(app, inbox, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_USER", "kabar")
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "s3cret-pass")
    assert fallback.send_fallback(failed_message()) == "sent"
    assert inbox.logins == [("kabar", "s3cret-pass")]
    assert len(inbox.mails) == 1


def test_an_unreachable_server_is_retried_and_recorded(app, inbox, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", free_port())
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "never-shown")
    message_id = failed_message()
    with pytest.raises(fallback.FallbackFailed):
        fallback.send_fallback(message_id)
    stored = row(message_id)
    assert stored.fallback_result.startswith("error: ConnectionRefusedError")
    assert "never-shown" not in stored.fallback_result


def test_a_bad_smtp_host_saved_before_hosts_were_checked_is_recorded(inbox):
    db.session.add(Setting(name="smtp_host", value="smtp..example.com"))  # as an old value
    db.session.commit()
    settings.forget()
    message_id = failed_message()
    with pytest.raises(fallback.FallbackFailed):
        fallback.send_fallback(message_id)
    # Python 3.11 raises UnicodeError, 3.13 its subclass UnicodeEncodeError: both say why.
    assert re.match(r"error: Unicode(Encode)?Error: .*label empty", row(message_id).fallback_result)
    assert inbox.mails == []


def test_a_message_is_emailed_once_and_only_when_failed(inbox):
    message_id = failed_message()
    assert fallback.send_fallback(message_id) == "sent"
    assert fallback.send_fallback(message_id) == "skipped"
    (queued_id,) = messages.queue_texts([(CUSTOMER, "masih antre")], band="urgent")
    assert fallback.send_fallback(queued_id) == "skipped"
    assert len(inbox.mails) == 1


def test_the_subject_is_the_first_line_without_its_emoji(app):
    assert fallback.subject_of("⚠️ Peringatan Expired\n\nHalo") == "Peringatan Expired"
    assert fallback.subject_of("\n\n  Halo Budi,\nx") == "Halo Budi,"
    with app.test_request_context("/admin/"):
        assert fallback.subject_of("🎉🎉") == "Isi pesan"
    assert len(fallback.subject_of("x" * 200)) == 78


def test_an_address_at_an_international_domain_is_mailed(app, inbox, monkeypatch):
    """``budi@bücher.example`` passes the address check; it goes out as DNS spells the domain,
    which every SMTP server takes (a non-ASCII address needs SMTPUTF8, which many lack)."""
    monkeypatch.setitem(app.config, "SMTP_FROM", "Kabar ISP <noreply@bücher.example>")
    message_id = failed_message(email="budi@bücher.example")
    with smtp_inbox(smtputf8=False) as ascii_only:
        monkeypatch.setitem(app.config, "SMTP_PORT", ascii_only.port)
        assert fallback.send_fallback(message_id) == "sent"
    (mail,) = ascii_only.mails
    assert mail.recipients == ["budi@xn--bcher-kva.example"]
    assert mail.sender == "noreply@xn--bcher-kva.example"
    assert mail.message["From"] == "Kabar ISP <noreply@xn--bcher-kva.example>"
