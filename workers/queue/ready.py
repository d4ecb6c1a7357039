"""Per-number ready queues: the paced messages a session host sends, one per slot of the number.

A worker that routed messages to a paced number puts them here instead of waiting for the
number's slots itself: a sorted set of message ids by ``pacer.ticket_score`` (most urgent
first), a hash of each message's signed wire form, and one map message id -> number shared by
all numbers (so pausing, cancelling or reconciling a message finds its queue). The session host
holding the number takes the head at each slot (``take``), on Redis' clock and through the same
``pace_next`` key as the pacer, so every host and worker agrees on when a number may send next.

Write access to Redis must not be enough to make a number send: every entry carries an HMAC
(``signing.READY_MESSAGE``) the host checks before it sends, and wake-ups are signed too.
"""

from __future__ import annotations

import json
import logging
import random
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from workers.queue import keys, signing

log = logging.getLogger(__name__)

# Take the head of a number's queue when its slot is open, keeping it in flight until its
# outcome is folded. KEYS: queue, entries, pace_next, where, flight. ARGV[1]: a random
# fraction for the jitter. Answers {1, entry, left, ms to the next slot} when an entry was
# taken (pace_next moved past its interval and jitter), {0, ms to wait} before the slot,
# {0, -1} for an empty queue, {2} for an id whose entry was removed meanwhile (take again).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nextfree = tonumber(redis.call('get', KEYS[3]) or '0')
if redis.call('zcard', KEYS[1]) == 0 then return {0, -1} end
if now < nextfree then return {0, nextfree - now} end
local head = redis.call('zpopmin', KEYS[1])
local id = head[1]
local entry = redis.call('hget', KEYS[2], id)
redis.call('hdel', KEYS[2], id)
if not entry then
  redis.call('hdel', KEYS[4], id)
  return {2}
end
redis.call('hset', KEYS[5], id, now .. '|' .. entry)
local ok, fields = pcall(cjson.decode, entry)
local gap, jitter = 0, 0
if ok and type(fields) == 'table' then
  gap, jitter = tonumber(fields.gap_ms) or 0, tonumber(fields.jitter_ms) or 0
end
local span = gap + math.floor(tonumber(ARGV[1]) * (jitter + 1))
if span > 0 then redis.call('set', KEYS[3], now + span, 'PX', span + 86400000) end
return {1, entry, redis.call('zcard', KEYS[1]), span}
"""

# Empty a number's queue at once (it cannot send): KEYS queue, entries, where; its entries.
_DRAIN = """
local entries = redis.call('hvals', KEYS[2])
for _, id in ipairs(redis.call('zrange', KEYS[1], 0, -1)) do redis.call('hdel', KEYS[3], id) end
redis.call('del', KEYS[1], KEYS[2])
return entries
"""

# Remove messages from whichever queue holds them: KEYS[1] where, ARGV the ids; how many were.
_REMOVE = """
local removed = 0
for _, id in ipairs(ARGV) do
  local sid = redis.call('hget', KEYS[1], id)
  if sid then
    redis.call('hdel', KEYS[1], id)
    removed = removed + redis.call('zrem', ARGV_PREFIX .. sid .. ':queue', id)
    redis.call('hdel', ARGV_PREFIX .. sid .. ':entries', id)
    redis.call('hdel', ARGV_PREFIX .. sid .. ':flight', id)
  end
end
return removed
"""

# Put back in their queue, by their score, the messages taken ARGV[1] ms ago or longer whose
# outcome was never folded (their host died mid-send, or Redis lost the event): KEYS queue,
# entries, flight; how many.
_RECOVER = """
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local flight = redis.call('hgetall', KEYS[3])
local back = 0
for i = 1, #flight, 2 do
  local bar = string.find(flight[i + 1], '|', 1, true)
  local taken = tonumber(string.sub(flight[i + 1], 1, bar - 1)) or 0
  if taken <= cutoff then
    local entry = string.sub(flight[i + 1], bar + 1)
    local ok, fields = pcall(cjson.decode, entry)
    local score = (ok and type(fields) == 'table' and tonumber(fields.score)) or 0
    redis.call('zadd', KEYS[1], score, flight[i])
    redis.call('hset', KEYS[2], flight[i], entry)
    redis.call('hdel', KEYS[3], flight[i])
    back = back + 1
  end
end
return back
"""

# Outcomes folded: KEYS[1] where; ARGV pairs of session id and message id.
_LANDED = """
for i = 1, #ARGV, 2 do
  redis.call('hdel', ARGV_PREFIX .. ARGV[i] .. ':flight', ARGV[i + 1])
  if redis.call('hget', KEYS[1], ARGV[i + 1]) == ARGV[i] then
    redis.call('hdel', KEYS[1], ARGV[i + 1])
  end
end
return 1
"""

# Reserve a place in the line of bulk work waiting for room in ready queues: KEYS[1] when the
# line ends (ms, Redis clock); ARGV[1] ms of the numbers' time the reserved messages take.
# Answers in how many ms the reservation comes up.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ends = math.max(tonumber(redis.call('get', KEYS[1]) or '0'), now) + tonumber(ARGV[1])
redis.call('set', KEYS[1], ends, 'PX', math.floor(ends - now) + 60000)
return math.floor(ends - now)
"""

