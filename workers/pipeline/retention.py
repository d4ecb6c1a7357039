"""Data retention: old messages, finished queue jobs and long-dead sessions are deleted daily.

Horizons are the ``retention_*_days`` settings (default ``RETENTION_*_DAYS``; 0 keeps for ever),
read at each run, so a change applies at the next run. Rows go in batches of
``RETENTION_BATCH`` ids, one short transaction each, so a large table is never locked for long
and the send path keeps writing meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.extensions import db
from webapp.models import MediaFile, WhatsAppMessage, WhatsAppQueueJob, WhatsAppSession
from webapp.redis_client import get_redis
from workers.queue import keys
from workers.queue.contracts import JobStatus, SessionState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    messages: int
    queue_jobs: int
    sessions: int
    session_ids: tuple[str, ...]
    media_files: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "session_ids": list(self.session_ids)}


def purge(now: datetime | None = None) -> Purged:
    """Delete what is past its horizon; log and return what went."""
    now = now or datetime.now(UTC)
    batch = max(1, int(current_app.config["RETENTION_BATCH"]))

    messages = 0
    if days := settings.get("retention_messages_days"):
        M = WhatsAppMessage
        old = M.created_at < now - timedelta(days=days)
        # Ids follow creation, so the old rows lie below the newest old id: the batches never
        # read past it into the rows that stay. (``id + 0``: read from the index on
        # (created_at, id); max(id) alone the planner looks for along the primary key, through
        # every row that stays.)
        last = db.session.scalar(sa.select(sa.func.max(M.id + 0)).where(old))
        messages = _delete_in_batches(M, M.id, sa.and_(old, M.id <= (last or 0)), batch)

    jobs = 0
    if days := settings.get("retention_jobs_days"):
        J = WhatsAppQueueJob
        finished_at = sa.func.coalesce(J.completed_at, J.failed_at, J.created_at)
        old = sa.and_(
            J.status.in_((JobStatus.COMPLETED, JobStatus.FAILED)),
            finished_at < now - timedelta(days=days),
        )
        jobs = _delete_in_batches(J, J.id, old, batch)

    session_ids: list[str] = []
    if days := settings.get("retention_sessions_days"):
        S = WhatsAppSession
        old = sa.and_(
            S.status == SessionState.DISCONNECTED, S.updated_at < now - timedelta(days=days)
        )
        while ids := db.session.execute(
            sa.select(S.id, S.session_id).where(old).order_by(S.id).limit(batch)
        ).all():
            db.session.execute(sa.delete(S).where(S.id.in_([row.id for row in ids])))
            db.session.commit()
            session_ids.extend(row.session_id for row in ids)
        if session_ids:
            _forget_sessions(session_ids)

    media_files = _delete_unused_media(now, batch)
    purged = Purged(messages, jobs, len(session_ids), tuple(session_ids), media_files)
    log.info(
        "retention: deleted %d message(s), %d queue job(s), %d session(s)%s, %d media file(s)",
        messages,
        jobs,
        len(session_ids),
        f" ({', '.join(session_ids)})" if session_ids else "",
        media_files,
    )
    return purged


# A media file no message refers to is kept this long after its last use: a message being
# written at that moment refers to it once its transaction commits.
MEDIA_GRACE = timedelta(hours=1)


def _delete_unused_media(now: datetime, batch: int) -> int:
    """Media files no message refers to any more (their messages were deleted)."""
    F, M = MediaFile, WhatsAppMessage
    unused = sa.and_(
        F.used_at < now - MEDIA_GRACE,
        ~sa.exists().where(M.media_sha256 == F.sha256),
    )
    return _delete_in_batches(F, F.sha256, unused, batch, first="")


def _delete_in_batches(
    model: type, id_column: Any, condition: Any, batch: int, first: Any = 0
) -> int:
    """Delete the rows matching ``condition``, ``batch`` ids at a time in id order, each batch
    its own transaction. Each batch starts after the last id of the one before (the first one
    after ``first``, below every id), so no batch reads again through what the earlier ones
    deleted (dead until VACUUM)."""
    deleted, after = 0, first
    while ids := list(
        db.session.scalars(
            sa.select(id_column)
            .where(condition, id_column > after)
            .order_by(id_column)
            .limit(batch)
        )
    ):
        db.session.execute(sa.delete(model).where(id_column.in_(ids)))
        db.session.commit()
        deleted += len(ids)
        after = ids[-1]
        if len(ids) < batch:
            break
    return deleted


def _forget_sessions(session_ids: list[str]) -> None:
    """The session hosts stop looking after deleted sessions (as ``sessions.delete_session``)."""
    pipe = get_redis().pipeline()
    pipe.hdel(keys.DESIRED_SESSIONS, *session_ids)
    for session_id in session_ids:
        pipe.publish(keys.SESSIONS_CHANGED, session_id)
    pipe.execute()
