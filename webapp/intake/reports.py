"""What the admin pages show: today's figures, charts' data, the message log, the queues.

Days and hours are the operator's (KABAR_TIMEZONE, Asia/Jakarta by default); times are stored
in UTC.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppMessage, WhatsAppSession, WhatsAppTemplate
from webapp.redis_client import get_redis
from workers.pipeline.metrics import changed_since, seconds_between
from workers.pipeline.pacer import Pacer
from workers.queue import broker
from workers.queue.contracts import BANDS, WENT_OUT, MessageStatus, SessionState

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


@dataclass(frozen=True)
class DayOverview:
    figures: DayFigures
    hourly: dict[str, list[int]]  # messages created per hour by status: sent, delivered, ...
    share: list[tuple[str, int]]  # messages sent per session, most first


def overview(day: date) -> DayOverview:
    """The dashboard of ``day`` (messages created that day), from one pass over its rows:
    a day holds some 130,000 of them, which must not travel to Python one by one."""
    start, end = day_bounds(day)
    delay = sa.case(
        (sa.and_(M.sent_at.is_not(None), M.delivered_at.is_not(None)),
         seconds_between(M.sent_at, M.delivered_at)),
    )  # fmt: skip
    (hour, local_hour), went = _local_hour(start), M.sent_at.is_not(None)
    groups = db.session.execute(
        sa.select(hour, M.status, M.session_id, went, sa.func.count(), sa.func.sum(delay),
                  sa.func.count(delay))
        .where(M.created_at >= start, M.created_at < end)
        .group_by(hour, M.status, M.session_id, went)
    ).all()  # fmt: skip
    counts: Counter[str] = Counter()
    series = {k: [0] * 24 for k in (*WENT_OUT, MessageStatus.FAILED)}
    shares: Counter[str] = Counter()
    delay_sum, delays = 0.0, 0
    for index, status, session_id, sent, n, total_delay, timed in groups:
        counts[status] += n
        if status in series:
            series[status][local_hour(index)] += n
        if sent:
            shares[session_id or "—"] += n
        delay_sum, delays = delay_sum + float(total_delay or 0), delays + timed
    active = db.session.scalar(
        sa.select(sa.func.count()).where(WhatsAppSession.status == SessionState.CONNECTED)
    )
    figures = DayFigures(
        # Everything that went out that day, whatever receipt came back since.
        sent=sum(counts[s] for s in WENT_OUT),
        delivered=counts[MessageStatus.DELIVERED] + counts[MessageStatus.READ],
        read=counts[MessageStatus.READ],
        failed=counts[MessageStatus.FAILED],
        queued=counts[MessageStatus.QUEUED],
        average_delivery_s=delay_sum / delays if delays else None,
        active_sessions=active or 0,
    )
    return DayOverview(figures, series, shares.most_common())


def _local_hour(start: datetime) -> tuple[Any, Callable[[Any], int]]:
    """SQL that groups the rows of the day beginning at ``start`` by the operator's hour, and
    what turns a group's value into that hour (0-23)."""
    if db.session.get_bind().dialect.name == "postgresql":
        zone_name = current_app.config["TIMEZONE"]
        return sa.func.date_part("hour", sa.func.timezone(zone_name, M.created_at)), int
    # SQLite knows no time zones: whole hours since the day's start, each one's local hour
    # (the same number, except on a day whose clocks change).
    # Whole seconds, in integers: a day's fraction in floating point puts a message created on
    # the hour into the hour before.
    seconds = sa.cast(sa.func.strftime("%s", M.created_at), sa.Integer) - int(start.timestamp())
    hours = seconds // 3600
    return hours, lambda index: (start + timedelta(hours=int(index))).astimezone(zone()).hour


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    session_id: str | None = None
    number: str | None = None
    template_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    bulk_id: int | None = None


# A filter matching more messages than this is counted by the planner's estimate ("about"):
# an exact count would read every one of them.
COUNT_EXACTLY = 10_000


@dataclass(frozen=True)
class MessagePage:
    rows: list[WhatsAppMessage]
    total: int
    exact: bool  # False: ``total`` is the planner's estimate
    page: int
    pages: int
    has_next: bool