_REMOVE, _LANDED = (
    script.replace("ARGV_PREFIX", f"'{keys.PREFIX}:ready:'") for script in (_REMOVE, _LANDED)
)
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _script(client: redis.Redis, name: str):
    """The script ``name``, registered once per Redis client."""
    registered = _scripts.setdefault(client, {})
    if name not in registered:
        registered[name] = client.register_script(
            {
                "take": _TAKE,
                "drain": _DRAIN,
                "remove": _REMOVE,
                "reserve": _RESERVE,
                "recover": _RECOVER,
                "landed": _LANDED,
            }[name]
        )
    return registered[name]


@dataclass(frozen=True)
class Entry:
    """One message waiting in a ready queue: its wire form (``message``: message_id, jid,
    text...), how the number paces it, and what the worker that queued it recorded (``capped``:
    taken from the number's daily cap; ``marked``: handed over first by that worker)."""

    message: dict[str, Any]
    gap_ms: int
    jitter_ms: int
    typing_ms: int
    capped: bool
    marked: bool
    score: int

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])

    def encode(self) -> str:
        body = json.dumps(
            {
                "message": self.message,
                "gap_ms": self.gap_ms,
                "jitter_ms": self.jitter_ms,
                "typing_ms": self.typing_ms,
                "capped": self.capped,
                "marked": self.marked,
                "score": self.score,
            },
            separators=(",", ":"),
        )
        # The signature rides inside, so the take script reads the pacing fields directly.
        return body[:-1] + f',"sig":"{signing.sign(signing.READY_MESSAGE, body)}"}}'


