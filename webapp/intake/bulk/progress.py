"""Progress: a job's message rows counted by status, as the API and the admin page show them,
and a running job marked ``completed`` once none of its rows waits to be sent."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import BulkJob, WhatsAppMessage, iso
from workers.queue.contracts import WENT_OUT, BulkStatus, MessageStatus

# Message rows that will still be sent (or would be, once resumed).
WAITING = (MessageStatus.QUEUED, MessageStatus.PAUSED)
# Shown after those waiting and those that went out, in this order.
_SETTLED = (MessageStatus.FAILED, MessageStatus.CANCELLED)


def counts(bulk_ids: list[int]) -> dict[int, dict[str, int]]:
    """Message rows by status for each job. A row paused or cancelled while its send was
    already under way went out all the same: it counts as sent.

    The counts by status come from the index on (bulk_job_id, status) alone; only the few
    paused or cancelled rows are read to see whether they went out.
    """
    M = WhatsAppMessage
    found: dict[int, dict[str, int]] = {bulk_id: {} for bulk_id in bulk_ids}
    if not bulk_ids:
        return found
    rows = db.session.execute(
        sa.select(M.bulk_job_id, M.status, sa.func.count())
        .where(M.bulk_job_id.in_(bulk_ids))
        .group_by(M.bulk_job_id, M.status)
    )
    for bulk_id, status, count in rows:
        found[bulk_id][status] = count
    went = db.session.execute(
        sa.select(M.bulk_job_id, M.status, sa.func.count())
        .where(
            M.bulk_job_id.in_(bulk_ids),
            M.status.in_((MessageStatus.PAUSED, MessageStatus.CANCELLED)),
            M.sent_at.is_not(None),
        )
        .group_by(M.bulk_job_id, M.status)
    )
    for bulk_id, status, count in went:
        by_status = found[bulk_id]
        by_status[status] -= count
        by_status[MessageStatus.SENT] = by_status.get(MessageStatus.SENT, 0) + count
        if not by_status[status]:
            del by_status[status]
    return found


def held_counts(bulk_ids: list[int]) -> dict[int, int]:
    """Queued rows of each job that wait for a limit (``held_reason``: a daily cap, warm-up,
    quiet hours); they are among the ``queued`` of ``counts``."""
    M = WhatsAppMessage
    found = dict.fromkeys(bulk_ids, 0)
    if bulk_ids:
        rows = db.session.execute(
            sa.select(M.bulk_job_id, sa.func.count())
            .where(
                M.bulk_job_id.in_(bulk_ids),
                M.status == MessageStatus.QUEUED,
                M.held_reason.is_not(None),
            )
            .group_by(M.bulk_job_id)
        )
        found.update({bulk_id: count for bulk_id, count in rows})
    return found


def report(job: BulkJob, by_status: dict[str, int] | None = None) -> dict[str, Any]:
    """The job's progress as the API and the admin page show it."""
    if by_status is None:
        by_status = counts([job.id])[job.id]
    shown = {s: by_status.get(s, 0) for s in (*WAITING, *WENT_OUT, *_SETTLED)}
    shown.update({s: n for s, n in by_status.items() if s not in shown})
    not_expanded = max(job.total - job.expanded, 0)
    done = sum(n for s, n in shown.items() if s not in WAITING)
    done += job.invalid_count + job.duplicate_count
    if job.status == BulkStatus.CANCELLED:
        done += not_expanded  # never to be expanded: settled
    progress = 100.0 if job.total == 0 else min(100.0, round(100.0 * done / job.total, 1))
    return {
        "jobId": job.job_id,
        "status": job.status,
        "total": job.total,
        "expanded": job.expanded,
        "notExpanded": not_expanded,
        "invalid": job.invalid_count,
        "duplicates": job.duplicate_count,
        "counts": shown,
        "progress": progress,
        "priority": job.priority,
        "routing": job.routing,
        "errors": job.errors or [],
        "errorsTruncated": job.invalid_count + job.duplicate_count > len(job.errors or []),
        "scheduleAt": iso(job.schedule_at),
        "createdAt": iso(job.created_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
    }


def finish_if_done(job: BulkJob, by_status: dict[str, int] | None = None) -> bool:
    """Mark a running job ``completed`` once none of its rows waits to be sent."""
    if job.status != BulkStatus.RUNNING or job.expanded < job.total:
        return False
    if by_status is None:
        by_status = counts([job.id])[job.id]
    if any(by_status.get(s) for s in WAITING):
        return False
    db.session.execute(
        sa.update(BulkJob)
        .where(BulkJob.id == job.id, BulkJob.status == BulkStatus.RUNNING)
        .values(status=BulkStatus.COMPLETED, finished_at=sa.func.now())
    )
    db.session.commit()
    db.session.refresh(job)
    return True
