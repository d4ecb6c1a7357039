"""Operator settings: typed and bounded, saved all or nothing, secrets encrypted at rest, and
used by the services as soon as they are saved, without a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.polling import wait_for
from webapp import settings
from webapp.core import quiet_hours
from webapp.extensions import db
from webapp.models import Setting, WhatsAppMessage, WhatsAppSession
from webapp.settings import InvalidSetting
from workers.pipeline import optout, retention, sessions
from workers.queue import keys

PASSWORD = "rahasia-SMTP-9f2c"


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


def raw_row(name: str) -> str | None:
    """The stored value as PostgreSQL holds it, read past the service."""
    return db.session.scalar(
        sa.text("SELECT value::text FROM settings WHERE name = :name"), {"name": name}
    )


# defaults and saved values ------------------------------------------------------------------


def test_an_unsaved_setting_follows_the_environment(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_MESSAGES_DAYS", 21)
    assert settings.get("retention_messages_days") == 21
    assert not settings.is_saved("retention_messages_days")


def test_a_saved_value_wins_at_once_and_a_reset_goes_back_to_the_environment(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_MESSAGES_DAYS", 21)
    settings.save({"retention_messages_days": " 45 "})
    assert settings.get("retention_messages_days") == 45
    assert settings.is_saved("retention_messages_days")
    settings.reset("retention_messages_days")
    assert settings.get("retention_messages_days") == 21
    assert raw_row("retention_messages_days") is None


def test_a_value_saved_by_another_process_is_seen_within_the_cache_time(ctx):
    assert settings.get("smtp_port") != 2525
    db.session.add(Setting(name="smtp_port", value=2525))  # as another process would
    db.session.commit()
    wait_for(lambda: settings.get("smtp_port") == 2525, timeout=settings.CACHE_S + 3)


# coercion and bounds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("smtp_port", " 2525 ", 2525),
        ("email_fallback_enabled", "on", True),
        ("email_fallback_enabled", "0", False),
        ("smtp_starttls", False, False),
        ("reconnect_backoff_base_s", "0.5", 0.5),
        ("retention_sessions_days", "0", 0),
        ("opt_out_keywords", "BERHENTI, stop,\nunsubscribe,", ["BERHENTI", "stop", "unsubscribe"]),
        ("quiet_categories", ["promotion"], ["promotion"]),
        ("quiet_hours", " 21:00-07:00 ", "21:00-07:00"),
        ("quiet_hours", "", ""),
        ("smtp_from", "Kabar ISP <noreply@isp.example>", "Kabar ISP <noreply@isp.example>"),
        ("smtp_from", "kabar@localhost", "kabar@localhost"),
        ("routing_bulk", "failover", "failover"),
        ("smtp_host", " mail.isp.example ", "mail.isp.example"),
        ("smtp_host", "smtp-relay_1", "smtp-relay_1"),  # a container's name
        ("smtp_host", "mail.bücher.example", "mail.bücher.example"),
        ("smtp_host", "10.0.0.25", "10.0.0.25"),
        ("smtp_host", "2001:db8::25", "2001:db8::25"),
    ],
)
def test_input_is_read_as_the_settings_type(ctx, name, raw, expected):
    assert settings.coerce(settings.SPECS[name], raw) == expected


@pytest.mark.parametrize(
    "name, raw, reason",
    [
        ("smtp_port", "0", "at least 1"),
        ("smtp_port", "70000", "at most 65535"),
        ("smtp_port", "25x", "whole number"),
        ("smtp_port", True, "must be a number"),
        ("smtp_port", {"port": 25}, "single value"),
        ("retention_jobs_days", "-1", "at least 0"),
        ("retention_messages_days", "3651", "at most 3650"),
        ("reconnect_backoff_cap_s", "0.5", "at least 1"),
        ("error_backoff_base_ms", "10", "at least 100"),
        ("email_fallback_enabled", "maybe", "true or false"),
        ("quiet_hours", "nine-to-five", "quiet hours must look like 21:00-07:00"),
        ("quiet_hours", "25:00-07:00", "quiet hours"),
        ("quiet_categories", "promotion, spam", "'spam' is not one of"),
        ("smtp_from", "not an address", "e-mail address"),
        ("smtp_from", "a@isp.example, b@isp.example", "one e-mail address, not a list"),
        ("smtp_from", "noreply@isp.example\nBcc: all@isp.example", "control characters"),
        ("smtp_from", "Kabar\r\n <noreply@isp.example>", "control characters"),
        ("smtp_user", "ops\r\nRCPT TO:<x@y.example>", "control characters"),
        ("smtp_host", "mx.example\r\nx", "control characters"),
        ("smtp_host", "smtp example.com", "host name"),
        ("smtp_host", " ", "host name"),
        ("smtp_host", "a b", "host name"),
        ("smtp_host", "smtp..example.com", "'smtp..example.com' has an empty label"),
        ("smtp_host", ".example.com", "empty label"),
        ("smtp_host", "x" * 64 + ".example", "is not 1 to 63 letters"),
        ("smtp_host", "smtp/25.example", "'smtp/25' is not 1 to 63 letters"),
        ("routing_bulk", "random", "one of failover, spread"),
    ],
)
def test_a_bad_value_is_refused_with_its_field_and_reason(ctx, name, raw, reason):
    with pytest.raises(InvalidSetting, match=reason) as refused:
        settings.save({name: raw})
    assert refused.value.field == name and refused.value.status == 422
    assert raw_row(name) is None


def test_a_save_stores_all_or_nothing(ctx):
    with pytest.raises(InvalidSetting) as refused:
        settings.save({"retention_messages_days": 10, "smtp_port": "x", "smtp_host": "mx.example"})
    assert refused.value.field == "smtp_port"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Setting)) == 0
    assert not settings.is_saved("retention_messages_days")


def test_an_unknown_setting_is_refused(ctx):
    with pytest.raises(InvalidSetting, match="unknown setting") as refused:
        settings.save({"retention_days": 10})
    assert refused.value.field == "retention_days"


def test_a_form_changes_only_what_differs_from_the_value_in_effect(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PORT", 587)
    submitted = {
        "smtp_port": "587",  # as shown: stays the environment's
        "smtp_host": "mail.isp.example",
        "retention_jobs_days": None,  # a reset of what is not saved: nothing to do
        "retention_messages_days": "-1",  # refused later by save, with its reason
    }
    assert settings.edits(submitted) == {
        "smtp_host": "mail.isp.example",
        "retention_messages_days": "-1",
    }


# secrets ------------------------------------------------------------------------------------


def test_a_secret_is_encrypted_at_rest_and_never_shown(ctx):
    settings.save({"smtp_password": PASSWORD})
    stored = raw_row("smtp_password")
    assert stored is not None and PASSWORD not in stored and "rahasia" not in stored
    assert settings.get("smtp_password") == PASSWORD
    assert settings.shown("smtp_password") == {"set": True}


def test_an_empty_secret_keeps_the_stored_one_and_null_resets_it(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "")
    settings.save({"smtp_password": PASSWORD})
    sealed = raw_row("smtp_password")
    settings.save({"smtp_password": ""})
    assert raw_row("smtp_password") == sealed
    assert settings.get("smtp_password") == PASSWORD
    settings.save({"smtp_password": None})
    assert settings.get("smtp_password") == ""
    assert settings.shown("smtp_password") == {"set": False}


def test_a_secret_sealed_under_another_key_falls_back_to_the_default(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "from-the-environment")
    settings.save({"smtp_password": PASSWORD})
    monkeypatch.setitem(app.config, "WA_ENCRYPTION_KEY", "a different key")
    assert settings.get("smtp_password") == "from-the-environment"


def test_a_secret_saved_under_the_old_key_derivation_is_still_read(app, ctx, monkeypatch):
    """Saved before passphrases were stretched: sealed under the HKDF key, naming no kdf."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from webapp.core.credentials import legacy_key
    from webapp.models import Setting

    monkeypatch.setitem(app.config, "WA_ENCRYPTION_KEY", "kata sandi lama ISP kami")
    nonce = os.urandom(12)
    old_key = legacy_key("kata sandi lama ISP kami")
    sealed = AESGCM(old_key).encrypt(nonce, PASSWORD.encode(), b"kabar-setting:smtp_password")
    db.session.add(
        Setting(
            name="smtp_password",
            value={"encrypted": base64.urlsafe_b64encode(nonce + sealed).decode()},
        )
    )
    db.session.commit()
    settings.forget()
    assert settings.get("smtp_password") == PASSWORD
    settings.save({"smtp_password": PASSWORD})  # saved again: under the stretched key
    assert json.loads(raw_row("smtp_password"))["kdf"] == 2
    assert settings.get("smtp_password") == PASSWORD


