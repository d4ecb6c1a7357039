"""The scheduler's sweep (``bulk_maintenance``): scheduled jobs started when their time comes,
lost expansions queued again, finished jobs marked ``completed``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.intake.bulk.progress import counts, finish_if_done
from webapp.intake.bulk.submit import _queue_expansion
from webapp.models import BulkJob
from workers.queue.contracts import BulkStatus

# An expansion that has not advanced for this long is queued again (its message was lost).
STALE_AFTER = timedelta(seconds=60)


def maintain() -> dict[str, int]:
    """Start scheduled jobs whose time has come, re-queue expansions whose message was lost,
    and mark finished jobs ``completed``. Run by the scheduler every few seconds."""
    B = BulkJob
    now = datetime.now(UTC)
    due = list(
        db.session.scalars(
            sa.update(B)
            .where(B.status == BulkStatus.SCHEDULED, B.schedule_at <= now)
            .values(status=BulkStatus.PENDING)
            .returning(B.id)
        )
    )
    stale = list(
        db.session.scalars(
            sa.select(B.id).where(
                B.status.in_((BulkStatus.PENDING, BulkStatus.EXPANDING)),
                B.updated_at < now - STALE_AFTER,
            )
        )
    )
    if stale:  # touch them so the next sweep does not queue them again at once
        db.session.execute(sa.update(B).where(B.id.in_(stale)).values(updated_at=now))
    db.session.commit()
    for bulk_id in due + stale:
        _queue_expansion(bulk_id)
    running = list(db.session.scalars(sa.select(B).where(B.status == BulkStatus.RUNNING)))
    by_job = counts([job.id for job in running])
    completed = sum(finish_if_done(job, by_job[job.id]) for job in running)
    return {"started": len(due), "requeued": len(stale), "completed": completed}
