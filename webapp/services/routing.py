"""Routing: which of the linked numbers may send a message, in which order.

Policies:
- ``failover`` (the seed's): the primary first, the others by priority; a busy primary is
  waited for, another number is used only when the primary cannot send.
- ``spread``: every healthy number, the one whose next free slot comes soonest first, so a bulk
  send runs at the sum of the numbers' rates.

Skipped: sessions that are not connected, in error back-off, or at their daily cap. A message
that pins a session is only ever sent by that session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

from webapp.extensions import db
from webapp.models import WhatsAppSession
from webapp.redis_client import get_redis
from workers import keys
from workers.pacer import Pacer

POLICIES = ("failover", "spread")
ERROR_BACKOFF_BASE_MS = 2_000
ERROR_BACKOFF_CAP_MS = 60_000


@dataclass(frozen=True)
class Route:
    session_id: str
    interval_ms: int
    jitter_ms: int


def default_policy(band: str) -> str:
    return current_app.config["ROUTING_BULK" if band == "bulk" else "ROUTING_DEFAULT"]


def _today() -> str:
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y%m%d")


@dataclass(frozen=True)
class _Connected:
    session_id: str
    priority: int
    interval_ms: int
    jitter_ms: int
    daily_cap: int | None


# The connected sessions, read at most once per CACHE_S by each worker process: a send
# needs them every time, they change rarely, and a stale entry only costs a failed attempt
# that fails over at once.
CACHE_S = 1.0
_cache: tuple[float, list[_Connected]] = (0.0, [])
_cache_lock = threading.Lock()


def connected_sessions() -> list[_Connected]:
    global _cache
    with _cache_lock:
        read_at, sessions = _cache
        if time.monotonic() - read_at < CACHE_S:
            return sessions
    S = WhatsAppSession
    rows = db.session.execute(
        db.select(S.session_id, S.priority, S.interval_ms, S.jitter_ms, S.daily_cap)
        .where(S.status == "connected")
        .order_by(S.is_primary.desc(), S.priority, S.id)
    ).all()
    db.session.rollback()
    sessions = [_Connected(*row) for row in rows]
    if sessions:  # never cache "none": the first number to connect is used at once
        with _cache_lock:
            _cache = (time.monotonic(), sessions)
    return sessions


def forget_sessions() -> None:
    """Drop the cache (tests, and anything that just changed a session)."""
    global _cache
    with _cache_lock:
        _cache = (0.0, [])


def routes(policy: str, pinned_session_id: str | None = None) -> list[Route]:
    """The sessions that may send now, best first."""
    sessions = connected_sessions()
    if pinned_session_id:
        sessions = [s for s in sessions if s.session_id == pinned_session_id]
    if not sessions:
        return []
    redis = get_redis()
    today = _today()
    pipe = redis.pipeline()
    for session in sessions:
        pipe.exists(keys.error_backoff(session.session_id))
        pipe.get(keys.daily_count(session.session_id, today))
    flags = pipe.execute()
    usable = [
        session
        for i, session in enumerate(sessions)
        if not flags[2 * i]
        and (session.daily_cap is None or int(flags[2 * i + 1] or 0) < session.daily_cap)
    ]
    if policy == "spread" and len(usable) > 1:
        load = Pacer(redis).load([s.session_id for s in usable])

        def soonest(session: _Connected) -> tuple[int, int]:
            wait, waiting = load[session.session_id]
            return wait + waiting * session.interval_ms, session.priority

        usable.sort(key=soonest)
    return [Route(s.session_id, s.interval_ms, s.jitter_ms) for s in usable]


def record_success(session_id: str) -> None:
    """Count the send against the daily cap and end any error back-off."""
    pipe = get_redis().pipeline()
    daily = keys.daily_count(session_id, _today())
    pipe.incr(daily)
    pipe.expire(daily, 3 * 86400)
    pipe.delete(keys.error_streak(session_id))
    pipe.execute()


def record_failure(session_id: str) -> int:
    """Put the session in back-off, doubling with each consecutive failure; return the ms."""
    redis = get_redis()
    streak = redis.incr(keys.error_streak(session_id))
    redis.expire(keys.error_streak(session_id), 3600)
    backoff = min(ERROR_BACKOFF_BASE_MS * 2 ** (streak - 1), ERROR_BACKOFF_CAP_MS)
    redis.set(keys.error_backoff(session_id), streak, px=backoff)
    return backoff
