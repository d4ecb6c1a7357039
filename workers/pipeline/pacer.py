"""Per-number send slots, shared by every worker process and thread through Redis.

Each session has a queue of waiting tickets ordered by urgency, and the time its next slot opens.
A slot goes only to the head of the queue, and only once the previous slot's interval (plus a
random jitter) has passed, so a number never sends faster than its interval and the most urgent
waiter always goes next. Everything is decided in one Lua script on Redis' own clock, so threads
on different machines agree.

A waiting thread heartbeats its ticket on every poll; the ticket of a thread that died is dropped
once it goes stale, so it cannot block the queue. A thread that would wait longer than its
``max_park_ms`` withdraws and gives its message back to the queue (``GiveBack``), so threads are
never parked far ahead while more urgent work waits for them.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import redis

from workers.queue import keys
from workers.queue.contracts import Band

STALE_MS = 2_000
POLL_MS = 100

# A lower score goes first: band, then the message's own priority (1 highest .. 10), then age.
BAND_RANK = {Band.URGENT: 0, Band.NORMAL: 1, Band.BULK: 2}

_ACQUIRE = """
local queue, beats, nextkey = KEYS[1], KEYS[2], KEYS[3]
local ticket, score, interval, jitter, stale, slots = ARGV[1], ARGV[2], tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zadd', queue, 'NX', score, ticket)
redis.call('hset', beats, ticket, now)
while true do
  local head = redis.call('zrange', queue, 0, 0)[1]
  if not head or head == ticket then break end
  local beat = tonumber(redis.call('hget', beats, head) or '0')
  if now - beat <= stale then break end
  redis.call('zrem', queue, head)
  redis.call('hdel', beats, head)
end
local nextfree = tonumber(redis.call('get', nextkey) or '0')
local rank = redis.call('zrank', queue, ticket)
if rank == 0 and now >= nextfree then
  redis.call('zrem', queue, ticket)
  redis.call('hdel', beats, ticket)
  local span = interval * slots + jitter
  redis.call('set', nextkey, now + span, 'PX', span + 86400000)
  return {1, now, 0}
end
return {0, math.max(nextfree - now, 0), rank}
"""


@dataclass(frozen=True)
class Slot:
    session_id: str
    granted_at_ms: int
    waited_ms: float


class GiveBack(Exception):
    """The slot is too far away: put the message back on the queue for ``delay_ms``."""

    def __init__(self, session_id: str, delay_ms: int) -> None:
        super().__init__(f"next slot of {session_id} is {delay_ms} ms away")
        self.session_id = session_id
        self.delay_ms = delay_ms


def ticket_score(band: str, priority: int, enqueued_ms: int) -> int:
    """Order of waiters: band first, then priority 1..10, then first come first served."""
    return (BAND_RANK.get(band, 1) * 100 + max(1, min(priority, 99))) * 10**13 + enqueued_ms


class Pacer:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(
        self,
        session_id: str,
        ticket: str,
        score: int,
        interval_ms: int,
        jitter_ms: int = 0,
        max_park_ms: int = 30_000,
        stop: threading.Event | None = None,
        slots: int = 1,
    ) -> Slot:
        """Block until this ticket holds the next ``slots`` slots of ``session_id``.

        Several slots at once are for a batch that the session host then sends at least
        ``interval_ms`` apart (its gap guard); the next ticket waits for all of them.

        Raises GiveBack when the estimated wait exceeds ``max_park_ms``.
        """
        started = time.monotonic()
        waiter = stop or threading.Event()
        ticket_keys = keys.pace_queue(session_id), keys.pace_beats(session_id)
        all_keys = [*ticket_keys, keys.pace_next(session_id)]
        try:
            while True:
                jitter = random.randint(0, jitter_ms) if jitter_ms > 0 else 0
                granted, value, rank = self._acquire(
                    keys=all_keys, args=[ticket, score, interval_ms, jitter, STALE_MS, slots]
                )
                if granted:
                    waited = (time.monotonic() - started) * 1000
                    return Slot(session_id, int(value), waited)
                estimate = int(value) + int(rank) * interval_ms
                if estimate > max_park_ms:
                    self.withdraw(session_id, ticket)
                    raise GiveBack(session_id, estimate)
                pause = value if rank == 0 and value > 0 else POLL_MS
                pause = max(1, min(int(pause), POLL_MS if rank else interval_ms))
                if waiter.wait(pause / 1000):  # the worker is shutting down
                    self.withdraw(session_id, ticket)
                    raise GiveBack(session_id, 0)
        except redis.RedisError:
            self.withdraw(session_id, ticket, quiet=True)
            raise

    def withdraw(self, session_id: str, ticket: str, quiet: bool = False) -> None:
        try:
            pipe = self.redis.pipeline()
            pipe.zrem(keys.pace_queue(session_id), ticket)
            pipe.hdel(keys.pace_beats(session_id), ticket)
            pipe.execute()
        except redis.RedisError:
            if not quiet:
                raise

    def load(self, session_ids: list[str]) -> dict[str, tuple[int, int]]:
        """For each session: (ms until its next slot opens, tickets and ready-queue messages
        waiting)."""
        if not session_ids:
            return {}
        pipe = self.redis.pipeline()
        pipe.time()
        for sid in session_ids:
            pipe.get(keys.pace_next(sid))
            pipe.zcard(keys.pace_queue(sid))
            pipe.zcard(keys.ready_queue(sid))
        results = pipe.execute()
        seconds, micros = results[0]
        now = seconds * 1000 + micros // 1000
        out = {}
        for i, sid in enumerate(session_ids):
            nextfree, waiting, queued = results[1 + 3 * i : 4 + 3 * i]
            out[sid] = (max(int(nextfree or 0) - now, 0), int(waiting) + int(queued))
        return out
