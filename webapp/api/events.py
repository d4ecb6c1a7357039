"""POST /api/events: billing events (``{event, id, data}``) turned into messages by triggers."""

from __future__ import annotations

from typing import Any

from flask import jsonify, url_for

from webapp.api import bp
from webapp.api.schemas import EventSchema, load_json
from webapp.extensions import db
from webapp.intake import triggers
from webapp.models import BulkJob, TriggerEvent
from workers.queue.contracts import EventStatus


def event_json(record: TriggerEvent, duplicate: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event": record.event,
        "id": record.event_id,
        "status": record.status,
        "duplicate": duplicate,
    }
    if record.status == EventStatus.SKIPPED:
        body["reason"] = record.error
    if record.message_id is not None:
        body["messageId"] = record.message_id
        body["statusUrl"] = url_for("api.message_status", message_id=record.message_id)
    if record.bulk_job_id is not None:
        job = db.session.get(BulkJob, record.bulk_job_id)
        body["jobId"] = job.job_id
        body["queued"] = job.total
        body["statusUrl"] = url_for("api.bulk_status", job_id=job.job_id)
    return body


@bp.post("/events")
def billing_event():
    """202 when the event queued a message or a bulk send; 200 when it was skipped (disabled
    trigger) or had been received before (``duplicate``: the first outcome, nothing sent again).
    A failure is a 4xx naming the field at fault, and is answered the same way to a retry."""
    body = load_json(EventSchema())
    outcome = triggers.fire(body["event"], body["id"], body["data"])
    status = 202 if outcome.record.status == EventStatus.QUEUED and not outcome.duplicate else 200
    return jsonify(event_json(outcome.record, outcome.duplicate)), status
