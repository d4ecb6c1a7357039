"""Before a bulk send starts: how many of its messages go out today and how many wait, by
cause, from the connected numbers' allowances left today and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.limits import JAKARTA, connected, ctx, next_midnight  # noqa: F401 - fixture
from tests.saved_settings import no_saved_settings  # noqa: F401 - autouse fixture
from webapp import settings
from webapp.intake import forecast, messages
from workers.pipeline import routing

pytestmark = pytest.mark.usefixtures("ctx")


def test_three_new_numbers_send_sixty_of_ninety_today_and_thirty_wait_for_the_warm_up():
    settings.save({"bulk_reserve_percent": 0})
    for n in (1, 2, 3):
        connected(f"s{n}", warmup_started_at=datetime.now(UTC))
    expected = forecast.bulk(90)
    assert (expected.today, expected.held) == (60, {"warmup": 30})
    assert expected.until == {"warmup": next_midnight()}
    assert expected.as_json()["waiting"] == 30


def test_the_reserve_and_what_was_sent_today_count():
    connected("s1", daily_cap=100)  # bulk may use 90 of it
    routing.record_success("s1", 40)
    assert forecast.bulk(80).held == {"daily_cap": 30}


def test_bulk_messages_queued_already_go_first():
    settings.save({"bulk_reserve_percent": 0})
    connected("s1", daily_cap=10)
    messages.queue_texts([(f"08123456780{n}", "Info") for n in range(4)])
    assert forecast.bulk(10).today == 6


def test_a_number_without_a_cap_sends_everything_today():
    connected("s1", daily_cap=5)
    connected("s2")
    assert forecast.bulk(10_000) == forecast.Forecast(10_000)


def test_with_no_number_connected_everything_waits_for_one():
    assert forecast.bulk(7).held == {"no_number": 7}


def test_a_promotion_during_quiet_hours_waits_for_their_end():
    now = datetime.now(JAKARTA)
    settings.save(
        {"quiet_hours": f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"}
    )
    connected("s1")
    assert forecast.bulk(5, "promotion").held == {"quiet_hours": 5}
    assert forecast.bulk(5, "notification").today == 5


def test_mixed_limits_read_as_the_daily_quota():
    settings.save({"bulk_reserve_percent": 0, "warmup_schedule": [5]})
    connected("s1", warmup_started_at=datetime.now(UTC))
    connected("s2", daily_cap=5)
    assert forecast.bulk(12).held == {"daily_cap": 2}
