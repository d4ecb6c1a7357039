"""Warm-up of a newly linked number: few sends a day at first, more each day after.

WhatsApp bans numbers that start sending in bulk as soon as they are linked. From a session's
``warmup_started_at`` the setting ``warmup_schedule`` allows it so many sends on day 1, so many
on day 2, ... (days in the operator's ``TIMEZONE``); after the last day no warm-up limit applies.
Routing takes the smaller of this allowance and the session's own daily cap.

A session warms up only when the operator chose it when adding the number (``warmup_on_link``:
a new number, not one long in use on a phone): it starts when the session links a number for
the first time and has never sent. The operator may end the warm-up early or start it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from webapp import settings
from webapp.extensions import db
from webapp.models import WhatsAppSession, as_utc, utcnow
from workers.pipeline.sessions import get_session


@dataclass(frozen=True)
class Allowance:
    day: int  # 1 on the day the warm-up started
    sends: int  # sends allowed on that day


def allowance(started_at: datetime | None, now: datetime | None = None) -> Allowance | None:
    """Which day of its warm-up a session is on at ``now`` and how many sends that day allows;
    None when it is not warming up (never started, ended, or past the schedule)."""
    if started_at is None:
        return None
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = (now or datetime.now(zone)).astimezone(zone).date()
    day = max((today - as_utc(started_at).astimezone(zone).date()).days + 1, 1)
    schedule = settings.get("warmup_schedule") or []
    if day > len(schedule):
        return None
    return Allowance(day, schedule[day - 1])


def start_if_new(session: WhatsAppSession, at: datetime) -> None:
    """A number was linked to ``session`` at ``at``: a session added with warm-up chosen that
    never sent starts warming up then (once: a session already warming up keeps its day, and
    one whose warm-up the operator ended stays ended). Any other number is not throttled."""
    fresh = not session.message_count and session.warmup_ended_at is None
    if session.warmup_on_link and session.warmup_started_at is None and fresh:
        session.warmup_started_at = at


def set_warming_up(session_id: str, warming_up: bool) -> WhatsAppSession:
    """Start the session's warm-up now (unless it is warming up already), or end it."""
    session = get_session(session_id)
    if not warming_up:
        session.warmup_started_at = None
        session.warmup_ended_at = utcnow()
    elif allowance(session.warmup_started_at) is None:
        session.warmup_started_at = utcnow()
        session.warmup_ended_at = None
    db.session.commit()
    return session
