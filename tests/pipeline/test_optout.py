"""Opt-out: a stop word from the customer, then bulk and promotions to them are skipped."""

from __future__ import annotations

import time

import pytest

from webapp.extensions import db
from webapp.intake import messages
from webapp.models import Contact, WhatsAppMessage, WhatsAppTemplate
from workers.pipeline import fold as session_events
from workers.pipeline import optout, sending
from workers.pipeline.pacer import GiveBack

CUSTOMER = "6281234567890"
OTHER = "6281299998888"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def promotion(ctx):
    template = db.session.scalar(
        db.select(WhatsAppTemplate).where(WhatsAppTemplate.name == "test_promo_optout")
    )
    if template is None:
        template = WhatsAppTemplate(
            name="test_promo_optout", category="promotion", content="Promo {{what}}!"
        )
        db.session.add(template)
        db.session.commit()
    return template.name


def incoming(text, from_phone=CUSTOMER, wa_message_id=None):
    return {
        "session_id": "s1",
        "kind": "message",
        "from_phone": from_phone,
        "from_jid": f"{from_phone}@s.whatsapp.net",
        "text": text,
        "wa_message_id": wa_message_id or f"IN{time.monotonic_ns()}",
        "at": time.time(),
    }


def contact(phone=CUSTOMER) -> Contact | None:
    db.session.expire_all()
    return db.session.scalar(db.select(Contact).where(Contact.phone == phone))


@pytest.mark.parametrize("text", ["STOP", "  stop \n", "Berhenti", "unsubscribe", "BERHENTI"])
def test_a_stop_word_alone_is_an_opt_out(ctx, text):
    assert optout.is_keyword(text)


@pytest.mark.parametrize("text", ["stop please", "jangan berhenti", "", None, "STOPP"])
def test_a_sentence_that_contains_a_stop_word_is_not(ctx, text):
    assert not optout.is_keyword(text)


def test_the_words_come_from_the_configuration(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "OPT_OUT_KEYWORDS", ("CUKUP",))
    assert optout.is_keyword("cukup") and not optout.is_keyword("STOP")


def test_an_incoming_stop_opts_the_sender_out_once(ctx):
    session_events.apply(incoming("Halo, sudah bayar"))
    assert contact().opted_out is False
    session_events.apply(incoming(" Stop "))
    first = contact()
    assert first.opted_out is True and first.opted_out_at is not None
    opted_at = first.opted_out_at
    session_events.apply(incoming("STOP"))
    assert contact().opted_out_at == opted_at
    assert optout.is_opted_out(CUSTOMER) and not optout.is_opted_out(OTHER)


def test_opted_out_among_finds_the_opted_out_numbers_of_a_batch(ctx):
    session_events.apply(incoming("BERHENTI"))
    session_events.apply(incoming("halo", from_phone=OTHER))
    assert optout.opted_out_among([CUSTOMER, OTHER, "6281111111111"]) == {CUSTOMER}


def test_a_bulk_message_to_an_opted_out_number_is_skipped_and_others_go_on(ctx):
    session_events.apply(incoming("STOP"))
    skipped_id, other_id = messages.queue_texts([(CUSTOMER, "Pengumuman"), (OTHER, "Pengumuman")])
    assert sending.deliver(skipped_id) == "skipped"
    row = db.session.get(WhatsAppMessage, skipped_id)
    assert (row.status, row.error_message) == ("skipped", "recipient opted out")
    # The other recipient goes on to routing (no number is linked here, so it must wait).
    with pytest.raises(GiveBack):
        sending.deliver(other_id)
    assert db.session.get(WhatsAppMessage, other_id).status == "queued"


def test_a_promotion_is_skipped_but_a_notification_still_goes(ctx, promotion):
    session_events.apply(incoming("unsubscribe"))
    promo = messages.queue_message(CUSTOMER, template=promotion, data={"what": "diskon"}).message
    notice = messages.queue_message(CUSTOMER, text="Tagihan Anda sudah terbit").message
    assert sending.deliver(promo.id) == "skipped"
    with pytest.raises(GiveBack):
        sending.deliver(notice.id)
