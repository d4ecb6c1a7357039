"""Routing: which of the linked numbers may send a message, in which order.

Policies:
- ``failover`` (the seed's): the primary first, the others by priority; a busy primary is
  waited for, another number is used only when the primary cannot send.
- ``spread``: every healthy number, the one whose next free slot comes soonest first, so a bulk
  send runs at the sum of the numbers' rates.

Skipped: sessions that are not connected, in error back-off, or at their daily cap, which is
lowered to the day's allowance while a newly linked number warms up (see ``warmup``). A message
that pins a session is only ever sent by that session.

Bulk messages leave the last ``bulk_reserve_percent`` of each capped number's day to
transactional ones (urgent and normal: single sends, billing events, MPWA), so an invoice
notice still goes out on a day a bulk send used the rest. When no number may send, ``hold``
says why as a code the message row keeps (``HOLDS``) and the earliest time it may go.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from webapp import settings
from webapp.core import backoff
from webapp.extensions import db
from webapp.models import WhatsAppSession
from webapp.redis_client import get_redis
from workers.pipeline import warmup
from workers.pipeline.pacer import Pacer
from workers.queue import keys
from workers.queue.contracts import Band, SessionState

POLICIES = ("failover", "spread")
# Why a queued message may not go out now (``whatsapp_messages.held_reason``): a number's daily
# cap or warm-up allowance is spent, its template waits out quiet hours, or no number can send
# (none connected, all resting after errors). Only the last counts towards WAIT_FOR_NUMBER_S.
DAILY_CAP, WARMUP, QUIET_HOURS, NO_NUMBER = "daily_cap", "warmup", "quiet_hours", "no_number"
HOLDS = (DAILY_CAP, WARMUP, QUIET_HOURS, NO_NUMBER)
LIMITS = (DAILY_CAP, WARMUP)


@dataclass(frozen=True)
class Route:
    session_id: str
    interval_ms: int
    jitter_ms: int
    left_today: int | None = None  # sends left under its daily cap (None: no cap)
    cap: int | None = None  # what messages of the band may send today (None: no cap)


def default_policy(band: str) -> str:
    return settings.get("routing_bulk" if band == Band.BULK else "routing_default")


def _today() -> str:
    return datetime.now(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y%m%d")


def next_day(now: datetime | None = None) -> datetime:
    """00:00 of tomorrow in the operator's ``TIMEZONE`` (when daily caps and warm-up allowances
    start again), as an aware UTC time."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    tomorrow = (now or datetime.now(UTC)).astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, datetime.min.time(), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class _Connected:
    session_id: str
    priority: int
    interval_ms: int
    jitter_ms: int
    daily_cap: int | None
    warmup_started_at: datetime | None


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
        db.select(
            S.session_id, S.priority, S.interval_ms, S.jitter_ms, S.daily_cap, S.warmup_started_at
        )
        .where(S.status == SessionState.CONNECTED)
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


def routes(
    policy: str, pinned_session_id: str | None = None, band: str | None = None
) -> list[Route]:
    """The sessions that may send a message of ``band`` now, best first."""
    sessions = connected_sessions()
    if pinned_session_id:
        sessions = [s for s in sessions if s.session_id == pinned_session_id]
    if not sessions:
        return []
    redis = get_redis()
    usable, left, caps = [], {}, {}
    for session, (resting_ms, sent) in zip(sessions, _limits(sessions), strict=True):
        cap = band_cap(effective_cap(session.daily_cap, session.warmup_started_at), band)
        caps[session.session_id] = cap
        left[session.session_id] = None if cap is None else max(cap - sent, 0)
        if resting_ms <= 0 and (cap is None or left[session.session_id] > 0):
            usable.append(session)
    if policy == "spread" and len(usable) > 1:
        load = Pacer(redis).load([s.session_id for s in usable])

        def soonest(session: _Connected) -> tuple[int, int]:
            wait, waiting = load[session.session_id]
            return wait + waiting * session.interval_ms, session.priority

        usable.sort(key=soonest)
    return [
        Route(s.session_id, s.interval_ms, s.jitter_ms, left[s.session_id], caps[s.session_id])
        for s in usable
    ]


def _limits(sessions: list[_Connected]) -> list[tuple[int, int]]:
    """For each session, in one round trip: (ms its error back-off has left, 0 or less when it
    rests not, sends today)."""
    pipe = get_redis().pipeline()
    today = _today()
    for session in sessions:
        pipe.pttl(keys.error_backoff(session.session_id))
        pipe.get(keys.daily_count(session.session_id, today))
    flags = pipe.execute()
    return [(int(flags[2 * i]), int(flags[2 * i + 1] or 0)) for i in range(len(sessions))]


