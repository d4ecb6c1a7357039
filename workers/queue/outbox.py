"""The outbox: a job caused by a change reaches the queue if, and only if, the change commits.

A service calls ``add`` before its commit. The job becomes a row of ``outbox`` in the same
transaction, so a rollback drops it with the change, and a commit keeps it even when Redis is
unreachable at that moment. Right after the commit the new rows are queued and deleted; a row
Redis did not take stays, and ``relay`` (run by the scheduler) queues it once Redis is back.

Delivery is at least once: a job queued whose row could not then be deleted is queued again
later, so every actor fed from here must be idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from webapp.extensions import db
from webapp.models import OutboxEntry, utcnow
from workers.queue import broker

log = logging.getLogger(__name__)

# Younger rows are left to the after-commit path of the process that wrote them.
RELAY_AFTER_S = 30.0
_ADDED = "kabar.outbox"


def add(actor_name: str, queue_name: str, *args: Any) -> None:
    """Queue ``actor_name(*args)`` on ``queue_name`` once the current transaction commits."""
    entry = OutboxEntry(actor_name=actor_name, queue_name=queue_name, args=list(args))
    db.session.add(entry)
    db.session.info.setdefault(_ADDED, []).append(entry)


def relay(limit: int = 500) -> int:
    """Queue the rows the after-commit path could not (Redis was down, the process died);
    return how many reached Redis."""
    cutoff = utcnow() - timedelta(seconds=RELAY_AFTER_S)
    return _send(OutboxEntry.created_at < cutoff, limit)


def _send(where: sa.ColumnElement[bool], limit: int | None = None) -> int:
    """Queue and delete the rows matching ``where``, in a short transaction of their own.

    The rows are locked, skipping those another process holds, so two relays never queue one
    row twice (SQLite has no row locks and one writer at a time: there it is a plain select).
    At a Redis error the row keeps the attempt and the error, and the rest wait for the next
    relay: they would fail the same way.
    """
    table = OutboxEntry.__table__
    with db.engine.begin() as conn:
        rows = conn.execute(
            sa.select(table)
            .where(where)
            .order_by(table.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        sent = []
        for row in rows:
            try:
                broker.enqueue(row.actor_name, row.queue_name, *row.args)
            except Exception as exc:
                _count_attempt(conn, row.id, exc)
                if isinstance(exc, redis.RedisError):
                    break
                continue  # a row Redis would never take must not hold back those after it
            sent.append(row.id)
        if sent:
            conn.execute(sa.delete(table).where(table.c.id.in_(sent)))
    return len(sent)


def _count_attempt(conn: sa.Connection, entry_id: int, exc: Exception) -> None:
    log.warning("outbox entry %s not queued: %r", entry_id, exc)
    table = OutboxEntry.__table__
    conn.execute(
        sa.update(table)
        .where(table.c.id == entry_id)
        .values(attempts=table.c.attempts + 1, last_error=repr(exc)[:500])
    )


def _send_committed(session: Session) -> None:
    """Right after a commit, queue the rows it wrote; what fails here ``relay`` sends later."""
    entries = session.info.pop(_ADDED, None)
    # A row rolled back with a savepoint has no identity any more: it was never committed.
    ids = [state.identity[0] for state in map(sa.inspect, entries or ()) if state.identity]
    if not ids:
        return
    try:
        _send(OutboxEntry.id.in_(ids))
    except Exception:  # the change is committed; a late job must not undo it
        log.exception("could not queue outbox entries %s now; the relay will", ids)


def _drop_added(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_ADDED, None)


sa.event.listen(Session, "after_commit", _send_committed)
sa.event.listen(Session, "after_transaction_end", _drop_added)
