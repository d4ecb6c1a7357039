"""How the console says why a queued message waits, and until when, in the operator's words.

One place for the text, so every page (message, message list, bulk cards, dashboard) says the
same thing: a jinja filter ``held`` over a message (``{{ m|held }}``), ``describe`` for a hold
code and time, ``forecast_text`` for what a bulk send will do today, and the filter
``limit_reached`` over a session. Times are the operator's (``TIMEZONE``), labelled with its
abbreviation (WIB, WITA, WIT, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from flask_babel import gettext as _

from webapp.admin import bp
from webapp.intake import reports
from webapp.models import as_utc
from workers.pipeline import routing
from workers.queue.contracts import MessageStatus


@bp.app_template_filter("held")
def held(message) -> str:
    """Why ``message`` (anything with ``held_reason`` and ``held_until``) waits; "" if it
    does not."""
    if getattr(message, "status", MessageStatus.QUEUED) != MessageStatus.QUEUED:
        return ""
    return describe(getattr(message, "held_reason", None), getattr(message, "held_until", None))


# For each hold: its words without a time, and with one.
_SAID = {
    routing.DAILY_CAP: (
        lambda: _("waiting for the daily quota"),
        lambda when: _("waiting for the daily quota, %(when)s", when=when),
    ),
    routing.WARMUP: (
        lambda: _("waiting for the warm-up allowance"),
        lambda when: _("waiting for the warm-up allowance, %(when)s", when=when),
    ),
    routing.QUIET_HOURS: (
        lambda: _("waiting for quiet hours to end"),
        lambda when: _("waiting for quiet hours to end at %(when)s", when=when),
    ),
    routing.NO_NUMBER: (
        lambda: _("waiting for a number that can send"),
        lambda when: _("waiting for a number that can send"),  # a back-off end is too soon to say
    ),
}


def describe(reason: str | None, until: datetime | None, now: datetime | None = None) -> str:
    """ "menunggu kuota harian, besok 00:00 WIB", "menunggu jam tenang sampai 07:00 WIB", ...;
    "" when ``reason`` is none of ``routing.HOLDS``."""
    if reason not in _SAID:
        return ""
    untimed, timed = _SAID[reason]
    return timed(_when(until, now)) if until else untimed()


def _when(until: datetime, now: datetime | None) -> str:
    """``07:00 WIB`` today, ``besok 00:00 WIB`` tomorrow, ``12-12-2026 00:00 WIB`` later."""
    zone = reports.zone()
    local = as_utc(until).astimezone(zone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    clock = f"{local:%H:%M} {local.tzname()}"
    if local.date() <= today:
        return clock
    if local.date() == today + timedelta(days=1):
        return _("tomorrow %(time)s", time=clock)
    return f"{local:%d-%m-%Y} {clock}"


def forecast_text(expected) -> str:
    """A bulk send's forecast (``webapp.intake.forecast.Forecast``) in a sentence: "60 terkirim hari
    ini; 30 menunggu batas pemanasan, besok 00:00 WIB"."""
    parts = [_("%(num)s go out today", num=f"{expected.today:,}")]
    for code, count in expected.held.items():
        parts.append(
            _("%(num)s %(why)s", num=f"{count:,}", why=describe(code, expected.until.get(code)))
        )
    return "; ".join(parts)


@bp.app_template_filter("limit_reached")
def limit_reached(session) -> str:
    """ "batas hari ini tercapai: 20/20" when ``session`` used today's limit; "" otherwise (or
    while Redis, which counts the day's sends, does not answer)."""
    try:
        limit = routing.day_limit(session)
    except redis.RedisError:
        return ""
    if limit is None or not limit.reached:
        return ""
    return _("today's limit reached: %(sent)s/%(cap)s", sent=limit.sent, cap=limit.cap)