def effective_cap(own_cap: int | None, warmup_started_at: datetime | None) -> int | None:
    """What a session may send today: its own cap, lowered to the day's warm-up allowance."""
    today = warmup.allowance(warmup_started_at)
    caps = [cap for cap in (own_cap, today.sends if today else None) if cap is not None]
    return min(caps, default=None)


def band_cap(cap: int | None, band: str | None) -> int | None:
    """What messages of ``band`` may use of a day's ``cap``: bulk leaves the reserve (the
    ``bulk_reserve_percent`` setting, rounded up) to transactional messages, but never the
    whole day: a bulk on a number of a small cap (1, or 5 at 90 %) would wait for ever."""
    if cap is None or band != Band.BULK:
        return cap
    return max(cap - math.ceil(cap * settings.get("bulk_reserve_percent") / 100), min(cap, 1))


def limit_cause(own_cap: int | None, warmup_started_at: datetime | None) -> str:
    """Which limit sets a session's day: its warm-up allowance when that is the lower one."""
    today = warmup.allowance(warmup_started_at)
    if today is not None and (own_cap is None or today.sends <= own_cap):
        return WARMUP
    return DAILY_CAP


@dataclass(frozen=True)
class DayLimit:
    """A number's limit today: what it may send (its cap, lowered by a warm-up), what it sent,
    and which of the two limits it (``DAILY_CAP`` or ``WARMUP``)."""

    cap: int
    sent: int
    cause: str

    @property
    def reached(self) -> bool:
        return self.sent >= self.cap


def day_limit(session: WhatsAppSession) -> DayLimit | None:
    """The session's limit today; None when it has none (no cap, not warming up)."""
    cap = effective_cap(session.daily_cap, session.warmup_started_at)
    if cap is None:
        return None
    cause = limit_cause(session.daily_cap, session.warmup_started_at)
    return DayLimit(cap, sent_today(session.session_id), cause)


def left_today(band: str | None = None) -> list[tuple[int | None, str]]:
    """For every connected number: (sends left today to messages of ``band``, None without a
    cap; which limit sets its day)."""
    sessions = connected_sessions()
    if not sessions:
        return []
    left = []
    for session, (_, sent) in zip(sessions, _limits(sessions), strict=True):
        cap = band_cap(effective_cap(session.daily_cap, session.warmup_started_at), band)
        cause = limit_cause(session.daily_cap, session.warmup_started_at)
        left.append((None if cap is None else max(cap - sent, 0), cause))
    return left


def sent_today(session_id: str) -> int:
    return int(get_redis().get(keys.daily_count(session_id, _today())) or 0)


def warmup_today(session: WhatsAppSession) -> dict[str, Any] | None:
    """The session's warm-up as the API and the admin page show it, ``{day, allowance,
    sentToday}``; None when it is not warming up."""
    today = warmup.allowance(session.warmup_started_at)
    if today is None:
        return None
    return {"day": today.day, "allowance": today.sends, "sentToday": sent_today(session.session_id)}


def record_success(session_id: str, sent: int = 1) -> None:
    """Count ``sent`` sends against the daily cap (0 when ``take_sends`` counted them) and end
    any error back-off."""
    record_successes({session_id: sent})


def record_successes(sent: dict[str, int]) -> None:
    """``record_success`` for several sessions, in one round trip."""
    pipe = get_redis().pipeline()
    today = _today()
    for session_id, count in sent.items():
        daily = keys.daily_count(session_id, today)
        pipe.incrby(daily, count)
        pipe.expire(daily, 3 * 86400)
        pipe.delete(keys.error_streak(session_id))
    pipe.execute()


# Take up to ARGV[2] of today's sends under the cap ARGV[1] at once, so threads and processes
# sending through one number at the same moment never take it past its cap together.
_TAKE_SENDS = """
local count = tonumber(redis.call('get', KEYS[1]) or '0')
local allowed = math.max(math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - count), 0)
if allowed > 0 then
  redis.call('incrby', KEYS[1], allowed)
  redis.call('expire', KEYS[1], 3 * 86400)
end
return allowed
"""
_UNTAKE_SENDS = """
local count = tonumber(redis.call('get', KEYS[1]) or '0')
local back = math.min(tonumber(ARGV[1]), count)
if back > 0 then redis.call('decrby', KEYS[1], back) end
return back
"""


