"""The session-event stream: session hosts append, the ``fold_session_events`` actor reads.

Each entry is one JSON event ``{"session_id", "kind", "at", ...data}``. Readers use a consumer
group and acknowledge only after the event is in PostgreSQL, so an event survives a worker that
dies mid-fold; entries left unacknowledged are claimed again after ``RECLAIM_IDLE_MS``.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from workers import broker, keys

FOLD_ACTOR = "fold_session_events"
STREAM_MAXLEN = 100_000
RECLAIM_IDLE_MS = 30_000
FOLD_FLAG_TTL_MS = 5_000


def publish(client: redis.Redis, event: dict[str, Any]) -> None:
    """Append ``event`` to the stream and wake a folder, unless one is awake already."""
    publish_many(client, [event])


def publish_many(client: redis.Redis, events: list[dict[str, Any]]) -> None:
    """Append ``events`` in order, in one round trip, and wake a folder unless one is awake."""
    pipe = client.pipeline(transaction=False)
    for event in events:
        pipe.xadd(
            keys.SESSION_EVENTS,
            {"data": json.dumps(event)},
            maxlen=STREAM_MAXLEN,
            approximate=True,
        )
    # The flag is cleared by the folder before it reads, so an event appended after the clear
    # sets it again and wakes another folder: none is left unread, and a burst of events costs
    # one folder, not one per event. The expiry heals a folder that died holding it.
    pipe.set(keys.FOLD_PENDING, 1, nx=True, px=FOLD_FLAG_TTL_MS)
    if pipe.execute()[-1]:
        broker.enqueue(FOLD_ACTOR, broker.EVENTS)


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
    return [
        (_text(entry_id), json.loads(fields[b"data"]))
        for entry_id, fields in entries
        if fields  # a trimmed entry comes back empty
    ]


def dead_letter(client: redis.Redis, entry_id: str, event: dict[str, Any], error: str) -> None:
    """Set aside an event that cannot be folded, so it neither blocks the stream nor is lost."""
    client.xadd(
        keys.SESSION_EVENTS_DEAD,
        {"data": json.dumps(event), "entry": entry_id, "error": error[:2000]},
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    ack(client, [entry_id])


def ack(client: redis.Redis, entry_ids: list[str]) -> None:
    if entry_ids:
        client.xack(keys.SESSION_EVENTS, keys.SESSION_EVENTS_GROUP, *entry_ids)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
