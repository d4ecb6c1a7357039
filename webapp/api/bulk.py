"""/api/whatsapp/send-bulk and the bulk job's progress, pause, resume and cancel."""

from __future__ import annotations

from flask import jsonify, request, url_for
from marshmallow import ValidationError

from webapp.api import bp
from webapp.api.schemas import json_body
from webapp.intake import bulk, forecast, templates
from webapp.models import iso
from workers.queue.contracts import BulkStatus


@bp.post("/whatsapp/send-bulk")
def send_bulk():
    """``{recipients: [{whatsapp, data, email?}], template, templateData, priority?,
    scheduleAt?, routing?}`` -> 202 ``{jobId, queued, forecast}`` at once; an actor writes the
    messages. ``forecast`` (null for a send scheduled later) says how many go today and how
    many wait, by cause (see ``webapp.intake.forecast``)."""
    raw = json_body()
    if not isinstance(raw, dict):
        raise ValidationError({"body": ["the body must be a JSON object"]})
    parsed = bulk.parse_request(raw)
    # Read before the send's messages are queued, so they do not count as ahead of it.
    template = templates.find_active(parsed.template, parsed.template_field)
    expected = forecast.bulk(len(parsed.recipients), template.category)
    job = bulk.submit(parsed)
    return (
        jsonify(
            jobId=job.job_id,
            queued=job.total,
            status=job.status,
            scheduleAt=iso(job.schedule_at),
            forecast=None if job.status == BulkStatus.SCHEDULED else expected.as_json(),
            statusUrl=url_for("api.bulk_status", job_id=job.job_id),
        ),
        202,
    )


@bp.get("/whatsapp/bulk")
def list_bulk():
    """The latest bulk sends (``?limit=``, default 50, at most 500), without their errors."""
    limit = request.args.get("limit", "50")
    jobs = bulk.list_jobs(min(int(limit), 500) if limit.isdigit() else 50)
    by_job = bulk.counts([job.id for job in jobs])
    return jsonify(jobs=[_summary(bulk.report(job, by_job[job.id])) for job in jobs])


def _summary(report: dict) -> dict:
    return {key: value for key, value in report.items() if key != "errors"}


@bp.get("/whatsapp/bulk/<job_id>")
def bulk_status(job_id: str):
    """Counts by status (queued, paused, sent, delivered, read, failed, cancelled), progress in
    percent, and the recipients that were refused (``errors``)."""
    job = bulk.get_job(job_id)
    bulk.finish_if_done(job)
    return jsonify(bulk.report(job))


@bp.post("/whatsapp/bulk/<job_id>/pause")
def pause_bulk(job_id: str):
    return jsonify(bulk.report(bulk.pause(job_id)))


@bp.post("/whatsapp/bulk/<job_id>/resume")
def resume_bulk(job_id: str):
    return jsonify(bulk.report(bulk.resume(job_id)))


@bp.post("/whatsapp/bulk/<job_id>/cancel")
def cancel_bulk(job_id: str):
    return jsonify(bulk.report(bulk.cancel(job_id)))
