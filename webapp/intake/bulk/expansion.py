"""Bulk sends: accepted at once as one ``bulk_jobs`` row, expanded by an actor into messages.

``submit`` stores the request (recipients included) and answers; the ``expand_bulk`` actor turns
it into message rows in batches of ``BATCH``: each batch's rows, their ledger jobs and the job's
progress are one transaction, and the batch's jobs are queued after its commit. A crashed
expansion is run again (by Dramatiq's retries or the maintenance sweep) and goes on from the
last committed batch.

Per recipient: the number is normalised, ``templateData`` merged with the recipient's ``data``
(the recipient wins) and the template rendered. A number already sent to by this job, an
impossible number or a missing variable is recorded in ``errors`` (at most ``MAX_ERRORS``
listed, all counted) and the others go on. With the setting ``check_on_whatsapp``, a number
WhatsApp says has no account is recorded there too (``not_on_whatsapp``) and gets no message;
numbers that cannot be checked are sent (see ``reachability``).

States: ``scheduled`` (waits for ``schedule_at``) -> ``pending`` (an expansion is queued) ->
``expanding`` -> ``running`` (every row exists) -> ``completed`` (none left to send); ``paused``
and ``cancelled`` from any of them. Pausing moves the job's queued rows to ``paused`` (the send
actor skips rows that are not ``queued``); resuming puts them back with fresh jobs; cancelling
makes every row not yet sent ``cancelled``. Changes of state lock the job's row, so a batch
being written and a pause or cancel never interleave.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from webapp import settings
from webapp.core import email_address, phone
from webapp.core.errors import (
    Conflict,
    InvalidPhoneNumber,
    KabarError,
    MessageTooLong,
    NotFound,
)
from webapp.extensions import db
from webapp.intake import reachability, templates
from webapp.intake.messages import MAX_ATTEMPTS
from webapp.models import (
    BulkJob,
    WhatsAppMessage,
    WhatsAppQueueJob,
    WhatsAppTemplate,
    as_utc,
    iso,
    preassign_ids,
)
from workers.pipeline import routing
from workers.queue import broker, jobs

log = logging.getLogger(__name__)

EXPAND_ACTOR = "expand_bulk"
MAINTENANCE_ACTOR = "bulk_maintenance"
BATCH = 50
MAX_RECIPIENTS = 50_000
MAX_ERRORS = 1_000
# An expansion that has not advanced for this long is queued again (its message was lost).
STALE_AFTER = timedelta(seconds=60)

ACTIVE = ("scheduled", "pending", "expanding", "running")
FINISHED = ("completed", "cancelled")
# Message rows that will still be sent (or would be, once resumed).
WAITING = ("queued", "paused")


@dataclass(frozen=True)
class BulkRequest:
    recipients: list[dict[str, Any]]
    template: str | int  # an active template's name or id
    template_data: dict[str, Any]
    priority: int = 1
    schedule_at: datetime | None = None
    routing: str | None = None
    template_field: str = "template"  # where the request named it


def parse_request(raw: Mapping[str, Any], prefix: str = "") -> BulkRequest:
    """Check the shape of a bulk request (the API body, or a ``bulk.send`` event's data).

    Plain loops rather than a schema: 10,000 recipients must be accepted in well under a
    second. Only the shape is checked here; numbers and variables are checked per recipient
    when the job is expanded, so one bad recipient never refuses the others.
    """

    def refuse(name: str, message: str) -> KabarError:
        return KabarError(message, field=prefix + name)

    recipients = raw.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise refuse("recipients", "recipients is a non-empty list of {whatsapp, data, email?}")
    if len(recipients) > MAX_RECIPIENTS:
        raise refuse(
            "recipients",
            f"at most {MAX_RECIPIENTS:,} recipients per bulk send; split this one",
        )
    for n, recipient in enumerate(recipients):
        if not isinstance(recipient, dict):
            raise refuse(f"recipients.{n}", "each recipient is an object {whatsapp, data, email?}")
    template_field = "templateId" if "template" not in raw and "templateId" in raw else "template"
    template = raw.get(template_field)
    if isinstance(template, str):
        template = template.strip()
    if isinstance(template, bool) or not isinstance(template, str | int | float) or template == "":
        raise refuse("template", "template (a template name) is required")
    template_data = raw.get("templateData")
    if template_data is None:
        template_data = {}
    if not isinstance(template_data, dict):
        raise refuse("templateData", "templateData is an object of variables")
    priority = raw.get("priority", 1)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 10:
        raise refuse("priority", "priority is a whole number from 1 (highest) to 10")
    policy = raw.get("routing")
    if policy is not None and policy not in routing.POLICIES:
        raise refuse("routing", f"routing is one of {', '.join(routing.POLICIES)}")
    schedule_at = raw.get("scheduleAt")
    if schedule_at is not None:
        schedule_at = _parse_time(schedule_at, refuse)
    return BulkRequest(
        recipients=recipients,
        template=template,
        template_data=template_data,
        priority=priority,
        schedule_at=schedule_at,
        routing=policy,
        template_field=prefix + template_field,
    )


def _parse_time(value: Any, refuse: Callable[[str, str], KabarError]) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:  # a local time of the operator
                moment = moment.replace(tzinfo=ZoneInfo(current_app.config["TIMEZONE"]))
            return moment.astimezone(UTC)
    raise refuse("scheduleAt", "scheduleAt is an ISO 8601 time, e.g. 2026-12-01T08:00:00+07:00")


def submit(request: BulkRequest, before_commit: Callable[[BulkJob], None] | None = None) -> BulkJob:
    """Store a bulk send and queue its expansion (now, or at ``schedule_at``); return the job.

    ``before_commit`` is called with the job once it has its id, in the same transaction.
    Raises TemplateNotFound for an unknown or inactive template.
    """
    template = templates.find_active(request.template, request.template_field)
    now = datetime.now(UTC)
    scheduled = request.schedule_at is not None and request.schedule_at > now
    job = BulkJob(
        job_id=f"bulk-{secrets.token_hex(8)}",
        template_id=template.id,
        template_data=request.template_data,
        recipients=request.recipients,
        status="scheduled" if scheduled else "pending",
        priority=request.priority,
        routing=request.routing,
        total=len(request.recipients),
        expanded=0,
        invalid_count=0,
        duplicate_count=0,
        errors=[],
        schedule_at=request.schedule_at,
    )
    db.session.add(job)
    db.session.flush()
    if before_commit is not None:
        before_commit(job)
    db.session.commit()
    if not scheduled:
        _queue_expansion(job.id)
    return job


def _queue_expansion(bulk_id: int) -> None:
    broker.enqueue(EXPAND_ACTOR, broker.MAINTENANCE, bulk_id)


def get_job(job_id: str) -> BulkJob:
    job = db.session.scalar(db.select(BulkJob).where(BulkJob.job_id == job_id))
    if job is None:
        raise NotFound(f"no bulk send {job_id!r}", field="jobId")
    return job


def list_jobs(limit: int = 50) -> list[BulkJob]:
    return list(db.session.scalars(db.select(BulkJob).order_by(BulkJob.id.desc()).limit(limit)))


# expansion --------------------------------------------------------------------------------------


def _lock(bulk_id: int) -> tuple[str, int]:
    """Lock the job's row for this transaction; return its status and how far it is expanded."""
    row = db.session.execute(
        sa.select(BulkJob.status, BulkJob.expanded).where(BulkJob.id == bulk_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"no bulk send {bulk_id}", field="jobId")
    return row.status, row.expanded


def _sent_numbers(bulk_id: int) -> set[str]:
    M = WhatsAppMessage
    return set(db.session.scalars(sa.select(M.to_number).where(M.bulk_job_id == bulk_id)))


def expand(bulk_id: int) -> int:
    """Write the message rows of a pending bulk send, batch by batch; return how many.

    Stops early when the job is paused or cancelled meanwhile; a later call goes on.
    """
    status, expanded = _lock(bulk_id)
    if status not in ("pending", "expanding"):
        db.session.rollback()
        return 0
    B = BulkJob
    db.session.execute(
        sa.update(B)
        .where(B.id == bulk_id)
        .values(status="expanding", started_at=sa.func.coalesce(B.started_at, sa.func.now()))
    )
    job = db.session.get(BulkJob, bulk_id)
    template = db.session.get(WhatsAppTemplate, job.template_id) if job.template_id else None
    plan = _Plan(
        bulk_id=bulk_id,
        recipients=job.recipients or [],
        template_data=job.template_data or {},
        priority=job.priority,
        routing=job.routing,
        errors=list(job.errors or []),
        region=current_app.config["DEFAULT_REGION"],
        limit=current_app.config["MAX_MESSAGE_LENGTH"],
        check_numbers=settings.get("check_on_whatsapp"),
    )
    if template is None:
        db.session.execute(
            sa.update(B)
            .where(B.id == bulk_id)
            .values(
                status="cancelled",
                finished_at=sa.func.now(),
                errors=plan.errors
                + [{"code": "unknown_template", "message": "the template was deleted"}],
            )
        )
        db.session.commit()
        return 0
    db.session.expunge(template)  # a snapshot: commits below must not reload it
    plan.template = template
    seen = _sent_numbers(bulk_id) if expanded else set()
    db.session.commit()

    written = 0
    # Jobs reach Redis from a second thread while the next batch is written: the two waits
    # (PostgreSQL, Redis) overlap. Each batch's jobs still go only after its commit.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-enqueue") as enqueuer:
        sent_off = []
        while True:
            # Asked before the job's row is locked, so a pause or cancel never waits for it.
            plan.ask_whatsapp(plan.recipients[expanded : expanded + BATCH])
            status, done = _lock(bulk_id)
            if status != "expanding":
                db.session.rollback()
                break
            if done != expanded:  # another expansion ran meanwhile: trust the rows, not memory
                seen = _sent_numbers(bulk_id)
            expanded = done
            if expanded >= len(plan.recipients):
                db.session.execute(sa.update(B).where(B.id == bulk_id).values(status="running"))
                db.session.commit()
                break
            batch = plan.recipients[expanded : expanded + BATCH]
            rows, invalid, duplicates, new_errors = plan.rows(expanded, batch, seen)
            db.session.add_all(rows)
            preassign_ids(rows)
            queued = jobs.new_jobs(rows, MAX_ATTEMPTS)
            preassign_ids([o for o in db.session.new if isinstance(o, WhatsAppQueueJob)])
            values: dict[str, Any] = {
                "expanded": expanded + len(batch),
                "invalid_count": B.invalid_count + invalid,
                "duplicate_count": B.duplicate_count + duplicates,
            }
            if new_errors and len(plan.errors) < MAX_ERRORS:
                plan.errors += new_errors[: MAX_ERRORS - len(plan.errors)]
                values["errors"] = plan.errors
            db.session.execute(sa.update(B).where(B.id == bulk_id).values(**values))
            db.session.commit()
            sent_off.append(enqueuer.submit(_enqueue, queued))
            written += len(rows)
            expanded += len(batch)
    for future in sent_off:
        future.result()  # a Redis error fails the actor; the reconciler re-queues the rows
    log.info("bulk send %s: %d messages queued", bulk_id, written)
    return written


def _enqueue(queued: list) -> None:
    for job in queued:
        broker.enqueue_job(job)


@dataclass
class _Plan:
    """What expanding a job needs, read once."""

    bulk_id: int
    recipients: list[dict[str, Any]]
    template_data: dict[str, Any]
    priority: int
    routing: str | None
    errors: list[dict[str, Any]]
    region: str
    limit: int
    check_numbers: bool = False
    template: WhatsAppTemplate | None = None
    asked: reachability.Reachability | None = None  # of the batch about to be written

    def ask_whatsapp(self, batch: list[Any]) -> None:
        """Ask which of ``batch``'s numbers have WhatsApp (for ``rows`` to use)."""
        if not self.check_numbers:
            return
        numbers = []
        for recipient in batch:
            raw = recipient.get("whatsapp") if isinstance(recipient, dict) else None
            try:
                numbers.append(phone.normalize(raw, self.region, field="whatsapp").phone)
            except KabarError:
                continue  # rows() reports it
        self.asked = reachability.check(numbers)

    def rows(
        self, start: int, batch: list[Any], seen: set[str]
    ) -> tuple[list[WhatsAppMessage], int, int, list[dict[str, Any]]]:
        """The message rows of ``batch`` (recipients ``start``...), and what was refused."""
        rows, errors, invalid, duplicates = [], [], 0, 0
        for index, recipient in enumerate(batch, start):
            raw = recipient.get("whatsapp") if isinstance(recipient, dict) else None
            try:
                row = self._row(recipient, raw, seen)
            except KabarError as exc:
                duplicate = exc.code == "duplicate"
                duplicates += duplicate
                invalid += not duplicate
                errors.append(_refused(index, raw, exc))
                continue
            seen.add(row.to_number)
            rows.append(row)
        if self.check_numbers and rows:
            rows, unreachable = self._on_whatsapp(start, batch, rows, {e["index"] for e in errors})
            invalid += len(unreachable)
            errors += unreachable
        return rows, invalid, duplicates, errors

    def _on_whatsapp(
        self, start: int, batch: list[Any], rows: list[WhatsAppMessage], refused: set[int]
    ) -> tuple[list[WhatsAppMessage], list[dict[str, Any]]]:
        """Drop the rows whose number is not on WhatsApp, with an error for each.

        ``rows`` are the batch's recipients in order, less the ``refused`` indexes. Runs while
        the job's row is locked, so no session host is asked here (that may take an RPC's
        timeout, and ends the transaction, lock and all): numbers ``ask_whatsapp`` did not
        cover (another expansion moved the batch meanwhile) are looked up in the cache alone,
        and sent unchecked when it has no answer.
        """
        numbers = {row.to_number for row in rows}
        asked = self.asked or reachability.Reachability(set(), set(), set())
        uncovered = numbers - asked.on - asked.off - asked.unknown
        off = asked.off | reachability.cached(uncovered).off
        if not off:
            return rows, []
        indexes = [i for i in range(start, start + len(batch)) if i not in refused]
        kept, errors = [], []
        for index, row in zip(indexes, rows, strict=True):
            if row.to_number in off:
                reason = f"{row.to_number} is not on WhatsApp; not sent"
                refusal = _NotOnWhatsApp(reason, field="whatsapp")
                errors.append(_refused(index, batch[index - start]["whatsapp"], refusal))
            else:
                kept.append(row)
        return kept, errors

    def _row(self, recipient: Any, raw: Any, seen: set[str]) -> WhatsAppMessage:
        if not isinstance(recipient, dict):
            raise KabarError("a recipient is an object {whatsapp, data, email?}")
        if raw is None or raw == "":
            raise KabarError("whatsapp (the recipient's number) is required", field="whatsapp")
        number = phone.normalize(raw, self.region, field="whatsapp").phone
        if number in seen:
            raise _Duplicate(f"{number} is already in this bulk send; sent once")
        data = recipient.get("data") or {}
        if not isinstance(data, dict):
            raise KabarError("data is an object of variables", field="data")
        rendered = templates.render_message(self.template, {**self.template_data, **data})
        if len(rendered.text) > self.limit:
            raise MessageTooLong(
                f"the message has {len(rendered.text)} characters; WhatsApp allows {self.limit}",
                field="data",
            )
        email = email_address.recipient_address(recipient.get("email"), "email")
        return WhatsAppMessage(
            to_number=number,
            template_id=self.template.id,
            message_type=self.template.type,
            content=rendered.text,
            **(
                rendered.media.columns()
                if rendered.media
                else {"media_url": rendered.media_url, "render_mode": rendered.render_mode}
            ),
            email=email,
            status="queued",
            priority=self.priority,
            band=broker.BULK,
            routing=self.routing,
            bulk_job_id=self.bulk_id,
        )


class _Duplicate(KabarError):
    code = "duplicate"


class _NotOnWhatsApp(KabarError):
    code = "not_on_whatsapp"


def _refused(index: int, raw: Any, exc: KabarError) -> dict[str, Any]:
    """A recipient that gets no message, as the job's ``errors`` list it."""
    return {
        "index": index,
        "whatsapp": raw if isinstance(raw, str | int) else None,
        "code": exc.code,
        "field": f"recipients.{index}" + (f".{exc.field}" if exc.field else ""),
        "message": exc.message,
        **({"reason": exc.reason} if isinstance(exc, InvalidPhoneNumber) else {}),
    }


# progress ---------------------------------------------------------------------------------------


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
            M.status.in_(("paused", "cancelled")),
            M.sent_at.is_not(None),
        )
        .group_by(M.bulk_job_id, M.status)
    )
    for bulk_id, status, count in went:
        by_status = found[bulk_id]
        by_status[status] -= count
        by_status["sent"] = by_status.get("sent", 0) + count
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
            .where(M.bulk_job_id.in_(bulk_ids), M.status == "queued", M.held_reason.is_not(None))
            .group_by(M.bulk_job_id)
        )
        found.update({bulk_id: count for bulk_id, count in rows})
    return found