def decode(raw: bytes | str) -> Entry:
    """The entry, once its signature is checked (raises ``signing.BadSignature``)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    head, sep, tail = text.rpartition(',"sig":"')
    if not sep or not tail.endswith('"}'):
        raise signing.BadSignature("ready-queue entry without a signature")
    body = head + "}"
    signing.verify(signing.READY_MESSAGE, body, tail[:-2])
    fields = json.loads(body)
    return Entry(**fields)


def put(
    client: redis.Redis,
    by_session: dict[str, list[Entry]],
    still_queued: Callable[[list[int]], set[int]] | None = None,
) -> dict[str, list[int]]:
    """Add entries to their numbers' queues and wake the hosts holding them; returns, by
    number, the ids ``still_queued`` (the caller's look at its rows) found stopped, left out.

    The entries are written first and put in line only after that look, in a second round
    trip: a row paused between the two is taken out by its pause (``remove`` finds the entry
    through the map, and the host skips an id in line without one), one paused before the look
    is never put in line, so no host can take a stopped row meanwhile."""
    by_session = {sid: entries for sid, entries in by_session.items() if entries}
    if not by_session:
        return {}
    pipe = client.pipeline(transaction=False)
    for session_id, entries in by_session.items():
        pipe.hset(
            keys.ready_entries(session_id), mapping={str(e.message_id): e.encode() for e in entries}
        )
        pipe.hset(keys.READY_WHERE, mapping={str(e.message_id): session_id for e in entries})
    pipe.execute()
    ids = [e.message_id for entries in by_session.values() for e in entries]
    queued = set(ids) if still_queued is None else still_queued(ids)
    stopped: dict[str, list[int]] = {}
    pipe = client.pipeline(transaction=False)
    for session_id, entries in by_session.items():
        if going := {str(e.message_id): e.score for e in entries if e.message_id in queued}:
            pipe.zadd(keys.ready_queue(session_id), going)
        if out := [e.message_id for e in entries if e.message_id not in queued]:
            stopped[session_id] = out
            pipe.hdel(keys.ready_entries(session_id), *map(str, out))
            pipe.hdel(keys.READY_WHERE, *map(str, out))
    if sessions := [
        sid for sid in by_session if sid not in stopped or len(stopped[sid]) < len(by_session[sid])
    ]:
        pipe.publish(keys.READY_WAKE, wake_message(sessions))
    pipe.execute()
    return stopped


def wake_message(session_ids: list[str]) -> str:
    body = json.dumps(session_ids)
    return json.dumps({"s": body, "sig": signing.sign(signing.READY_WAKE, body)})


def woken(data: bytes | str) -> list[str]:
    """The numbers a wake-up names (raises ``signing.BadSignature`` for a forged one)."""
    fields = json.loads(data)
    signing.verify(signing.READY_WAKE, fields["s"], fields.get("sig"))
    return [str(sid) for sid in json.loads(fields["s"])]


@dataclass(frozen=True)
class Taken:
    """What ``take`` found: the entry taken (None: none), else in how many ms to look again
    (None: the queue is empty); ``left`` entries wait behind it, and the next slot opens in
    ``wait_ms`` after a take too."""

    entry: Entry | None = None
    wait_ms: int | None = None
    left: int = 0


def take(client: redis.Redis, session_id: str) -> Taken:
    """The head of the number's queue if its slot is open (the slot is then spent)."""
    ready_keys = [
        keys.ready_queue(session_id),
        keys.ready_entries(session_id),
        keys.pace_next(session_id),
        keys.READY_WHERE,
        keys.ready_flight(session_id),
    ]
    while True:
        answer = _script(client, "take")(keys=ready_keys, args=[repr(random.random())])
        if answer[0] == 2:
            continue
        if answer[0] == 0:
            wait = int(answer[1])
            return Taken(wait_ms=None if wait < 0 else wait)
        try:
            entry = decode(answer[1])
        except signing.BadSignature as exc:
            # Not Kabar's: dropped unsent (a row it named is queued again by the reconciler).
            log.warning("dropped a ready-queue entry of %s: %s", session_id, exc)
            continue
        return Taken(entry=entry, wait_ms=int(answer[3]), left=int(answer[2]))


def drain(client: redis.Redis, session_id: str) -> list[Entry]:
    """Empty the number's queue; the entries it held (those Kabar signed)."""
    raws = _script(client, "drain")(
        keys=[keys.ready_queue(session_id), keys.ready_entries(session_id), keys.READY_WHERE]
    )
    entries = []
    for raw in raws:
        try:
            entries.append(decode(raw))
        except signing.BadSignature as exc:
            log.warning("dropped a ready-queue entry of %s: %s", session_id, exc)
    return entries


def recover(client: redis.Redis, session_id: str, older_than_ms: int = 0) -> int:
    """Queue again what was taken from the number's queue ``older_than_ms`` ago or longer and
    never settled: its host died mid-send, or Redis lost the outcome's event (sent twice never:
    the sent records answer a message that did go out as a duplicate). How many."""
    return int(
        _script(client, "recover")(
            keys=[
                keys.ready_queue(session_id),
                keys.ready_entries(session_id),
                keys.ready_flight(session_id),
            ],
            args=[older_than_ms],
        )
    )


def landed(client: redis.Redis, sent: list[tuple[str, int]]) -> None:
    """These (number, message id) outcomes are folded: the messages are in flight no more."""
    if sent:
        args = [str(part) for pair in sent for part in pair]
        _script(client, "landed")(keys=[keys.READY_WHERE], args=args)


def remove(client: redis.Redis, message_ids: list[int], strict: bool = False) -> int:
    """Take these messages out of whichever ready queues hold them; how many were there.

    With Redis down: raises when ``strict`` (the caller has not saved its change yet and must
    not: see ``jobs.stop_sending``), else logged and 0."""
    if not message_ids:
        return 0
    try:
        return int(
            _script(client, "remove")(keys=[keys.READY_WHERE], args=[str(i) for i in message_ids])
        )
    except redis.RedisError as exc:
        if strict:
            raise
        log.warning("could not take %d message(s) out of ready queues: %s", len(message_ids), exc)
        return 0


def reserve(client: redis.Redis, line: str, work_ms: int) -> int:
    """Join the line of messages waiting for room (``line``: a band) with ``work_ms`` of
    sending; in how many ms the messages ahead of them will have been sent. Jobs given back
    by this come back about when room opens for them, not all at once."""
    return int(_script(client, "reserve")(keys=[keys.ready_line(line)], args=[int(work_ms)]))


def depths(client: redis.Redis, session_ids: list[str]) -> dict[str, int]:
    """How many messages wait in each number's queue."""
    pipe = client.pipeline(transaction=False)
    for session_id in session_ids:
        pipe.zcard(keys.ready_queue(session_id))
    return dict(zip(session_ids, (int(n) for n in pipe.execute()), strict=True))


def unheld(client: redis.Redis, session_ids: list[str]) -> set[str]:
    """The numbers among ``session_ids`` no session host holds (no lease)."""
    pipe = client.pipeline(transaction=False)
    for session_id in session_ids:
        pipe.exists(keys.lease(session_id))
    held = pipe.execute()
    return {sid for sid, found in zip(session_ids, held, strict=True) if not found}


def whereabouts(client: redis.Redis, message_ids: list[int]) -> dict[int, str]:
    """For each message waiting in a ready queue of a number some host holds, or in flight
    there: that number. A message listed under a number nobody holds, or in neither, is not
    there."""
    if not message_ids:
        return {}
    listed = client.hmget(keys.READY_WHERE, [str(i) for i in message_ids])
    candidates = [
        (mid, sid.decode()) for mid, sid in zip(message_ids, listed, strict=True) if sid is not None
    ]
    if not candidates:
        return {}
    pipe = client.pipeline(transaction=False)
    for mid, sid in candidates:
        pipe.zscore(keys.ready_queue(sid), str(mid))
        pipe.hexists(keys.ready_flight(sid), str(mid))
        pipe.exists(keys.lease(sid))
    answers = pipe.execute()
    return {
        mid: sid
        for i, (mid, sid) in enumerate(candidates)
        if (answers[3 * i] is not None or answers[3 * i + 1]) and answers[3 * i + 2]
    }
