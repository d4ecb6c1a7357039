"""Limits hold a message, never fail it: a spent daily cap or warm-up allowance, quiet hours or
no number able to send keep it queued with the code of its hold and the earliest time it may
go; bulk sends leave the end of a number's day to transactional messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.limits import JAKARTA, connected, ctx, next_midnight  # noqa: F401 - fixture
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp import settings
from webapp.extensions import db
from webapp.intake import forecast, messages, templates
from webapp.models import WhatsAppMessage
from workers.pipeline import routing, sending
from workers.queue import jobs, keys

pytestmark = pytest.mark.usefixtures("ctx")


def row(message_id: int) -> WhatsAppMessage:
    db.session.expire_all()
    return db.session.get(WhatsAppMessage, message_id)


def test_a_spent_warm_up_allowance_holds_bulk_until_midnight_in_the_operators_timezone():
    settings.save({"warmup_schedule": [2, 4]})
    connected("session-1", warmup_started_at=datetime.now(UTC))
    routing.record_success("session-1", 2)
    ids = messages.queue_texts([("081234567801", "Info"), ("081234567802", "Info")])

    outcome = sending.deliver_batch(ids)

    assert outcome.later == ids and outcome.unsent == [] and outcome.failed == 0
    assert 500 <= outcome.later_ms <= 60_000  # a bounded poll, not a wait until midnight
    for message_id in ids:
        held = row(message_id)
        assert held.status == "queued" and held.retry_count == 0
        assert held.held_reason == "warmup" and held.held_until == next_midnight()


def test_a_spent_daily_cap_holds_with_its_own_code_however_long_it_lasts(app, monkeypatch):
    connected("session-1", daily_cap=3)
    routing.record_success("session-1", 3)
    monkeypatch.setitem(app.config, "WAIT_FOR_NUMBER_S", 0)  # limits never time out
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    for _ in range(3):
        assert sending.deliver_batch([message_id]).later == [message_id]
    held = row(message_id)
    assert held.status == "queued" and held.held_reason == "daily_cap"
    assert held.held_until == next_midnight()


def test_a_number_whose_warm_up_is_above_its_own_cap_is_held_by_the_cap():
    settings.save({"warmup_schedule": [50]})
    connected("session-1", daily_cap=2, warmup_started_at=datetime.now(UTC))
    routing.record_success("session-1", 2)
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    assert row(message_id).held_reason == "daily_cap"


def test_quiet_hours_hold_until_the_window_ends():
    now = datetime.now(JAKARTA)
    end = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    settings.save({"quiet_hours": f"{start:%H:%M}-{end:%H:%M}"})
    templates.create_template(name="promo_hold", content="Promo {{name}}", category="promotion")
    message = messages.queue_message("081234567801", template="promo_hold", data={"name": "A"})
    message_id = message.message.id

    outcome = sending.deliver_batch([message_id])

    assert outcome.later == [message_id]
    held = row(message_id)
    assert held.status == "queued" and held.held_reason == "quiet_hours"
    assert abs((held.held_until - end.astimezone(UTC)).total_seconds()) < 2


def test_with_no_number_connected_the_hold_is_an_outage_with_no_known_end():
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    held = row(message_id)
    assert held.held_reason == "no_number" and held.held_until is None


def test_a_resting_number_holds_until_its_back_off_ends(redis_client):
    connected("session-1")
    redis_client.set(keys.error_backoff("session-1"), 1, px=30_000)
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    held = row(message_id)
    assert held.held_reason == "no_number"
    left = (held.held_until - datetime.now(UTC)).total_seconds()
    assert 25 < left <= 30


def test_cancelling_a_held_message_clears_its_hold():
    connected("session-1", daily_cap=1)
    routing.record_success("session-1")
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    assert row(message_id).held_reason == "daily_cap"
    jobs.cancel(row(message_id))
    cancelled = row(message_id)
    assert cancelled.status == "cancelled"
    assert cancelled.held_reason is None and cancelled.held_until is None


class TestReserve:
    """Bulk leaves the last bulk_reserve_percent of a capped day to transactional messages."""

    def test_bulk_stops_short_of_the_cap_and_transactional_messages_still_have_a_number(self):
        connected("session-1", daily_cap=20)
        routing.record_success("session-1", 18)  # 10 % of 20 is kept: bulk may use 18
        assert routing.routes("spread", band="bulk") == []
        assert [r.left_today for r in routing.routes("failover", band="urgent")] == [2]
        assert [r.left_today for r in routing.routes("failover", band="normal")] == [2]

        (bulk_id,) = messages.queue_texts([("081234567801", "Promo")])
        sending.deliver_batch([bulk_id])
        assert row(bulk_id).held_reason == "daily_cap"
        assert "bulk sends may use 18 of it" in row(bulk_id).error_message

    def test_the_reserve_rounds_up_and_zero_lets_bulk_use_the_whole_day(self):
        settings.save({"warmup_schedule": [5]})
        connected("session-1", warmup_started_at=datetime.now(UTC))
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [4]
        settings.save({"bulk_reserve_percent": 0})
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [5]
        settings.save({"bulk_reserve_percent": 50})
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [2]

    @pytest.mark.parametrize(("cap", "bulk_share"), [(1, 1), (2, 1), (3, 2), (10, 9)])
    def test_the_reserve_never_takes_a_whole_small_day_so_a_bulk_is_never_held_for_ever(
        self, cap, bulk_share
    ):
        connected("session-1", daily_cap=cap)
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [bulk_share]
        assert forecast.bulk(cap).today == bulk_share  # the bulk card says the same

    def test_the_largest_reserve_still_leaves_bulk_one_send_of_a_small_day(self):
        settings.save({"bulk_reserve_percent": 90})
        connected("session-1", daily_cap=5)
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [1]

    def test_a_number_without_a_cap_keeps_no_reserve(self):
        connected("session-1")
        assert [r.left_today for r in routing.routes("spread", band="bulk")] == [None]


def test_sends_are_taken_from_the_cap_at_once_so_concurrent_senders_never_pass_it():
    assert routing.take_sends("session-1", 3, 2) == 2
    assert routing.take_sends("session-1", 3, 2) == 1  # only one was left
    assert routing.take_sends("session-1", 3, 1) == 0
    routing.untake_sends("session-1", 2)  # two that surely did not go out
    assert routing.sent_today("session-1") == 1
    routing.untake_sends("session-1", 5)
    assert routing.sent_today("session-1") == 0  # never below nothing


def test_a_night_held_by_a_cap_does_not_count_against_a_later_outage(app, redis_client):
    connected("session-1", daily_cap=1)
    routing.record_success("session-1")
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    sending.deliver_batch([message_id])
    assert row(message_id).waiting_since is None  # a limit: no outage clock runs
    # The next morning the cap is free again, but the number rests after an error.
    routing.untake_sends("session-1", 1)
    redis_client.set(keys.error_backoff("session-1"), 1, px=30_000)
    outcome = sending.deliver_batch([message_id])
    assert outcome.later == [message_id] and outcome.unsent == []
    assert row(message_id).held_reason == "no_number" and row(message_id).waiting_since


def test_a_message_resent_after_an_outage_waits_out_the_next_one_from_the_resend(app):
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    failed = row(message_id)
    failed.waiting_since = datetime.now(UTC) - timedelta(hours=2)  # failed after an outage
    failed.status = "failed"
    db.session.commit()

    jobs.resend(row(message_id))
    outcome = sending.deliver_batch([message_id])  # still no number: it waits, not fails

    assert outcome.later == [message_id] and outcome.unsent == []
    assert row(message_id).held_reason == "no_number"


def test_a_number_at_its_cap_keeps_the_wait_unlimited_while_another_rests(app, redis_client):
    """One number spent its day, the other rests after errors for hours: the message waits for
    whichever can send first and never fails for the outage limit, since the first will send
    it when its day turns."""
    connected("session-1", daily_cap=1)
    routing.record_success("session-1")
    connected("session-2", priority=2)
    redis_client.set(keys.error_backoff("session-2"), 1, px=30_000)
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    waiting = row(message_id)
    waiting.waiting_since = datetime.now(UTC) - timedelta(hours=2)
    db.session.commit()

    outcome = sending.deliver_batch([message_id])

    assert outcome.later == [message_id] and outcome.unsent == []
    assert row(message_id).status == "queued" and row(message_id).waiting_since is None


def test_a_night_of_quiet_hours_does_not_count_against_an_outage_after_it():
    now = datetime.now(JAKARTA)
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    settings.save({"quiet_hours": f"{start:%H:%M}-{now + timedelta(hours=2):%H:%M}"})
    templates.create_template(name="promo_night", content="Promo {{name}}", category="promotion")
    message = messages.queue_message("081234567801", template="promo_night", data={"name": "A"})
    message_id = message.message.id
    waiting = row(message_id)  # it began to wait for a number just before the night
    waiting.waiting_since = datetime.now(UTC) - timedelta(hours=10)
    db.session.commit()
    assert sending.deliver_batch([message_id]).later == [message_id]  # the night

    settings.save({"quiet_hours": ""})  # morning: no number is connected yet
    outcome = sending.deliver_batch([message_id])

    assert outcome.later == [message_id] and outcome.unsent == []
    assert row(message_id).held_reason == "no_number"


def test_a_message_the_day_let_go_that_waits_for_a_slot_no_longer_says_it_waits_for_the_quota(
    redis_client,
):
    from workers.pipeline.pacer import Pacer, ticket_score

    connected("session-1", daily_cap=100, interval_ms=120_000)
    (message_id,) = messages.queue_texts([("081234567801", "Info")])
    held = row(message_id)  # held overnight; the day has turned and the cap is free again
    held.held_reason, held.held_until = "daily_cap", datetime.now(UTC) - timedelta(minutes=5)
    db.session.commit()
    Pacer(redis_client).acquire("session-1", "earlier", ticket_score("bulk", 1, 0), 120_000)
    redis_client.set(keys.lease("session-1"), "host-1")  # a session host holds the number

    # Its slot is two minutes away: it waits in the number's ready queue for it.
    outcome = sending.deliver_batch([message_id])

    assert outcome.handed == 1 and outcome.later == [] and outcome.unsent == []
    assert redis_client.zscore(keys.ready_queue("session-1"), str(message_id)) is not None
    assert row(message_id).held_reason is None and row(message_id).held_until is None