def report(job: BulkJob, by_status: dict[str, int] | None = None) -> dict[str, Any]:
    """The job's progress as the API and the admin page show it."""
    if by_status is None:
        by_status = counts([job.id])[job.id]
    shown = {s: by_status.get(s, 0) for s in ("queued", "paused", "sent", "delivered", "read")}
    shown.update(failed=by_status.get("failed", 0), cancelled=by_status.get("cancelled", 0))
    shown.update({s: n for s, n in by_status.items() if s not in shown})
    not_expanded = max(job.total - job.expanded, 0)
    done = sum(n for s, n in shown.items() if s not in WAITING)
    done += job.invalid_count + job.duplicate_count
    if job.status == "cancelled":
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
    if job.status != "running" or job.expanded < job.total:
        return False
    if by_status is None:
        by_status = counts([job.id])[job.id]
    if any(by_status.get(s) for s in WAITING):
        return False
    db.session.execute(
        sa.update(BulkJob)
        .where(BulkJob.id == job.id, BulkJob.status == "running")
        .values(status="completed", finished_at=sa.func.now())
    )
    db.session.commit()
    db.session.refresh(job)
    return True


# pause, resume, cancel -------------------------------------------------------------------------


def pause(job_id: str) -> BulkJob:
    """Stop sending: the job's queued rows become ``paused`` and expansion stops."""
    job = get_job(job_id)
    status, _ = _lock(job.id)
    if status not in ACTIVE:
        db.session.rollback()
        raise Conflict(
            f"bulk send {job_id} is {status}; only an active one can pause", field="jobId"
        )
    M = WhatsAppMessage
    db.session.execute(sa.update(BulkJob).where(BulkJob.id == job.id).values(status="paused"))
    db.session.execute(
        sa.update(M)
        .where(M.bulk_job_id == job.id, M.status == "queued")
        .values(status="paused", held_reason=None, held_until=None)
    )
    db.session.commit()
    db.session.refresh(job)
    return job


