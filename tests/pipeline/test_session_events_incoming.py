"""Folding what the session host reports beyond state and receipts: bans, health checks,
incoming messages and contacts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from webapp.extensions import db
from webapp.models import Contact, IncomingMessage, WhatsAppSession
from workers.pipeline import fold as session_events


@pytest.fixture
def ctx(app):
    with app.app_context():
        db.session.execute(db.text("TRUNCATE contacts, incoming_messages RESTART IDENTITY"))
        db.session.commit()
        yield


def make_session(session_id="s1", priority=1, status="connected"):
    session = WhatsAppSession(
        session_id=session_id,
        device_id=session_id,
        priority=priority,
        transport="simulator",
        status=status,
    )
    db.session.add(session)
    db.session.commit()
    return session


def incoming(at, wa_message_id="3EB0IN1", session_id="s1", **data):
    event = {
        "session_id": session_id,
        "kind": "message",
        "from_phone": "6281234567890",
        "from_jid": "6281234567890@s.whatsapp.net",
        "text": "Sudah bayar ya",
        "wa_message_id": wa_message_id,
        "at": at,
    }
    event.update(data)
    return event


def contacts():
    return list(db.session.scalars(db.select(Contact).order_by(Contact.phone)))


def messages():
    return list(db.session.scalars(db.select(IncomingMessage).order_by(IncomingMessage.id)))


@pytest.mark.usefixtures("ctx")
class TestIncomingMessages:
    def test_a_message_is_stored_once_however_often_it_is_folded(self):
        make_session()
        now = time.time()
        for _ in range(3):
            session_events.apply(incoming(now, push_name="Budi"))
        (stored,) = messages()
        assert (stored.session_id, stored.from_phone, stored.text) == (
            "s1",
            "6281234567890",
            "Sudah bayar ya",
        )
        assert stored.received_at == datetime.fromtimestamp(now, UTC)
        (contact,) = contacts()
        assert (contact.phone, contact.push_name, contact.session_id) == (
            "6281234567890",
            "Budi",
            "s1",
        )

    def test_the_contact_keeps_its_push_name_and_follows_the_last_session(self):
        make_session("s1")
        make_session("s2", priority=2)
        now = time.time()
        session_events.apply(incoming(now, "A", push_name="Budi"))
        session_events.apply(incoming(now + 1, "B", session_id="s2"))
        session_events.apply(incoming(now + 2, "C", push_name="Budi Santoso"))
        (contact,) = contacts()
        assert contact.push_name == "Budi Santoso" and contact.session_id == "s1"
        assert len(messages()) == 3

    def test_media_is_stored_with_its_type_and_an_unknown_type_is_dropped(self):
        make_session()
        now = time.time()
        session_events.apply(incoming(now, "M1", text="", media_type="image"))
        session_events.apply(incoming(now, "M2", text="struk", media_type="document"))
        session_events.apply(incoming(now, "M3", text="hai", media_type="hologram"))
        stored = [(m.wa_message_id, m.text, m.media_type) for m in messages()]
        assert stored == [("M1", "", "image"), ("M2", "struk", "document"), ("M3", "hai", None)]

    def test_a_sender_known_only_by_lid_is_stored_without_a_contact(self):
        make_session()
        session_events.apply(
            incoming(time.time(), from_phone=None, from_jid="123456789012345@lid", text="hai")
        )
        (stored,) = messages()
        assert stored.from_phone is None and stored.from_jid == "123456789012345@lid"
        assert contacts() == []

    def test_a_lid_sender_with_a_number_maps_number_to_lid(self):
        make_session()
        session_events.apply(incoming(time.time(), from_jid="998877665544@lid"))
        (contact,) = contacts()
        assert (contact.phone, contact.lid) == ("6281234567890", "998877665544")

    def test_a_message_without_an_id_is_still_folded_once(self):
        make_session()
        event = incoming(time.time(), wa_message_id=None)
        session_events.apply(event)
        session_events.apply(dict(event))
        (stored,) = messages()
        assert stored.wa_message_id.startswith("KABAR-")

    def test_an_incoming_message_is_activity_of_the_session(self):
        session = make_session()
        now = time.time()
        session_events.apply(incoming(now))
        db.session.refresh(session)
        assert session.last_activity == datetime.fromtimestamp(now, UTC)
        session_events.apply(incoming(now - 60, "OLDER"))
        db.session.refresh(session)
        assert session.last_activity == datetime.fromtimestamp(now, UTC)

    def test_a_contacts_sync_upserts_every_number_and_skips_garbage(self):
        make_session()
        session_events.apply(incoming(time.time(), push_name="Budi"))
        session_events.apply(
            {
                "session_id": "s1",
                "kind": "contacts",
                "at": time.time(),
                "contacts": [
                    {"phone": "6281234567890"},
                    {"phone": "+62 811-2222-3333", "push_name": "Sari", "lid": "55501"},
                    {"phone": "not a number", "push_name": "?"},
                    "garbage",
                ],
            }
        )
        found = {c.phone: (c.push_name, c.lid) for c in contacts()}
        assert found == {"6281234567890": ("Budi", None), "6281122223333": ("Sari", "55501")}


def status(session_id, value, at, **data):
    return {"session_id": session_id, "kind": "status", "status": value, "at": at, **data}


def health(at, ok=True, warning=None, **data):
    return {"session_id": "s1", "kind": "health", "ok": ok, "warning": warning, "at": at, **data}


@pytest.mark.usefixtures("ctx")
class TestBansAndHealth:
    def test_a_ban_keeps_its_reason_and_expiry_until_connected_again(self):
        session = make_session()
        now = time.time()
        session_events.apply(
            status("s1", "banned", now, reason="temporarily banned", expires_at=now + 3600)
        )
        db.session.refresh(session)
        assert session.status == "banned" and session.last_error == "temporarily banned"
        assert session.ban_expires_at == datetime.fromtimestamp(now + 3600, UTC)
        session_events.apply(status("s1", "connected", now + 1))
        db.session.refresh(session)
        assert session.ban_expires_at is None and session.last_error is None

    def test_failed_health_checks_count_as_errors_and_a_recovery_clears_the_warning(self):
        session = make_session()
        now = time.time()
        session_events.apply(status("s1", "connected", now))
        session_events.apply(health(now + 1, ok=False, warning="health check failed (1 in a row)"))
        session_events.apply(health(now + 2, ok=False, warning="health check failed (2 in a row)"))
        db.session.refresh(session)
        assert session.error_count == 2
        assert session.last_error == "health check failed (2 in a row)"
        session_events.apply(health(now + 3, ok=True))
        db.session.refresh(session)
        assert session.error_count == 2 and session.last_error is None

    def test_a_slow_check_is_a_warning_not_an_error(self):
        session = make_session()
        session_events.apply(health(time.time(), ok=True, slow=True, warning="health check slow"))
        db.session.refresh(session)
        assert session.error_count == 0 and session.last_error == "health check slow"

    def test_a_stale_health_event_does_not_hide_a_newer_state_reason(self):
        session = make_session()
        now = time.time()
        session_events.apply(status("s1", "disconnected", now, reason="network down"))
        session_events.apply(health(now - 5, ok=False, warning="health check failed"))
        db.session.refresh(session)
        assert session.last_error == "network down" and session.error_count == 1
