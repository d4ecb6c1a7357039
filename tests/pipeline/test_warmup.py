"""Warm-up of newly linked numbers: started by the first pairing, an allowance per day of the
operator's calendar, and routing that treats the allowance as a daily cap."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp import settings
from webapp.extensions import db
from webapp.models import WhatsAppSession
from workers.pipeline import fold as session_events
from workers.pipeline import routing, warmup

JAKARTA = timedelta(hours=7)  # Asia/Jakarta, the tests' TIMEZONE, has no summer time


@pytest.fixture
def ctx(app):
    with app.app_context():
        routing.forget_sessions()
        yield
        db.session.rollback()
        routing.forget_sessions()


def make_session(session_id, priority, status="connected", **values):
    session = WhatsAppSession(
        session_id=session_id,
        device_id=session_id,
        priority=priority,
        transport="simulator",
        status=status,
        is_primary=priority == 1,
        **values,
    )
    db.session.add(session)
    db.session.commit()
    return session


def paired(session_id, at, phone="6289900000001"):
    session_events.apply({"session_id": session_id, "kind": "paired", "phone": phone, "at": at})


def jakarta(*args) -> datetime:
    """A wall-clock time in Jakarta, as an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC) - JAKARTA


@pytest.mark.usefixtures("ctx")
class TestStart:
    def test_a_first_pairing_starts_the_warm_up(self):
        make_session("s1", 1, status="qr", warmup_on_link=True)
        at = time.time()
        paired("s1", at)
        row = db.session.scalar(db.select(WhatsAppSession))
        assert row.phone_number == "6289900000001"
        assert row.warmup_started_at == datetime.fromtimestamp(at, UTC)

    def test_a_number_added_without_choosing_warm_up_is_not_throttled(self):
        make_session("s1", 1, status="qr")
        paired("s1", time.time())
        row = db.session.scalar(db.select(WhatsAppSession))
        assert row.phone_number == "6289900000001" and row.warmup_started_at is None
        assert routing.effective_cap(row.daily_cap, row.warmup_started_at) is None

    def test_a_pairing_folded_again_later_keeps_the_first_day(self):
        make_session("s1", 1, status="qr", warmup_on_link=True)
        first = time.time() - 3 * 86_400
        paired("s1", first)
        paired("s1", time.time())
        row = db.session.scalar(db.select(WhatsAppSession))
        assert row.warmup_started_at == datetime.fromtimestamp(first, UTC)

    def test_a_warm_up_the_operator_ended_is_not_started_again_by_a_pairing(self):
        make_session("s1", 1, status="qr", warmup_on_link=True)
        at = time.time()
        paired("s1", at)
        warmup.set_warming_up("s1", False)
        paired("s1", at)  # the same pairing folded again (a redelivered event)
        paired("s1", time.time())  # or the phone linked again
        row = db.session.scalar(db.select(WhatsAppSession))
        assert row.warmup_started_at is None and row.warmup_ended_at is not None
        warmup.set_warming_up("s1", True)  # the operator may still start it
        assert row.warmup_started_at is not None and row.warmup_ended_at is None

    def test_a_session_that_has_sent_before_does_not_warm_up(self):
        make_session("s1", 1, status="qr", message_count=250, warmup_on_link=True)
        paired("s1", time.time())
        assert db.session.scalar(db.select(WhatsAppSession.warmup_started_at)) is None

    def test_reconnecting_with_a_stored_login_starts_nothing(self):
        make_session("s1", 1, status="connecting")
        session_events.apply(
            {"session_id": "s1", "kind": "status", "status": "connected", "phone": "628111",
             "at": time.time()}
        )  # fmt: skip
        assert db.session.scalar(db.select(WhatsAppSession.warmup_started_at)) is None


@pytest.mark.usefixtures("ctx")
class TestAllowance:
    def test_days_follow_the_operators_calendar(self):
        settings.save({"warmup_schedule": [10, 20, 30]})
        started = jakarta(2026, 3, 1, 23, 30)  # half an hour before midnight in Jakarta
        assert warmup.allowance(started, jakarta(2026, 3, 1, 23, 59)) == warmup.Allowance(1, 10)
        assert warmup.allowance(started, jakarta(2026, 3, 2, 0, 1)) == warmup.Allowance(2, 20)
        assert warmup.allowance(started, jakarta(2026, 3, 3, 12, 0)) == warmup.Allowance(3, 30)

    def test_after_the_schedule_or_when_never_started_no_limit_applies(self):
        settings.save({"warmup_schedule": [10, 20, 30]})
        started = jakarta(2026, 3, 1, 9, 0)
        assert warmup.allowance(started, jakarta(2026, 3, 4, 9, 0)) is None
        assert warmup.allowance(None) is None
        settings.save({"warmup_schedule": []})
        assert warmup.allowance(started, jakarta(2026, 3, 1, 10, 0)) is None

    def test_the_smaller_of_the_daily_cap_and_the_allowance_applies(self):
        settings.save({"warmup_schedule": [10, 20]})
        now = datetime.now(UTC)
        assert routing.effective_cap(5, now) == 5
        assert routing.effective_cap(500, now) == 10
        assert routing.effective_cap(None, now) == 10
        assert routing.effective_cap(500, None) == 500
        assert routing.effective_cap(None, None) is None


@pytest.mark.usefixtures("ctx")
class TestRouting:
    def test_a_number_at_its_allowance_is_skipped_until_the_next_day(self):
        settings.save({"warmup_schedule": [2, 5]})
        make_session("s1", 1, warmup_started_at=datetime.now(UTC))
        make_session("s2", 2)
        assert [r.session_id for r in routing.routes("failover")] == ["s1", "s2"]
        routing.record_success("s1", 2)
        assert [r.session_id for r in routing.routes("failover")] == ["s2"]
        assert routing.routes("failover", pinned_session_id="s1") == []
        status = routing.warmup_today(db.session.scalar(db.select(WhatsAppSession).limit(1)))
        assert status == {"day": 1, "allowance": 2, "sentToday": 2}

    def test_ending_the_warm_up_lifts_the_limit_and_starting_it_again_restores_it(self):
        settings.save({"warmup_schedule": [1]})
        make_session("s1", 1, warmup_started_at=datetime.now(UTC))
        routing.record_success("s1")
        assert routing.routes("failover") == []

        assert warmup.set_warming_up("s1", False).warmup_started_at is None
        routing.forget_sessions()
        assert [r.session_id for r in routing.routes("failover")] == ["s1"]

        started = warmup.set_warming_up("s1", True).warmup_started_at
        assert started is not None
        assert warmup.set_warming_up("s1", True).warmup_started_at == started  # already warming
        routing.forget_sessions()
        assert routing.routes("failover") == []
