"""Admin page "Kirim massal": bulk sends from a CSV or .xlsx file, and the progress of every
bulk job.

A new send takes three steps: upload a file (read by ``bulk_file``; its rows are kept in Redis
for ``UPLOAD_TTL_S`` under a random token, since the web has several processes), map its
columns to the number, the e-mail and the template's variables while the first rows are
previewed, then send. Sending calls
the same ``bulk.submit`` as ``POST /api/whatsapp/send-bulk``. The list polls
``/admin/bulk/status.json`` every 2 s to move the progress bars.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp import labels, phrases
from webapp.admin import bp, holds, local_time, login_required
from webapp.core import phone
from webapp.core.errors import KabarError
from webapp.intake import bulk, bulk_file, forecast, reports, templates
from webapp.models import WhatsAppTemplate
from webapp.redis_client import get_redis
from workers.pipeline import optout
from workers.queue.contracts import WENT_OUT, BulkStatus, MessageStatus

UPLOAD_KEY = "kabar:bulk-upload:{token}"
UPLOAD_TTL_S = 2 * 3600
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
PREVIEW_ROWS = 5
PHONE_COLUMNS = (
    "whatsapp",
    "wa",
    "no_wa",
    "customer_whatsapp",
    "phone",
    "telepon",
    "no_hp",
    "nomor_hp",
    "hp",
    "nomor",
    "to",
)
EMAIL_COLUMNS = ("email", "e_mail", "surel")
STATUS_LABELS = labels.BULK


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def guess(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    by_key = {_key(c): c for c in columns}
    return next((by_key[c] for c in candidates if c in by_key), None)


def _upload(token: str) -> dict[str, Any]:
    if not re.fullmatch(r"[A-Za-z0-9_\-]{10,64}", token):
        abort(404)
    stored = get_redis().get(UPLOAD_KEY.format(token=token))
    if stored is None:
        flash(_("The upload expired; upload the file again."), "error")
        abort(redirect(url_for("admin.bulk_page")))
    return json.loads(stored)


# the mapping -----------------------------------------------------------------------------------


def _mapping(upload: dict[str, Any], template: WhatsAppTemplate, form) -> dict[str, Any]:
    """Which column gives the number, the e-mail and each variable (else a fixed value)."""
    columns = upload["columns"]
    chosen = form.get("phone_column")
    mapping: dict[str, Any] = {
        "phone": chosen if chosen in columns else guess(columns, PHONE_COLUMNS) or columns[0],
        "email": form.get("email_column")
        if "email_column" in form
        else guess(columns, EMAIL_COLUMNS),
        "columns": {},
        "fixed": {},
    }
    if mapping["email"] not in columns:
        mapping["email"] = None
    by_key = {_key(c): c for c in columns}
    for name in template.variables or []:
        field = f"var.{name}"
        column = form.get(field) if field in form else by_key.get(_key(name))
        if column in columns:
            mapping["columns"][name] = column
        elif value := form.get(f"fixed.{name}", "").strip():
            mapping["fixed"][name] = value
    return mapping


def _recipient(columns: list[str], row: list[str], mapping: dict[str, Any]) -> dict[str, Any]:
    cells = dict(zip(columns, row, strict=True))
    recipient: dict[str, Any] = {
        "whatsapp": cells[mapping["phone"]].strip(),
        "data": {
            name: cells[column] for name, column in mapping["columns"].items() if cells[column]
        },
    }
    if mapping["email"] and cells[mapping["email"]].strip():
        recipient["email"] = cells[mapping["email"]].strip()
    return recipient


def _previews(upload, template, mapping) -> list[dict[str, Any]]:
    region = current_app.config["DEFAULT_REGION"]
    shown = []
    for row in upload["rows"][:PREVIEW_ROWS]:
        recipient = _recipient(upload["columns"], row, mapping)
        try:
            number, number_error = phone.normalize(recipient["whatsapp"], region).phone, None
        except KabarError as exc:
            number, number_error = None, phrases.say(exc.message)
        result = templates.preview(
            template.content, mapping["fixed"] | recipient["data"], template.type, template.extra
        )
        shown.append(
            {
                "raw": recipient["whatsapp"],
                "number": number,
                "number_error": number_error,
                "email": recipient.get("email"),
                "text": result.rendered.text,
                "missing": result.missing,
                "invalid": result.invalid,
            }
        )
    return shown


def sendable(upload, template, mapping) -> int:
    """How many rows will be sent: not those with a wrong number or a missing variable, not a
    number's second row, not a customer who opted out (bulk messages honour opt-outs)."""
    region = current_app.config["DEFAULT_REGION"]
    needed = set(template.variables or []) - set(mapping["fixed"])
    numbers: set[str] = set()
    for row in upload["rows"]:
        recipient = _recipient(upload["columns"], row, mapping)
        if needed - set(recipient["data"]):
            continue
        try:
            numbers.add(phone.normalize(recipient["whatsapp"], region).phone)
        except KabarError:
            continue
    return len(numbers - optout.opted_out_among(numbers))


