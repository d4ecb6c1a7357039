"""What the admin pages show: today's figures, charts' data, the message log, the queues.

Days and hours are the operator's (Config TIMEZONE, Asia/Jakarta by default); times are stored
in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession, WhatsAppTemplate
from webapp.redis_client import get_redis
from workers import broker
from workers.pacer import Pacer

PAGE_SIZE = 50
M = WhatsAppMessage


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=zone()).astimezone(UTC)
    return start, start + timedelta(days=1)


def today() -> date:
    return datetime.now(zone()).date()


@dataclass(frozen=True)
class DayFigures:
    sent: int
    delivered: int
    read: int
    failed: int
    queued: int
    average_delivery_s: float | None
    active_sessions: int


def day_figures(day: date) -> DayFigures:
    start, end = day_bounds(day)
    counts = dict(
        db.session.execute(
            sa.select(M.status, sa.func.count())
            .where(M.created_at >= start, M.created_at < end)
            .group_by(M.status)
        ).all()
    )
    delivered_rows = db.session.execute(
        sa.select(M.sent_at, M.delivered_at).where(
            M.created_at >= start, M.created_at < end, M.delivered_at.is_not(None),
            M.sent_at.is_not(None),
        )
    ).all()
    delays = [(d - s).total_seconds() for s, d in delivered_rows]
    active = db.session.scalar(
        sa.select(sa.func.count()).where(WhatsAppSession.status == "connected")
    )
    return DayFigures(
        # Everything that went out today, whatever receipt came back since.
        sent=sum(counts.get(s, 0) for s in ("sent", "delivered", "read")),
        delivered=counts.get("delivered", 0) + counts.get("read", 0),
        read=counts.get("read", 0),
        failed=counts.get("failed", 0),
        queued=counts.get("queued", 0),
        average_delivery_s=sum(delays) / len(delays) if delays else None,
        active_sessions=active or 0,
    )


def hourly(day: date) -> dict[str, list[int]]:
    """Messages created per hour of ``day`` by status group: sent, delivered, read, failed."""
    start, end = day_bounds(day)
    series = {k: [0] * 24 for k in ("sent", "delivered", "read", "failed")}
    for created_at, status in db.session.execute(
        sa.select(M.created_at, M.status).where(M.created_at >= start, M.created_at < end)
    ):
        hour = created_at.replace(tzinfo=created_at.tzinfo or UTC).astimezone(zone()).hour
        if status in series:
            series[status][hour] += 1
    return series


def share_by_session(day: date) -> list[tuple[str, int]]:
    start, end = day_bounds(day)
    return [
        (sid or "—", n)
        for sid, n in db.session.execute(
            sa.select(M.session_id, sa.func.count())
            .where(M.created_at >= start, M.created_at < end, M.sent_at.is_not(None))
            .group_by(M.session_id)
            .order_by(sa.func.count().desc())
        )
    ]


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    session_id: str | None = None
    number: str | None = None
    template_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    bulk_id: int | None = None


def search_messages(f: MessageFilter, page: int) -> tuple[list[WhatsAppMessage], int]:
    """One page of the message log, newest first, and the number of matching messages."""
    query = sa.select(M)
    if f.status:
        query = query.where(M.status == f.status)
    if f.session_id:
        query = query.where(M.session_id == f.session_id)
    if f.number:
        query = query.where(M.to_number.contains(f.number))
    if f.template_id:
        query = query.where(M.template_id == f.template_id)
    if f.day_from:
        query = query.where(M.created_at >= day_bounds(f.day_from)[0])
    if f.day_to:
        query = query.where(M.created_at < day_bounds(f.day_to)[1])
    if f.bulk_id:
        query = query.where(M.bulk_job_id == f.bulk_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = min(page, max(-(-total // PAGE_SIZE), 1))  # past the end: the last page
    rows = db.session.scalars(
        query.order_by(M.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total


def template_names() -> dict[int, str]:
    return dict(db.session.execute(sa.select(WhatsAppTemplate.id, WhatsAppTemplate.name)).all())


@dataclass(frozen=True)
class QueueState:
    band: str
    waiting: int
    delayed: int
    dead: int
    messages: int = 0  # rows still queued: a bulk job sends a batch of them


def queues() -> list[QueueState]:
    """Jobs per band in Redis: waiting, delayed (retries, given back) and dead-lettered; and the
    messages of each band still queued in the database."""
    client = broker.broker.client
    ns = broker.broker.namespace
    pipe = client.pipeline()
    for band in broker.BANDS:
        pipe.hlen(f"{ns}:{band}.msgs")
        pipe.hlen(f"{ns}:{band}.DQ.msgs")
        pipe.hlen(f"{ns}:{band}.XQ.msgs")
    values = pipe.execute()
    M = WhatsAppMessage
    queued = dict(
        db.session.execute(
            sa.select(M.band, sa.func.count()).where(M.status == "queued").group_by(M.band)
        ).all()
    )
    return [
        QueueState(band, *values[3 * i : 3 * i + 3], messages=queued.get(band, 0))
        for i, band in enumerate(broker.BANDS)
    ]


@dataclass(frozen=True)
class SessionPace:
    session_id: str
    status: str
    next_free_ms: int
    waiting: int
    sent_last_5min: int


def session_pace() -> list[SessionPace]:
    sessions = db.session.scalars(sa.select(WhatsAppSession).order_by(WhatsAppSession.priority))
    sessions = list(sessions)
    load = Pacer(get_redis()).load([s.session_id for s in sessions])
    since = datetime.now(UTC) - timedelta(minutes=5)
    recent = dict(
        db.session.execute(
            sa.select(M.session_id, sa.func.count())
            .where(M.sent_at >= since)
            .group_by(M.session_id)
        ).all()
    )
    return [
        SessionPace(s.session_id, s.status, *load[s.session_id], recent.get(s.session_id, 0))
        for s in sessions
    ]


def failed_messages(limit: int = 50) -> list[WhatsAppMessage]:
    return list(
        db.session.scalars(
            sa.select(M).where(M.status == "failed").order_by(M.id.desc()).limit(limit)
        )
    )
