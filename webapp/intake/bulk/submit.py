"""A bulk send requested: its shape checked, stored as one ``bulk_jobs`` row and its expansion
queued (now, or at ``schedule_at``); the jobs looked up."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from webapp.core.errors import KabarError, NotFound
from webapp.extensions import db
from webapp.intake import templates
from webapp.models import BulkJob
from workers.pipeline import routing
from workers.queue import broker
from workers.queue.contracts import Actor, Band, BulkStatus

MAX_RECIPIENTS = 50_000


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
        status=BulkStatus.SCHEDULED if scheduled else BulkStatus.PENDING,
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
    broker.enqueue(Actor.EXPAND_BULK, Band.MAINTENANCE, bulk_id)


def get_job(job_id: str) -> BulkJob:
    job = db.session.scalar(db.select(BulkJob).where(BulkJob.job_id == job_id))
    if job is None:
        raise NotFound(f"no bulk send {job_id!r}", field="jobId")
    return job


def list_jobs(limit: int = 50) -> list[BulkJob]:
    return list(db.session.scalars(db.select(BulkJob).order_by(BulkJob.id.desc()).limit(limit)))