# pages -----------------------------------------------------------------------------------------


# A card's bar, in order: what went out, what waits for a limit, what failed, and what was
# never to be sent. What is left of the bar is still queued.
SEGMENTS = ("sent", "held", "failed", "skipped", "invalid", "duplicate", "cancelled")


def card(job, by_status: dict[str, int], held: int, template_name: str | None) -> dict[str, Any]:
    """One bulk job as its card shows it (also the shape the page polls)."""
    report = bulk.report(job, by_status)
    shown = report["counts"]
    counts = {
        "sent": sum(shown[s] for s in WENT_OUT),
        "held": held,
        "queued": shown[MessageStatus.QUEUED] - held,
        "paused": shown[MessageStatus.PAUSED],
        "failed": shown[MessageStatus.FAILED],
        "skipped": shown.get(MessageStatus.SKIPPED, 0),
        "invalid": report["invalid"],
        "duplicate": report["duplicates"],
        "cancelled": shown[MessageStatus.CANCELLED],
    }
    total = max(job.total, 1)
    waiting = counts["queued"] + counts["held"] + counts["paused"] + report["notExpanded"]
    return {
        "jobId": job.job_id,
        "status": job.status,
        "statusLabel": str(STATUS_LABELS.get(job.status, job.status)),
        "name": _(
            "%(template)s of %(when)s",
            template=template_name or "—",
            when=local_time.format_time(job.created_at, "%d-%m-%Y %H:%M"),
        ),
        "scheduled": local_time.format_time(job.schedule_at) if job.schedule_at else None,
        "counts": counts,
        "notExpanded": report["notExpanded"],
        "bar": {key: round(100.0 * counts[key] / total, 2) for key in SEGMENTS},
        "progress": report["progress"],
        "done": waiting == 0 and job.status != BulkStatus.SCHEDULED,
        "progressLabel": _("done %(progress)s%%", progress=f"{report['progress']:g}")
        if waiting == 0 and job.status != BulkStatus.SCHEDULED
        else _("%(progress)s%% processed", progress=f"{report['progress']:g}"),
        "report": report,
    }


def _cards() -> list[dict[str, Any]]:
    jobs = bulk.list_jobs(30)
    ids = [job.id for job in jobs]
    by_job, held = bulk.counts(ids), bulk.held_counts(ids)
    names = reports.template_names()
    cards = []
    for job in jobs:
        bulk.finish_if_done(job, by_job[job.id])
        cards.append(card(job, by_job[job.id], held[job.id], names.get(job.template_id)))
    return cards


@bp.get("/bulk")
@login_required
def bulk_page(upload_error: str | None = None):
    catalogue = templates.list_templates()
    return render_template(
        "admin/bulk.html",
        cards=_cards(),
        segments=SEGMENTS,
        templates=[t for t in catalogue if t.is_active],
        status_labels=STATUS_LABELS,
        upload_error=upload_error,
    ), (422 if upload_error else 200)


@bp.get("/bulk/status.json")
def bulk_status():
    if g.admin is None:
        return jsonify(error={"code": "unauthorized", "message": "log in first"}), 401
    cards = _cards()
    for shown in cards:
        shown.pop("report")
    return jsonify(jobs=cards)


@bp.post("/bulk/upload")
@login_required
def bulk_upload():
    upload = request.files.get("csv")
    if upload is None or not upload.filename:
        return bulk_page(_("Choose a CSV or .xlsx file."))
    raw = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        return bulk_page(_("The file is over 10 MB."))
    try:
        table = bulk_file.read(raw)
    except bulk_file.UnreadableFile as exc:
        return bulk_page(exc.message)
    token = secrets.token_urlsafe(16)
    stored = {"filename": upload.filename, "columns": table.columns, "rows": table.rows}
    get_redis().set(UPLOAD_KEY.format(token=token), json.dumps(stored), ex=UPLOAD_TTL_S)
    return redirect(
        url_for("admin.bulk_new", token=token, template=request.form.get("template", ""))
    )