def search_messages(
    f: MessageFilter, page: int = 1, before: int | None = None, after: int | None = None
) -> MessagePage:
    """One page of the message log, newest first, and how many messages match.

    ``before`` (the last id of the page above) and ``after`` (the first id of the page below)
    find a page by its neighbour's id through the primary key, however deep it is; without
    them ``page`` is counted from the newest (the links of older versions).
    """
    query = _matching(f)
    total, exact = count_matching(query)
    pages = max(-(-total // PAGE_SIZE), 1)
    # A set counted exactly is small: read through its filter's index and sorted, where the
    # planner, taking matches for evenly spread, might walk the primary key for them.
    key = M.id + 0 if exact else M.id
    ids: list[int] | None = None
    if after is not None:
        newer = list(db.session.scalars(
            query.with_only_columns(M.id).where(M.id > after).order_by(key.asc())
            .limit(PAGE_SIZE + 1)
        ))  # fmt: skip
        if len(newer) > PAGE_SIZE:
            # Not yet the top: a page number above 1, so its link up to the newer ones shows.
            ids, has_next, page = newer[:PAGE_SIZE], True, max(page, 2)
        else:
            page = 1  # nothing newer than a page: the first page, with what came meanwhile
    elif before is not None:
        ids = list(db.session.scalars(
            query.with_only_columns(M.id).where(M.id < before).order_by(key.desc())
            .limit(PAGE_SIZE + 1)
        ))  # fmt: skip
        has_next = len(ids) > PAGE_SIZE
        ids = ids[:PAGE_SIZE]
    if ids is None:
        page = min(page, pages)  # past the end (or the estimate's end): the last page
        ids = list(db.session.scalars(
            query.with_only_columns(M.id).order_by(key.desc())
            .limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
        ))  # fmt: skip
        has_next = len(ids) > PAGE_SIZE
        ids = ids[:PAGE_SIZE]
    # Ids first, then their rows: an offset skips index entries, not whole rows.
    found = {m.id: m for m in db.session.scalars(sa.select(M).where(M.id.in_(ids)))} if ids else {}
    rows = sorted(found.values(), key=lambda m: -m.id)
    return MessagePage(rows, total, exact, page, max(pages, page), has_next)


def _matching(f: MessageFilter) -> sa.Select:
    query = sa.select(M)
    if f.status:
        query = query.where(M.status == f.status)
    if f.session_id:
        query = query.where(M.session_id == f.session_id)
    if f.number:
        query = query.where(number_matches(f.number))
    if f.template_id:
        query = query.where(M.template_id == f.template_id)
    if f.day_from:
        query = query.where(M.created_at >= day_bounds(f.day_from)[0])
    if f.day_to:
        created = sa.and_(
            M.created_at >= day_bounds(f.day_from)[0] if f.day_from else sa.true(),
            M.created_at < day_bounds(f.day_to)[1],
        )
        # Days that end in the past: their ids, read from the index on (created_at, id), let
        # the log walk the primary key from the days' newest message, not from the newest of
        # all (``id + 0``: min(id) alone the planner would look for along the primary key).
        low, high = db.session.execute(
            sa.select(sa.func.min(M.id + 0), sa.func.max(M.id + 0)).where(created)
        ).one()
        query = query.where(created, M.id.between(low or 0, high or 0))
    if f.bulk_id:
        query = query.where(M.bulk_job_id == f.bulk_id)
    return query


def number_matches(digits: str) -> Any:
    """SQL: the message's number ends with ``digits`` (a whole number ends with itself).

    Numbers share their first digits (62, then the operator's 8xx): what tells them apart is
    their end, which is what an operator reads out. On PostgreSQL the search is a prefix search
    of the reversed number, which its index (migration 0017) answers without reading the table.
    """
    digits = "".join(ch for ch in digits if ch.isdigit())
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.reverse(M.to_number).like(digits[::-1] + "%")
    return M.to_number.like("%" + digits)


def count_matching(query: sa.Select) -> tuple[int, bool]:
    """How many rows ``query`` matches, and whether exactly: counted up to
    ``COUNT_EXACTLY``, past that (on PostgreSQL) the planner's estimate."""
    if db.session.get_bind().dialect.name != "postgresql":
        return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())), True
    capped = query.with_only_columns(M.id).limit(COUNT_EXACTLY + 1).subquery()
    counted = db.session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0
    if counted <= COUNT_EXACTLY:
        return counted, True
    return max(_estimate(query), counted), False


def _estimate(query: sa.Select) -> int:
    """The planner's estimate of the rows ``query`` returns (from the table's statistics)."""
    compiled = query.compile(bind=db.session.get_bind())
    plan = (
        db.session.connection()
        .exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        .scalar_one()
    )
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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
    for band in BANDS:
        pipe.hlen(f"{ns}:{band}.msgs")
        pipe.hlen(f"{ns}:{band}.DQ.msgs")
        pipe.hlen(f"{ns}:{band}.XQ.msgs")
    values = pipe.execute()
    M = WhatsAppMessage
    queued = dict(
        db.session.execute(
            sa.select(M.band, sa.func.count())
            .where(M.status == MessageStatus.QUEUED)
            .group_by(M.band)
        ).all()
    )
    return [
        QueueState(band, *values[3 * i : 3 * i + 3], messages=queued.get(band, 0))
        for i, band in enumerate(BANDS)
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
            .where(changed_since(since), M.sent_at >= since)
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
            sa.select(M).where(M.status == MessageStatus.FAILED).order_by(M.id.desc()).limit(limit)
        )
    )
