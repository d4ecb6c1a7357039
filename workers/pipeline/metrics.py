"""The day's figures of the seed's metrics call: sent, delivered, read, delivery time, errors.

A day is a calendar day in the operator's ``TIMEZONE``. Each figure counts by the time of its
own step (a message sent on Monday and read on Tuesday is read on Tuesday); errors are the
messages created that day that ended ``failed``. ``activeSessions`` is the number of sessions
connected now.

The scheduler rolls today's and yesterday's figures up into ``metrics_daily`` (``rollup``), so
a past day still has its figures once retention has deleted its messages: past days are read
from there, today (and a past day never rolled up) from the messages.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import MetricsDaily, WhatsAppMessage, WhatsAppSession
from workers.queue.contracts import MessageStatus, SessionState


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of ``day`` in the operator's timezone, in UTC (SQLite
    compares stored UTC times as text, so bounds must be UTC too)."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def today() -> date:
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).date()


def seconds_between(earlier: Any, later: Any) -> Any:
    """SQL for ``later - earlier`` in seconds, on PostgreSQL and SQLite alike."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.date_part("epoch", later - earlier)  # a float: cheaper than numeric
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def changed_since(moment: datetime) -> Any:
    """SQL: the message was created, sent, delivered or read at ``moment`` or later.

    Implied by any condition that a step's time is at or after ``moment``, so adding it
    changes no answer; on PostgreSQL it lets the index of each message's latest step
    (migration 0017) find the few rows a recent window holds. SQLite has no such index.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return sa.true()
    M = WhatsAppMessage
    return sa.func.greatest(M.created_at, M.sent_at, M.delivered_at, M.read_at) >= moment


def daily(day: date) -> dict[str, Any]:
    """The seed's metrics of ``day``: {date, messagesSent, messagesDelivered, messagesRead,
    averageDeliveryTime (seconds, from sent to delivered), errors, activeSessions}."""
    rolled = db.session.get(MetricsDaily, day) if day < today() else None
    figures = _figures(day) if rolled is None else rolled
    active = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(WhatsAppSession)
        .where(WhatsAppSession.status == SessionState.CONNECTED)
    )
    average = figures.average_delivery_s
    return {
        "date": day.isoformat(),
        "messagesSent": figures.sent,
        "messagesDelivered": figures.delivered,
        "messagesRead": figures.read,
        "averageDeliveryTime": round(float(average), 3) if average is not None else 0,
        "errors": figures.errors,
        "activeSessions": int(active or 0),
    }


def rollup(days: int = 2) -> list[date]:
    """Store the figures of today and the ``days - 1`` days before it; return those days.

    Run every few minutes: a day is rolled up again until the day after it ends, so late
    receipts of its messages are counted. A stored day whose counts would shrink is kept as it
    is: retention has begun deleting its messages, and the stored figures are the whole day.
    """
    rolled = [today() - timedelta(days=n) for n in range(days)]
    for day in rolled:
        figures = _figures(day)
        row = db.session.get(MetricsDaily, day)
        if row is not None and _shrinks(row, figures):
            continue
        row = row or MetricsDaily(day=day)
        row.sent, row.delivered, row.read = figures.sent, figures.delivered, figures.read
        row.errors, row.average_delivery_s = figures.errors, figures.average_delivery_s
        row.rolled_up_at = datetime.now(UTC)
        db.session.add(row)
    db.session.commit()
    return rolled


def _shrinks(stored: MetricsDaily, counted: MetricsDaily) -> bool:
    """Whether any count is smaller than the stored one: while a day's messages exist its
    counts only grow, so a smaller one means some of its messages are gone."""
    names = ("sent", "delivered", "read", "errors")
    return any(getattr(counted, name) < getattr(stored, name) for name in names)


def _figures(day: date) -> MetricsDaily:
    """``day``'s figures counted from the messages (not stored)."""
    start, end = day_bounds(day)
    M = WhatsAppMessage

    def within(column: Any) -> Any:
        return sa.and_(column >= start, column < end)

    def count_if(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    delivered_in_day = sa.and_(within(M.delivered_at), M.sent_at.is_not(None))
    sent, delivered, read, average, errors = db.session.execute(
        sa.select(
            count_if(within(M.sent_at)),
            count_if(within(M.delivered_at)),
            count_if(within(M.read_at)),
            sa.func.avg(sa.case((delivered_in_day, seconds_between(M.sent_at, M.delivered_at)))),
            count_if(sa.and_(within(M.created_at), M.status == MessageStatus.FAILED)),
        ).where(
            changed_since(start),
            sa.or_(
                within(M.sent_at), within(M.delivered_at), within(M.read_at), within(M.created_at)
            ),
        )
    ).one()
    return MetricsDaily(
        day=day,
        sent=int(sent or 0),
        delivered=int(delivered or 0),
        read=int(read or 0),
        errors=int(errors or 0),
        average_delivery_s=float(average) if average is not None else None,
    )
