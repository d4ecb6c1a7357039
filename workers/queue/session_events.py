"""The session-event stream: session hosts append, the ``fold_session_events`` actor reads.

Each entry is one JSON event ``{"session_id", "kind", "at", ...data}``. Readers use a consumer
group and acknowledge only after the event is in PostgreSQL, so an event survives a worker that
dies mid-fold; entries left unacknowledged are claimed again after ``RECLAIM_IDLE_MS``.

Every entry is signed (``workers.queue.signing``): an entry written to Redis by anyone but Kabar (a
forged receipt, incoming message or opt-out) is acknowledged and dropped, never folded. Parked
receipts and dead letters are signed again by the folder that sets them aside.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from workers.queue import broker, keys, signing
from workers.queue.contracts import Actor, Band

log = logging.getLogger(__name__)

STREAM_MAXLEN = 100_000
RECLAIM_IDLE_MS = 30_000
FOLD_FLAG_TTL_MS = 5_000
# After the database failed a folder, the next one looks this much later.
FOLD_RETRY_MS = 2_000


def publish(client: redis.Redis, event: dict[str, Any]) -> None:
    """Append ``event`` to the stream and wake a folder, unless one is awake already."""
    publish_many(client, [event])


def publish_many(client: redis.Redis, events: list[dict[str, Any]]) -> None:
    """Append ``events`` in order, in one round trip, and wake a folder unless one is awake."""
    pipe = client.pipeline(transaction=False)
    for event in events:
        pipe.xadd(keys.SESSION_EVENTS, _signed(event), maxlen=STREAM_MAXLEN, approximate=True)
    # The flag is cleared by the folder before it reads, so an event appended after the clear
    # sets it again and wakes another folder: none is left unread, and a burst of events costs
    # one folder, not one per event. The expiry heals a folder that died holding it.
    pipe.set(keys.FOLD_PENDING, 1, nx=True, px=FOLD_FLAG_TTL_MS)
    if pipe.execute()[-1]:
        broker.enqueue(Actor.FOLD_SESSION_EVENTS, Band.EVENTS)


def begin_fold(client: redis.Redis) -> None:
    """Called by a folder before it reads: later events must wake a new one."""
    client.delete(keys.FOLD_PENDING)


def ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read_batch(client: redis.Redis, consumer: str, count: int = 200) -> list[tuple[str, dict]]:
    """Up to ``count`` events not yet folded: stale ones first, then new ones, oldest first."""
    ensure_group(client)
    _, claimed, _ = client.xautoclaim(
        keys.SESSION_EVENTS,
        keys.SESSION_EVENTS_GROUP,
        consumer,
        min_idle_time=RECLAIM_IDLE_MS,
        count=count,
    )
    entries = list(claimed)
    if len(entries) < count:
        for _, batch in client.xreadgroup(
            keys.SESSION_EVENTS_GROUP,
            consumer,
            {keys.SESSION_EVENTS: ">"},
            count=count - len(entries),
        ):
            entries.extend(batch)
    events, forged, other_key = [], [], []
    for entry_id, fields in entries:
        if not fields:  # a trimmed entry comes back empty
            continue
        try:
            signing.verify(
                signing.SESSION_EVENT, fields[b"data"], fields.get(b"sig"), kid=fields.get(b"kid")
            )
        except signing.OtherKey:
            other_key.append(_text(entry_id))
            continue
        except (signing.BadSignature, KeyError):
            forged.append(_text(entry_id))
            continue
        events.append((_text(entry_id), json.loads(fields[b"data"])))
    if forged:
        log.warning("dropped %d session events Kabar did not sign: %s", len(forged), forged[:5])
    if other_key:
        log.error("dropped %d session events %s", len(other_key), signing.OTHER_KEY)
    ack(client, forged + other_key)
    return events


def _signed(event: dict[str, Any]) -> dict[str, str]:
    data = json.dumps(event)
    return {"data": data, "sig": signing.sign(signing.SESSION_EVENT, data), "kid": signing.key_id()}


def fold_later(client: redis.Redis, consumer: str, delay_ms: int = FOLD_RETRY_MS) -> None:
    """The database is down: what ``consumer`` read and could not fold is released at once to
    the next folder (not after RECLAIM_IDLE_MS), and a folder runs again after ``delay_ms``,
    even when no new event wakes one (the outcomes of sends wait in these events)."""
    ensure_group(client)
    pending = client.xpending_range(
        keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP, "-", "+", 10_000, consumername=consumer
    )
    if ids := [entry["message_id"] for entry in pending]:
        client.xclaim(
            keys.SESSION_EVENTS,
            keys.SESSION_EVENTS_GROUP,
            consumer,
            0,
            ids,
            idle=RECLAIM_IDLE_MS,
            justid=True,
        )
    # One such folder at a time, however many failed at once.
    if client.set(keys.FOLD_RETRY, 1, nx=True, px=delay_ms):
        broker.broker.enqueue(
            broker.message(Actor.FOLD_SESSION_EVENTS, Band.EVENTS), delay=delay_ms
        )


def dead_letter(
    client: redis.Redis, entry_id: str | None, event: dict[str, Any], error: str
) -> None:
    """Set aside an event that cannot be folded, so it neither blocks the stream nor is lost.
    ``entry_id`` is None for a parked receipt (it left the stream already)."""
    client.xadd(
        keys.SESSION_EVENTS_DEAD,
        {**_signed(event), "entry": entry_id or "parked", "error": error[:2000]},
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    if entry_id:
        ack(client, [entry_id])


def dead_letters(client: redis.Redis, count: int = 200) -> list[dict[str, Any]]:
    """The events set aside, newest first: ``{"id", "at", "event", "entry", "error"}`` (``at``
    in seconds since the epoch, read from the entry id)."""
    return [
        {
            "id": _text(entry_id),
            "at": int(_text(entry_id).split("-")[0]) / 1000,
            "event": json.loads(fields[b"data"]),
            "entry": _text(fields.get(b"entry", b"")),
            "error": _text(fields.get(b"error", b"")),
        }
        for entry_id, fields in client.xrevrange(keys.SESSION_EVENTS_DEAD, count=count)
        if fields
    ]


def replay_dead(client: redis.Redis, entry_ids: list[str] | None = None) -> int:
    """Put dead letters back on the stream, oldest first, and wake a folder; all of them when
    ``entry_ids`` is None. Return how many went back. Moving one is a single transaction, so a
    replay loses no event and leaves no copy behind in the dead letters."""
    dead = keys.SESSION_EVENTS_DEAD
    if entry_ids is None:
        entries = client.xrange(dead, count=REPLAY_MAX)
    else:
        entries = [entry for i in sorted(set(entry_ids)) for entry in client.xrange(dead, i, i)]
    entries = [(entry_id, fields) for entry_id, fields in entries if fields]
    if not entries:
        return 0
    pipe = client.pipeline(transaction=True)
    for _, fields in entries:
        signed = {"data": fields[b"data"], "sig": fields.get(b"sig", b"")}
        pipe.xadd(keys.SESSION_EVENTS, signed, maxlen=STREAM_MAXLEN, approximate=True)
    pipe.xdel(dead, *[entry_id for entry_id, _ in entries])
    pipe.set(keys.FOLD_PENDING, 1, nx=True, px=FOLD_FLAG_TTL_MS)
    if pipe.execute()[-1]:
        broker.enqueue(Actor.FOLD_SESSION_EVENTS, Band.EVENTS)
    return len(entries)


REPLAY_MAX = 10_000

# Waits before a receipt whose message was not known is tried again; after the last, it is
# dropped (most such receipts are of messages sent from the phone itself, not by Kabar).
RECEIPT_RETRY_S = (2.0, 10.0, 60.0)

_TAKE_DUE = """
local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('zrem', KEYS[1], unpack(due)) end
return due
"""


def park_receipts(client: redis.Redis, events: list[dict[str, Any]]) -> int:
    """Keep receipts whose message is not known yet to try them again later (a receipt can
    overtake the record of its send); return how many were dropped after their last try."""
    now, dropped = time.time(), 0
    pipe = client.pipeline()
    for event in events:
        tries = int(event.get("tries", 0))
        if tries >= len(RECEIPT_RETRY_S):
            dropped += 1
            continue
        again = {**event, "tries": tries + 1}
        pipe.zadd(keys.RECEIPTS_WAITING, {_parked(again): now + RECEIPT_RETRY_S[tries]})
    pipe.execute()
    return dropped


def return_receipts(client: redis.Redis, events: list[dict[str, Any]]) -> None:
    """Put back receipts taken by ``due_receipts`` that could not be tried (the database was
    down): due at once, their tries unchanged."""
    client.zadd(keys.RECEIPTS_WAITING, {_parked(event): time.time() for event in events})


def due_receipts(client: redis.Redis, limit: int = 500) -> list[dict[str, Any]]:
    """Take the parked receipts whose time has come (each by one folder only)."""
    taken = client.eval(_TAKE_DUE, 1, keys.RECEIPTS_WAITING, time.time(), limit)
    receipts = []
    for raw in taken:
        try:
            receipts.append(signing.unseal(signing.SESSION_EVENT, raw))
        except signing.BadSignature:
            log.warning("dropped a parked receipt Kabar did not sign")
    return receipts


def _parked(event: dict[str, Any]) -> str:
    return signing.seal(signing.SESSION_EVENT, event)


def ack(client: redis.Redis, entry_ids: list[str]) -> None:
    if entry_ids:
        client.xack(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP, *entry_ids)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