def _render_new(token: str, form, error: str | None = None, status: int = 200):
    upload = _upload(token)
    active = [t for t in templates.list_templates() if t.is_active]
    if not active:
        flash(_("No active template yet."), "error")
        return redirect(url_for("admin.bulk_page"))
    wanted = form.get("template") or request.args.get("template")
    template = next((t for t in active if t.name == wanted), active[0])
    mapping = _mapping(upload, template, form)
    count = sendable(upload, template, mapping)  # the forecast is about these rows, no others
    return render_template(
        "admin/bulk_new.html",
        token=token,
        upload=upload,
        templates=active,
        template=template,
        mapping=mapping,
        previews=_previews(upload, template, mapping),
        sendable=count,
        zone_label=local_time.zone_label(),
        first_rows=upload["rows"][:PREVIEW_ROWS],
        form=form,
        error=error,
        forecast=holds.forecast_text(forecast.bulk(count, template.category)),
    ), status


@bp.get("/bulk/new/<token>")
@login_required
def bulk_new(token: str):
    return _render_new(token, {})


@bp.post("/bulk/new/<token>")
@login_required
def bulk_send(token: str):
    if request.form.get("action") != "send":
        return _render_new(token, request.form)
    upload = _upload(token)
    try:
        template = templates.find_template(name=request.form.get("template", ""))
    except KabarError as exc:
        return _render_new(token, request.form, phrases.say(exc.message), 422)
    mapping = _mapping(upload, template, request.form)
    raw: dict[str, Any] = {
        "recipients": [_recipient(upload["columns"], row, mapping) for row in upload["rows"]],
        "template": template.name,
        "templateData": mapping["fixed"],
        "priority": int(p) if (p := request.form.get("priority", "1")).isdigit() else p,
    }
    if schedule_at := request.form.get("schedule_at", "").strip():
        try:
            raw["scheduleAt"] = local_time.parse_moment(schedule_at).isoformat()
        except ValueError:
            message = _("schedule: '%(value)s' is not a day and time (dd-mm-yyyy hh:mm)",
                        value=schedule_at)  # fmt: skip
            return _render_new(token, request.form, message, 400)
    if request.form.get("routing"):
        raw["routing"] = request.form["routing"]
    try:
        job = bulk.submit(bulk.parse_request(raw))
    except KabarError as exc:
        return _render_new(
            token, request.form, f"{exc.field}: {phrases.say(exc.message)}", exc.status
        )
    get_redis().delete(UPLOAD_KEY.format(token=token))
    if job.status == BulkStatus.SCHEDULED:
        flash(
            _(
                "Bulk send %(job)s: %(num)s recipients accepted (scheduled).",
                job=job.job_id,
                num=f"{job.total:,}",
            )
        )
    else:
        flash(
            _(
                "Bulk send %(job)s: %(num)s recipients accepted.",
                job=job.job_id,
                num=f"{job.total:,}",
            )
        )
    return redirect(url_for("admin.bulk_page"))


@bp.post("/bulk/<job_id>/resend-failed")
@login_required
def bulk_resend_failed(job_id: str):
    """Send every failed row of the job again (once; not those a live session host holds)."""
    try:
        resent, busy = bulk.resend_failed(job_id)
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    else:
        flash(ngettext("Bulk send %(job)s: %(num)s failed message queued again.",
                       "Bulk send %(job)s: %(num)s failed messages queued again.",
                       resent, job=job_id))  # fmt: skip
        if busy:
            flash(
                ngettext(
                    "%(num)s message is still being sent by a live session host; try again "
                    "shortly.",
                    "%(num)s messages are still being sent by a live session host; try again "
                    "shortly.",
                    busy,
                ),
                "error",
            )
    return redirect(url_for("admin.bulk_page", _anchor=job_id))


@bp.post("/bulk/<job_id>/<action>")
@login_required
def bulk_action(job_id: str, action: str):
    actions = {"pause": bulk.pause, "resume": bulk.resume, "cancel": bulk.cancel}
    if action not in actions:
        abort(404)
    try:
        job = actions[action](job_id)
    except KabarError as exc:
        flash(phrases.say(exc.message), "error")
    else:
        label = STATUS_LABELS.get(job.status, job.status)
        flash(_("Bulk send %(job)s: %(status)s.", job=job.job_id, status=label))
    return redirect(url_for("admin.bulk_page"))