def resume(job_id: str) -> BulkJob:
    """Go on: paused rows are queued again with fresh jobs, expansion goes on where it stopped."""
    job = get_job(job_id)
    status, expanded = _lock(job.id)
    if status != "paused":
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} is {status}, not paused", field="jobId")
    if expanded < job.total:
        future = job.schedule_at and as_utc(job.schedule_at) > datetime.now(UTC) and not expanded
        next_status = "scheduled" if future else "pending"
    else:
        next_status = "running"
    db.session.execute(sa.update(BulkJob).where(BulkJob.id == job.id).values(status=next_status))
    db.session.commit()
    _requeue_paused(job.id)
    if next_status == "pending":
        _queue_expansion(job.id)
    db.session.refresh(job)
    return job


def _requeue_paused(bulk_id: int, batch: int = 500) -> int:
    M = WhatsAppMessage
    requeued = 0
    while True:
        status, _ = _lock(bulk_id)
        if status in ("paused", "cancelled"):  # paused or cancelled again meanwhile
            db.session.rollback()
            return requeued
        rows = list(
            db.session.scalars(
                sa.select(M).where(M.bulk_job_id == bulk_id, M.status == "paused").limit(batch)
            )
        )
        if not rows:
            db.session.rollback()
            return requeued
        for row in rows:
            row.status = "queued"
            row.waiting_since = None  # a wait for a number counts from the resume
        queued = jobs.new_jobs(rows, MAX_ATTEMPTS)
        db.session.commit()
        for queued_job in queued:
            broker.enqueue_job(queued_job)
        requeued += len(rows)