_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _script(source: str):
    """``source`` registered once per Redis client (not once per call: a send takes several)."""
    client = get_redis()
    registered = _scripts.setdefault(client, {})
    if source not in registered:
        registered[source] = client.register_script(source)
    return registered[source]


def take_sends(session_id: str, cap: int, wanted: int) -> int:
    """Count up to ``wanted`` sends of the session today against ``cap``, before they go;
    return how many it may send (0 when the cap is spent)."""
    script = _script(_TAKE_SENDS)
    return int(script(keys=[keys.daily_count(session_id, _today())], args=[cap, wanted]))


def untake_sends(session_id: str, count: int) -> None:
    """Give back ``count`` sends taken by ``take_sends`` that surely did not go out."""
    if count > 0:
        script = _script(_UNTAKE_SENDS)
        script(keys=[keys.daily_count(session_id, _today())], args=[count])


# One failure per back-off: threads that fail on the same outage at once (a dead session host,
# a dropped number) rest the number once, instead of doubling its rest once per thread. The
# rests come from webapp.core.backoff, one per streak length (ARGV), the last one for any longer.
_RECORD_FAILURE = """
local left = redis.call('pttl', KEYS[1])
if left > 0 then return left end
local streak = redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], 3600)
local backoff = tonumber(ARGV[math.min(streak, #ARGV)])
redis.call('set', KEYS[1], streak, 'px', backoff)
return backoff
"""


def record_failure(session_id: str) -> int:
    """Put the session in back-off, doubling with each consecutive failure; return the ms.

    A failure while the session already rests is part of the same outage: it changes nothing
    and returns the rest that is left."""
    base, cap = settings.get("error_backoff_base_ms"), settings.get("error_backoff_cap_ms")
    script = _script(_RECORD_FAILURE)
    keys_ = [keys.error_backoff(session_id), keys.error_streak(session_id)]
    return int(script(keys=keys_, args=backoff.schedule(base, cap)))


@dataclass(frozen=True)
class Hold:
    """Why no number may send a message now: ``code`` (one of HOLDS), the English detail, in
    how many ms to look again, and the earliest time it may go (None: unknown)."""

    code: str
    reason: str
    wait_ms: int
    until: datetime | None = None
    capped: bool = False  # a number at its limit sends it once its day turns

    @property
    def limited(self) -> bool:
        """Only limits stop it (daily caps, warm-up), or a number at its limit will send it
        however long the others rest: it waits however long that takes."""
        return self.code in LIMITS or self.capped


def hold(policy: str, pinned_session_id: str | None = None, band: str | None = None) -> Hold:
    """Why no number can send a message of ``band`` now (see ``Hold``)."""
    sessions = connected_sessions()
    if pinned_session_id:
        sessions = [s for s in sessions if s.session_id == pinned_session_id]
        if not sessions:
            return Hold(NO_NUMBER, f"{pinned_session_id} is not connected", 2_000)
    if not sessions:
        return Hold(NO_NUMBER, "no number is connected", 2_000)
    reasons, resting, causes, unreachable = [], [], set(), False
    for session, (resting_ms, sent) in zip(sessions, _limits(sessions), strict=True):
        day_cap = effective_cap(session.daily_cap, session.warmup_started_at)
        cap = band_cap(day_cap, band)
        if resting_ms > 0:
            reasons.append(f"{session.session_id} rests after send errors")
            resting.append(resting_ms)
        elif cap is not None and sent >= cap:
            causes.add(limit_cause(session.daily_cap, session.warmup_started_at))
            share = f" (bulk sends may use {cap} of it)" if cap != day_cap else ""
            reasons.append(f"{session.session_id} reached today's limit of {day_cap}{share}")
        else:
            reasons.append(f"{session.session_id} cannot be reached now")
            unreachable = True
    reason = "; ".join(reasons)
    if resting or unreachable:
        wait_ms = min(resting) if resting and not unreachable else 2_000
        # Resting numbers alone: the first one's back-off end; an unreachable one: unknown.
        until = None if unreachable else datetime.now(UTC) + timedelta(milliseconds=wait_ms)
        return Hold(NO_NUMBER, reason, wait_ms, until, capped=bool(causes))
    until = next_day()
    left_ms = (until - datetime.now(UTC)).total_seconds() * 1000
    poll_ms = current_app.config["HOLD_POLL_S"] * 1000
    code = WARMUP if causes == {WARMUP} else DAILY_CAP
    return Hold(code, reason, int(max(min(poll_ms, left_ms), 500)), until)