# the SMTP password follows only the server it was given for ----------------------------------


@pytest.fixture
def smtp_login(app, ctx, monkeypatch):
    """A server and login from the environment, whose password is saved."""
    for name, value in {
        "SMTP_HOST": "mail.isp.example",
        "SMTP_PORT": 587,
        "SMTP_USER": "kabar",
        "SMTP_STARTTLS": True,
        "SMTP_PASSWORD": "from-the-environment",
    }.items():
        monkeypatch.setitem(app.config, name, value)
    settings.save({"smtp_password": PASSWORD})


@pytest.mark.parametrize(
    "change",
    [
        {"smtp_host": "mx.attacker.example"},
        {"smtp_port": "2525"},
        {"smtp_user": "someone-else"},
        {"smtp_starttls": False},
        {"smtp_host": "mx.attacker.example", "smtp_password": ""},  # a form's untouched field
        {"smtp_host": "mx.attacker.example", "smtp_password": None},  # a reset is no password
    ],
)
def test_moving_the_smtp_login_without_a_new_password_clears_it(smtp_login, change):
    saved = settings.save(change)
    assert settings.password_cleared(saved)
    assert settings.get("smtp_password") == ""  # neither the saved one nor the environment's
    assert settings.shown("smtp_password") == {"set": False}