def cancel(job_id: str) -> BulkJob:
    """Stop for good: every row not yet sent becomes ``cancelled``; nothing more is expanded."""
    job = get_job(job_id)
    status, _ = _lock(job.id)
    if status in FINISHED:
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} is {status} already", field="jobId")
    M = WhatsAppMessage
    db.session.execute(
        sa.update(BulkJob)
        .where(BulkJob.id == job.id)
        .values(status="cancelled", finished_at=sa.func.now())
    )
    db.session.execute(
        sa.update(M)
        .where(M.bulk_job_id == job.id, M.status.in_(WAITING))
        .values(
            status="cancelled",
            error_message="bulk send cancelled",
            held_reason=None,
            held_until=None,
        )
    )
    db.session.commit()
    db.session.refresh(job)
    return job


def resend_failed(job_id: str) -> tuple[int, int]:
    """Queue every failed row of the job again, once: (rows queued, rows left failed because a
    live session host still holds their send). A completed job runs again until they are done.
    Refused for a job that is not running or completed, or has no failed row."""
    job = get_job(job_id)
    if job.status not in ("running", "completed"):
        raise Conflict(f"bulk send {job_id} is {job.status}", field="jobId")
    M = WhatsAppMessage
    rows = list(
        db.session.scalars(
            sa.select(M)
            .where(M.bulk_job_id == job.id, M.status == "failed")
            .order_by(M.id)
            .with_for_update()
        )
    )
    if not rows:
        db.session.rollback()
        raise Conflict(f"bulk send {job_id} has no failed message", field="jobId")
    if job.status == "completed":
        job.status, job.finished_at = "running", None
    resent = jobs.resend_failed(rows)
    return len(resent), len(rows) - len(resent)


# the scheduler's sweep -------------------------------------------------------------------------


def maintain() -> dict[str, int]:
    """Start scheduled jobs whose time has come, re-queue expansions whose message was lost,
    and mark finished jobs ``completed``. Run by the scheduler every few seconds."""
    B = BulkJob
    now = datetime.now(UTC)
    due = list(
        db.session.scalars(
            sa.update(B)
            .where(B.status == "scheduled", B.schedule_at <= now)
            .values(status="pending")
            .returning(B.id)
        )
    )
    stale = list(
        db.session.scalars(
            sa.select(B.id).where(
                B.status.in_(("pending", "expanding")), B.updated_at < now - STALE_AFTER
            )
        )
    )
    if stale:  # touch them so the next sweep does not queue them again at once
        db.session.execute(sa.update(B).where(B.id.in_(stale)).values(updated_at=now))
    db.session.commit()
    for bulk_id in due + stale:
        _queue_expansion(bulk_id)
    running = list(db.session.scalars(sa.select(B).where(B.status == "running")))
    by_job = counts([job.id for job in running])
    completed = sum(finish_if_done(job, by_job[job.id]) for job in running)
    return {"started": len(due), "requeued": len(stale), "completed": completed}
