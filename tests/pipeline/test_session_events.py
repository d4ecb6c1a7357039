"""Folding session events into PostgreSQL: idempotent, and never backwards."""

from __future__ import annotations

import time

import pytest

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession
from workers.pipeline import fold as session_events


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


def make_session(session_id, priority, status="disconnected"):
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


def status_event(session_id, status, at, **data):
    return {"session_id": session_id, "kind": "status", "status": status, "at": at, **data}


@pytest.mark.usefixtures("ctx")
class TestSessionState:
    def test_an_older_state_never_overrides_a_newer_one(self):
        make_session("s1", 1)
        now = time.time()
        session_events.apply(status_event("s1", "connected", now, phone="628111"))
        session_events.apply(status_event("s1", "connecting", now - 5))
        row = db.session.scalar(db.select(WhatsAppSession))
        assert row.status == "connected" and row.phone_number == "628111"

    def test_qr_is_kept_until_connected(self):
        make_session("s1", 1)
        now = time.time()
        session_events.apply(
            {"session_id": "s1", "kind": "qr", "code": "QR1", "expires_at": now + 60, "at": now}
        )
        row = db.session.scalar(db.select(WhatsAppSession))
        assert (row.status, row.qr_code) == ("qr", "QR1")
        session_events.apply(status_event("s1", "connected", now + 1))
        db.session.refresh(row)
        assert row.qr_code is None and row.qr_expires_at is None

    def test_the_primary_is_the_connected_session_with_the_lowest_priority(self):
        make_session("s1", 1)
        make_session("s2", 2)
        now = time.time()
        session_events.apply(status_event("s2", "connected", now))
        session_events.apply(status_event("s1", "connected", now))
        primaries = db.session.scalars(
            db.select(WhatsAppSession.session_id).where(WhatsAppSession.is_primary)
        ).all()
        assert primaries == ["s1"]
        session_events.apply(status_event("s1", "disconnected", now + 1, reason="network down"))
        primaries = db.session.scalars(
            db.select(WhatsAppSession.session_id).where(WhatsAppSession.is_primary)
        ).all()
        assert primaries == ["s2"]
        s1 = db.session.scalar(db.select(WhatsAppSession).where(WhatsAppSession.session_id == "s1"))
        assert s1.last_error == "network down"

    def test_events_of_a_deleted_session_are_ignored(self):
        session_events.apply(status_event("gone", "connected", time.time()))
        assert db.session.scalar(db.select(db.func.count(WhatsAppSession.id))) == 0


@pytest.mark.usefixtures("ctx")
class TestReceipts:
    def make_message(self, status="queued"):
        message = WhatsAppMessage(to_number="6281234567890", content="x", status=status)
        db.session.add(message)
        db.session.commit()
        return message

    def test_a_receipt_that_overtakes_the_sent_update_still_counts(self):
        message = self.make_message()
        now = time.time()
        session_events.apply(
            {
                "session_id": "s1",
                "kind": "receipt",
                "status": "delivered",
                "wa_message_id": "3EB0AA",
                "message_id": str(message.id),
                "at": now,
            }
        )
        db.session.refresh(message)
        assert message.status == "delivered" and message.delivered_at is not None
        assert message.message_id == "3EB0AA"

    def test_read_then_a_late_delivered_stays_read(self):
        message = self.make_message("sent")
        now = time.time()
        for status in ("read", "delivered", "delivered"):
            session_events.apply(
                {
                    "session_id": "s1",
                    "kind": "receipt",
                    "status": status,
                    "wa_message_id": "X",
                    "message_id": str(message.id),
                    "at": now,
                }
            )
        db.session.refresh(message)
        assert message.status == "read"
        assert message.delivered_at is not None and message.read_at is not None

    def test_a_receipt_is_matched_by_whatsapp_id_when_ours_is_unknown(self):
        message = self.make_message("sent")
        message.message_id = "3EB0BB"
        db.session.commit()
        session_events.apply(
            {
                "session_id": "s1",
                "kind": "receipt",
                "status": "read",
                "wa_message_id": "3EB0BB",
                "at": time.time(),
            }
        )
        db.session.refresh(message)
        assert message.status == "read"

    def test_a_failed_message_is_not_revived(self):
        message = self.make_message("failed")
        session_events.apply(
            {
                "session_id": "s1",
                "kind": "receipt",
                "status": "delivered",
                "wa_message_id": "X",
                "message_id": str(message.id),
                "at": time.time(),
            }
        )
        db.session.refresh(message)
        assert message.status == "failed"