def test_resetting_a_saved_smtp_host_to_another_default_clears_the_password(smtp_login):
    settings.save({"smtp_host": "mx2.isp.example", "smtp_password": PASSWORD})
    assert settings.password_cleared(settings.save({"smtp_host": None}))
    assert settings.get("smtp_password") == ""


def test_a_password_given_with_the_move_is_kept(smtp_login):
    saved = settings.save({"smtp_host": "mx2.isp.example", "smtp_password": "baru-4411"})
    assert not settings.password_cleared(saved)
    assert settings.get("smtp_password") == "baru-4411"


def test_saving_the_smtp_login_as_it_is_keeps_the_password(smtp_login):
    unchanged = {
        "smtp_host": "mail.isp.example",
        "smtp_port": 587,
        "smtp_user": "kabar",
        "smtp_starttls": True,
        "smtp_password": "",
        "smtp_from": "ops@isp.example",
    }
    assert not settings.password_cleared(settings.save(unchanged))
    assert settings.get("smtp_password") == PASSWORD


def test_a_move_with_no_password_in_effect_stores_none(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_PASSWORD", "")
    assert not settings.password_cleared(settings.save({"smtp_host": "mx2.isp.example"}))
    assert not settings.is_saved("smtp_password")


# applied by the services without a restart --------------------------------------------------


def test_a_saved_retention_horizon_is_used_by_the_next_purge(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_MESSAGES_DAYS", 30)
    now = datetime(2026, 12, 10, tzinfo=UTC)
    message = WhatsAppMessage(
        to_number="6281234567890", content="x", status="read", created_at=now - timedelta(20)
    )
    db.session.add(message)
    db.session.commit()
    assert retention.purge(now=now).messages == 0
    settings.save({"retention_messages_days": 10})
    assert retention.purge(now=now).messages == 1


def test_saved_quiet_hours_hold_promotions_from_the_next_send(app, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "QUIET_HOURS", "")
    monkeypatch.setitem(app.config, "TIMEZONE", "Asia/Jakarta")
    ten_pm_jakarta = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    assert quiet_hours.wait_ms("promotion", ten_pm_jakarta) == 0
    settings.save({"quiet_hours": "21:00-07:00", "quiet_categories": "promotion"})
    assert quiet_hours.wait_ms("promotion", ten_pm_jakarta) == 9 * 3600 * 1000
    assert quiet_hours.wait_ms("reminder", ten_pm_jakarta) == 0


def test_saved_opt_out_keywords_replace_the_environments(ctx):
    assert optout.is_keyword("stop")
    settings.save({"opt_out_keywords": "CUKUP, jangan kirim lagi"})
    assert optout.is_keyword(" cukup ") and optout.is_keyword("Jangan kirim lagi")
    assert not optout.is_keyword("stop")


def test_a_new_session_paces_with_the_saved_defaults(ctx):
    settings.save({"default_interval_ms": 3000, "default_jitter_ms": 0})
    session = sessions.create_session("WA-settings")
    stored = db.session.get(WhatsAppSession, session.id)
    assert (stored.interval_ms, stored.jitter_ms) == (3000, 0)


def test_a_saved_reconnect_backoff_reaches_the_session_hosts_list(ctx, redis_client):
    session = sessions.create_session("WA-backoff")
    assert json.loads(redis_client.hget(keys.DESIRED_SESSIONS, session.session_id)) == {
        "transport": "simulator"
    }
    sessions.settings_changed(settings.save({"reconnect_backoff_base_s": "5"}))
    entry = json.loads(redis_client.hget(keys.DESIRED_SESSIONS, session.session_id))
    assert entry == {"transport": "simulator", "options": {"backoff_base": 5.0}}


def test_the_default_interval_is_never_below_a_sessions_own_minimum(app):
    with app.app_context(), pytest.raises(settings.InvalidSetting) as refused:
        settings.save({"default_interval_ms": 50})
    assert refused.value.field == "default_interval_ms" and "at least 100" in refused.value.message
