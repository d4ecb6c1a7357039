"""Quiet hours as the services read them: the window and time zone of the app's settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.core import quiet_hours


class TestWaitMs:
    @pytest.fixture(autouse=True)
    def quiet_evening(self, app, monkeypatch):
        monkeypatch.setitem(app.config, "QUIET_HOURS", "21:00-07:00")
        monkeypatch.setitem(app.config, "TIMEZONE", "Asia/Jakarta")
        with app.app_context():
            yield

    def test_reminders_and_promotions_wait_in_the_operators_timezone(self):
        # 15:00 UTC is 22:00 in Jakarta: nine hours to go.
        now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
        assert quiet_hours.wait_ms("reminder", now) == 9 * 3600 * 1000
        assert quiet_hours.wait_ms("promotion", now) == 9 * 3600 * 1000

    def test_notifications_and_plain_texts_never_wait(self):
        now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
        assert quiet_hours.wait_ms("notification", now) == 0
        assert quiet_hours.wait_ms(None, now) == 0

    def test_nothing_waits_outside_the_window(self):
        assert quiet_hours.wait_ms("reminder", datetime(2026, 12, 10, 5, 0, tzinfo=UTC)) == 0

    def test_an_empty_setting_is_off(self, app, monkeypatch):
        monkeypatch.setitem(app.config, "QUIET_HOURS", "")
        assert quiet_hours.wait_ms("reminder", datetime(2026, 12, 10, 15, 0, tzinfo=UTC)) == 0

    def test_a_malformed_setting_is_logged_and_sends_rather_than_blocking(
        self, app, monkeypatch, caplog
    ):
        monkeypatch.setitem(app.config, "QUIET_HOURS", "nine-to-five")
        # Alembic's logging set-up (run by the app fixture) disables loggers that existed then.
        monkeypatch.setattr(quiet_hours.log, "disabled", False)
        assert quiet_hours.wait_ms("reminder", datetime(2026, 12, 10, 15, 0, tzinfo=UTC)) == 0
        assert "QUIET_HOURS ignored" in caplog.text
